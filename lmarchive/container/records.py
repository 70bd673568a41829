"""Directory records of an .lmz archive and the rules every record must obey.

The writer and the reader run the same checks, so a caller bug cannot produce an archive that
the reader would reject, and a corrupt or hostile archive is refused before anything trusts it.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from lmarchive.errors import FormatError, UnsafePathError

MAX_NAME_BYTES = 0xFFFF
MAX_MODEL_ID_BYTES = 0xFF
MAX_CHUNK_ORIG_LEN = 1 << 31
FINGERPRINT_SIZE = 32

_U32_MAX = (1 << 32) - 1
_U64_MAX = (1 << 64) - 1
_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_NO_FINGERPRINT = bytes(FINGERPRINT_SIZE)


class EntryType(enum.IntEnum):
    """What an entry is; a reader rejects values it does not know rather than guess."""

    FILE = 0
    DIRECTORY = 1


class Method(enum.IntEnum):
    """How an entry's chunks were coded; the container itself never decodes them."""

    STORE = 0
    ZSTD = 1
    MODEL = 2


_TYPES = frozenset(EntryType)
_METHODS = frozenset(Method)


@dataclass(frozen=True)
class ChunkRecord:
    """Where one coded chunk lies in the archive, and what decoding it must give back."""

    offset: int
    coded_len: int
    orig_len: int
    symbols: int
    crc32: int
    method: Method = Method.STORE
    """How this chunk is coded: the entry's method, or a cheaper one where that was smaller."""


@dataclass(frozen=True)
class EntryRecord:
    """One member as the directory describes it; the data lives in its chunks."""

    name: str
    type: EntryType
    size: int
    mtime_ns: int
    mode: int
    method: Method = Method.STORE
    model: str = ""
    fingerprint: bytes = _NO_FINGERPRINT
    gzip_size: int = 0
    crc32: int = 0
    chunks: tuple[ChunkRecord, ...] = ()

    @property
    def packed(self) -> int:
        """Bytes this entry occupies in the archive, for the listing's ratio column."""
        return sum(chunk.coded_len for chunk in self.chunks)

    @property
    def is_dir(self) -> bool:
        """True for directory entries, which carry no data."""
        return self.type == EntryType.DIRECTORY


def show(name: str) -> str:
    """Quote a (possibly hostile) name for a one-line error message."""
    text = repr(name)
    return text if len(text) <= 80 else text[:76] + "...'"


def validate_name(name: str) -> str:
    """Return ``name`` if extracting it cannot escape the destination; else raise UnsafePathError."""
    reason = name_problem(name)
    if reason is not None:
        raise UnsafePathError(f"unsafe member name {show(name)}: {reason}")
    return name


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a safe relative member name, or None."""
    if not isinstance(name, str) or not name:
        return "it is empty"
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid UTF-8"
    if len(encoded) > MAX_NAME_BYTES:
        return f"it is longer than {MAX_NAME_BYTES} bytes"
    if name.startswith("/"):
        return "it is an absolute path"
    if "\\" in name:
        return "it contains a backslash"
    if "\0" in name:
        return "it contains a NUL character"
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "it has an empty, '.' or '..' component"
    if any(_looks_like_drive(part) for part in parts):
        return "it contains a Windows drive prefix"
    return None


def _looks_like_drive(part: str) -> bool:
    """'C:' or 'C:x': joined onto a path on Windows it would switch drives."""
    return len(part) >= 2 and part[1] == ":" and part[0].isascii() and part[0].isalpha()


def _fits(value: object, low: int, high: int) -> bool:
    """True if ``value`` is an int the binary field can hold (bool and floats excluded)."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def chunk_problem(chunk: ChunkRecord) -> str | None:
    """Why a chunk record cannot be stored, or None; method-specific rules are in check_entry."""
    if not _fits(chunk.offset, 0, _U64_MAX):
        return f"offset {chunk.offset!r} out of range"
    if not _fits(chunk.coded_len, 0, _U32_MAX):
        return f"coded length {chunk.coded_len!r} out of range"
    if not _fits(chunk.orig_len, 1, MAX_CHUNK_ORIG_LEN):
        return f"original length {chunk.orig_len!r} is not in 1..{MAX_CHUNK_ORIG_LEN}"
    if not _fits(chunk.symbols, 0, _U32_MAX):
        return f"symbol count {chunk.symbols!r} out of range"
    if not _fits(chunk.crc32, 0, _U32_MAX):
        return f"CRC32 {chunk.crc32!r} out of range"
    return None


def check_entry(entry: EntryRecord) -> None:
    """Raise UnsafePathError for a bad name, FormatError for any other rule the entry breaks."""
    validate_name(entry.name)
    problem = _entry_problem(entry)
    if problem is not None:
        raise FormatError(f"entry {show(entry.name)}: {problem}")


def _entry_problem(entry: EntryRecord) -> str | None:
    """Why the entry's fields break the format, or None."""
    if not _fits(entry.type, 0, 0xFF) or entry.type not in _TYPES:
        return f"unknown entry type {entry.type!r}"
    if not _fits(entry.method, 0, 0xFF) or entry.method not in _METHODS:
        return f"unknown coding method {entry.method!r}"
    if not _fits(entry.size, 0, _U64_MAX):
        return f"size {entry.size!r} out of range"
    if not _fits(entry.mtime_ns, _I64_MIN, _I64_MAX):
        return f"mtime {entry.mtime_ns!r} out of range"
    if not _fits(entry.mode, 0, 0o7777):
        return f"mode {entry.mode!r} is not a set of permission bits (0..0o7777)"
    if not _fits(entry.gzip_size, 0, _U64_MAX) or not _fits(entry.crc32, 0, _U32_MAX):
        return "gzip size or CRC32 out of range"
    model_problem = _model_problem(entry)
    if model_problem is not None:
        return model_problem
    if entry.type == EntryType.DIRECTORY and (
        entry.size or entry.chunks or entry.method != Method.STORE or entry.crc32 or entry.gzip_size
    ):
        return "a directory must have size, CRC32 and gzip size 0, no chunks and method store"
    if entry.size == 0 and entry.crc32 != 0:
        return "an empty entry must have CRC32 0"
    if len(entry.chunks) > _U32_MAX:
        return "too many chunks"
    for index, chunk in enumerate(entry.chunks):
        problem = _chunk_problem_for(entry.method, chunk)
        if problem is not None:
            return f"chunk {index}: {problem}"
    total = sum(chunk.orig_len for chunk in entry.chunks)
    if total != entry.size:
        return f"chunks hold {total} bytes but the size is {entry.size}"
    return None


def _model_problem(entry: EntryRecord) -> str | None:
    """A model id and fingerprint are present exactly when the method is model."""
    model = entry.model
    if not isinstance(model, str) or not (model.isascii() and model.isprintable()):
        return "model id must be printable ASCII"
    if len(model) > MAX_MODEL_ID_BYTES:
        return f"model id is longer than {MAX_MODEL_ID_BYTES} bytes"
    fingerprint = entry.fingerprint
    if not isinstance(fingerprint, bytes) or len(fingerprint) != FINGERPRINT_SIZE:
        return f"fingerprint must be {FINGERPRINT_SIZE} bytes"
    if entry.method == Method.MODEL:
        return None if model else "method model needs a model id"
    if model or fingerprint != _NO_FINGERPRINT:
        return "only method model may name a model or fingerprint"
    return None


def _chunk_problem_for(method: Method, chunk: ChunkRecord) -> str | None:
    """Field ranges, the chunk's method against the entry's, and what store and zstd imply."""
    problem = chunk_problem(chunk)
    if problem is not None:
        return problem
    if chunk.method not in _METHODS:
        return f"unknown chunk method {chunk.method!r}"
    if chunk.method > method:
        return f"a {Method(chunk.method).name.lower()} chunk is not allowed in an entry of method {method.name.lower()}"
    if chunk.method == Method.STORE and chunk.coded_len != chunk.orig_len:
        return "a stored chunk's coded length must equal its original length"
    if chunk.method != Method.MODEL and chunk.symbols != chunk.orig_len:
        return "the symbol count must equal the original length unless the method is model"
    return None


def check_tree(entries: Sequence[EntryRecord]) -> None:
    """Reject duplicate names and members inside a file, so extraction never meets either."""
    names = sorted(entry.name for entry in entries)
    for previous, current in pairwise(names):
        if previous == current:
            raise FormatError(f"duplicate member name {show(current)}")
    for name in (entry.name for entry in entries if entry.type == EntryType.FILE):
        prefix = name + "/"
        index = bisect.bisect_left(names, prefix)
        if index < len(names) and names[index].startswith(prefix):
            raise FormatError(f"member {show(names[index])} lies inside the file {show(name)}")
