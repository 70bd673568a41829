"""Fuzzing damaged and hostile archives: a small base archive, seeded mutations of it, and the checks.

Two families of mutation.  *Raw* ones damage the bytes and leave every checksum as it was, so most
stop at the first CRC.  *CRC-fixed* ones change the directory's fields (or its bytes, the header and
footer fields, or the chunk data) and then re-serialize the container with a valid header CRC,
directory CRC and footer, so they get past the checksums into the directory's validation, the
decoders and extraction.  The (de)serializer here follows docs/FORMAT.md and shares no code with
lmarchive/container/format.py, so each checks the other.

Every case is opened, listed, extracted into a fresh folder, tested and read member by member;
only LMArchiveError may come out, nothing may be written outside the target, no temporary file may
remain, a failed extraction leaves nothing, and a passing one gives content that matches the
directory (and the base archive's content wherever the case cannot have changed it).  A case is
a pure function of (seed, case number), so any case can be rerun alone.

Shared by tests/test_fuzz.py and scripts/fuzz_archives.py (which imports this file by path).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lmarchive
from lmarchive.codec import ChunkPlan
from lmarchive.container import ContainerReader
from lmarchive.errors import ChecksumError, LMArchiveError
from lmarchive.models.registry import load_model
from lmarchive.safety import TEMP_PREFIX
from lmarchive.writing import Source, WriteCallbacks, write_archive

SEED = 20240611

# The layout, from docs/FORMAT.md.
MAGIC = b"\x89LMZ\r\n\x1a\n"
FOOTER_MAGIC = b"LMZDIR\x00\x01"
HEADER = struct.Struct("<8sHH")  # then its CRC32
FOOTER = struct.Struct("<8sQQIIHH")  # magic, directory offset, length, entry count, directory CRC, version; CRC32
HEADER_SIZE = HEADER.size + 4
FOOTER_SIZE = FOOTER.size + 4
ENTRY_FIXED = struct.Struct("<BQqIB")  # type, size, mtime_ns, mode, method
ENTRY_TAIL = struct.Struct("<QII")  # gzip size, CRC32, chunk count
CHUNK = struct.Struct("<QIIIIB")  # offset, coded length, original length, symbols, CRC32, method
FINGERPRINT_SIZE = 32
STORE, ZSTD, MODEL = 0, 1, 2
FILE, DIRECTORY = 0, 1
U32 = (1 << 32) - 1
U64 = (1 << 64) - 1


# -- the container as plain, freely mutable values --------------------------------------------


@dataclass
class Chunk:
    """One chunk record; any field may hold any value its width allows."""

    offset: int
    coded_len: int
    orig_len: int
    symbols: int
    crc: int
    method: int

    def key(self) -> tuple[int, ...]:
        return (self.offset, self.coded_len, self.orig_len, self.symbols, self.crc, self.method)


@dataclass
class Entry:
    """One directory entry with raw bytes for the name and model id, so anything can be written."""

    name: bytes
    type: int
    size: int
    mtime_ns: int
    mode: int
    method: int
    model: bytes
    fingerprint: bytes  # written only when ``model`` is not empty, as the format says
    gzip_size: int
    crc: int
    chunks: list[Chunk]
    chunk_count: int | None = None  # what the count field says; None: the true count


@dataclass
class FooterFields:
    """What the footer says where it should not say what the archive holds (None: the true value)."""

    magic: bytes = FOOTER_MAGIC
    offset: int | None = None
    length: int | None = None
    count: int | None = None
    version: tuple[int, int] | None = None


@dataclass
class Layout:
    """A whole archive: header version, chunk data, directory entries, and footer overrides."""

    version: tuple[int, int]
    data: bytearray  # the chunk data, from offset HEADER_SIZE to the directory
    entries: list[Entry]
    entry_count: int | None = None  # the directory's count field; None: the true count
    footer: FooterFields = field(default_factory=FooterFields)

    @property
    def data_end(self) -> int:
        return HEADER_SIZE + len(self.data)


def _u(value: int, bits: int) -> int:
    """Wrap a value into an unsigned field, as a careless writer would."""
    return value & ((1 << bits) - 1)


def _i64(value: int) -> int:
    return (value + (1 << 63)) % (1 << 64) - (1 << 63)


def encode_entry(entry: Entry) -> bytes:
    """The directory bytes of an entry, whatever its fields hold."""
    parts = [
        struct.pack("<H", _u(len(entry.name), 16)),
        entry.name,
        ENTRY_FIXED.pack(
            _u(entry.type, 8), _u(entry.size, 64), _i64(entry.mtime_ns), _u(entry.mode, 32), _u(entry.method, 8)
        ),
        struct.pack("<B", _u(len(entry.model), 8)),
        entry.model,
        entry.fingerprint if entry.model else b"",
        ENTRY_TAIL.pack(
            _u(entry.gzip_size, 64),
            _u(entry.crc, 32),
            _u(len(entry.chunks) if entry.chunk_count is None else entry.chunk_count, 32),
        ),
    ]
    parts.extend(
        CHUNK.pack(
            _u(c.offset, 64), _u(c.coded_len, 32), _u(c.orig_len, 32), _u(c.symbols, 32), _u(c.crc, 32), _u(c.method, 8)
        )
        for c in entry.chunks
    )
    return b"".join(parts)


def encode_directory(layout: Layout) -> bytes:
    count = len(layout.entries) if layout.entry_count is None else layout.entry_count
    return struct.pack("<I", _u(count, 32)) + b"".join(encode_entry(e) for e in layout.entries)


def assemble(layout: Layout, directory: bytes | None = None) -> bytes:
    """The archive's bytes with valid header, directory and footer CRCs (``directory``: other bytes)."""
    if directory is None:
        directory = encode_directory(layout)
    header = HEADER.pack(MAGIC, *layout.version)
    told = layout.footer
    count = len(layout.entries) if layout.entry_count is None else layout.entry_count
    footer = FOOTER.pack(
        told.magic,
        _u(layout.data_end if told.offset is None else told.offset, 64),
        _u(len(directory) if told.length is None else told.length, 64),
        _u(count if told.count is None else told.count, 32),
        zlib.crc32(directory),
        *(told.version or layout.version),
    )
    return b"".join(
        [
            header,
            struct.pack("<I", zlib.crc32(header)),
            bytes(layout.data),
            directory,
            footer,
            struct.pack("<I", zlib.crc32(footer)),
        ]
    )


def parse_layout(blob: bytes) -> Layout:
    """Read a valid archive (the base) into a Layout; no checks, the library made it."""
    _, major, minor = HEADER.unpack_from(blob)
    _, dir_offset, dir_length, _, _, _, _ = FOOTER.unpack_from(blob, len(blob) - FOOTER_SIZE)
    directory = blob[dir_offset : dir_offset + dir_length]
    (count,) = struct.unpack_from("<I", directory)
    pos = 4
    entries = []
    for _ in range(count):
        (name_len,) = struct.unpack_from("<H", directory, pos)
        name = directory[pos + 2 : pos + 2 + name_len]
        pos += 2 + name_len
        type_, size, mtime_ns, mode, method = ENTRY_FIXED.unpack_from(directory, pos)
        pos += ENTRY_FIXED.size
        model_len = directory[pos]
        model = directory[pos + 1 : pos + 1 + model_len]
        pos += 1 + model_len
        fingerprint = directory[pos : pos + FINGERPRINT_SIZE] if model_len else bytes(FINGERPRINT_SIZE)
        pos += FINGERPRINT_SIZE if model_len else 0
        gzip_size, crc, chunk_count = ENTRY_TAIL.unpack_from(directory, pos)
        pos += ENTRY_TAIL.size
        chunks = [Chunk(*CHUNK.unpack_from(directory, pos + i * CHUNK.size)) for i in range(chunk_count)]
        pos += chunk_count * CHUNK.size
        entries.append(Entry(name, type_, size, mtime_ns, mode, method, model, fingerprint, gzip_size, crc, chunks))
    return Layout((major, minor), bytearray(blob[HEADER_SIZE:dir_offset]), entries)


# -- the base archive ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownChunk:
    """A chunk of the base archive: its coded bytes, what they decode to, and with which model."""

    coded: bytes
    content: bytes
    model: bytes
    fingerprint: bytes


@dataclass(frozen=True)
class Base:
    """The archive every case starts from and what each of its chunks holds."""

    blob: bytes
    tree: dict[str, bytes | None]  # member name: content, None for a folder
    known: dict[tuple[int, ...], KnownChunk]

    @classmethod
    def from_blob(cls, blob: bytes, tree: dict[str, bytes | None]) -> Base:
        known = {}
        for entry in parse_layout(blob).entries:
            content = tree[entry.name.decode()] or b""
            start = 0
            for chunk in entry.chunks:
                coded = blob[chunk.offset : chunk.offset + chunk.coded_len]
                piece = content[start : start + chunk.orig_len]
                known[chunk.key()] = KnownChunk(coded, piece, entry.model, entry.fingerprint)
                start += chunk.orig_len
        return cls(blob, tree, known)

    def layout(self) -> Layout:
        """A fresh, mutable copy of the base's layout."""
        return parse_layout(self.blob)


def _sprinkled(rng: random.Random, size: int, count: int) -> bytes:
    """Mostly one byte with a few others: a model codes it far smaller than zstd."""
    data = bytearray(b"a" * size)
    for _ in range(count):
        data[rng.randrange(size)] = rng.choice(b"bcdefgh")
    return bytes(data)


def _text(rng: random.Random, size: int) -> bytes:
    words = b"the of and to in is archive model range coder chunk entry folder byte symbol".split()
    out = b""
    while len(out) < size:
        out += rng.choice(words) + rng.choice([b" ", b" ", b", ", b".\n"])
    return out[:size]


def build_base(folder: Path) -> Base:
    """Write the base archive in ``folder``: cm2 and cmx (fast) entries holding model, zstd and store
    chunks, zstd and store entries, folders and an empty file.

    Chunks of 128 bytes give every file of a few hundred bytes several chunks, so each case decodes
    in milliseconds and still has chunk lists to shuffle.
    """
    rng = random.Random(7)
    stamp = 1_000_000_000

    def file(name: str, content: bytes) -> Source:
        return Source(name, data=content, mtime_ns=stamp, size=len(content))

    def folder_entry(name: str) -> Source:
        return Source(name, is_dir=True, mtime_ns=stamp, mode=0o755)

    passes = [
        (
            "cm2",
            [
                folder_entry("folder"),
                file("folder/empty", b""),
                folder_entry("folder/sub"),
                file("cm2/text.txt", _text(rng, 256)),
                # zstd beats cm2 on a repeated random block, nothing beats storing random bytes
                file("cm2/mixed.bin", rng.randbytes(32) * 4 + rng.randbytes(128) + _sprinkled(rng, 60, 4)),
            ],
        ),
        # one entry: each cmx stream costs milliseconds; 128 zero bytes code to almost nothing
        ("fast", [file("cmx/mixed.bin", _text(rng, 128) + bytes(128) + rng.randbytes(60))]),
        (
            None,
            [
                file("zstd.txt", b"zstd entry, " * 20),
                file("folder/sub/random.bin", rng.randbytes(100)),  # a zstd entry of stored chunks
                file("photo.jpg", b"\xff\xd8\xff\xe0" + rng.randbytes(200)),  # looks compressed: a store entry
            ],
        ),
    ]
    path = folder / "base.lmz"
    plan = ChunkPlan(128, 128, 16)
    tree: dict[str, bytes | None] = {}
    for model, sources in passes:
        predictor = load_model(model) if model else None
        base = ContainerReader(path) if path.exists() else None
        try:
            write_archive(path, sources, predictor, WriteCallbacks(), base=base, plan=plan)
        finally:
            if base is not None:
                base.close()
        tree.update({s.arcname: None if s.is_dir else s.data for s in sources})
    return Base.from_blob(path.read_bytes(), tree)


# -- mutations ---------------------------------------------------------------------------------


@dataclass
class Case:
    """One fuzz case: the bytes to try and what a passing extraction must give for some members."""

    number: int
    kind: str
    crc_fixed: bool
    data: bytes
    expected: dict[str, bytes] = field(default_factory=dict)  # content the mutation knows it made


RAW_KINDS = (
    "bitflip", "bitflip", "chunk-bitflip", "truncate", "append", "prepend", "insert", "overwrite",
    "chunk-overwrite", "garbage", "garbage-with-header",
)  # fmt: skip


def raw_mutation(rng: random.Random, blob: bytes) -> tuple[str, bytes]:
    """Damage the bytes anywhere, checksums left as they were; returns the kind and the bytes."""
    kind = rng.choice(RAW_KINDS)
    data = bytearray(blob)
    (dir_offset,) = struct.unpack_from("<Q", blob, len(blob) - FOOTER_SIZE + 8)
    low, high = (HEADER_SIZE, dir_offset) if kind.startswith("chunk-") else (0, len(data))
    if kind.endswith("bitflip"):
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(low, high)] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        del data[rng.randrange(len(data)) :]
    elif kind == "append":
        data += rng.randbytes(rng.randint(1, 64))
    elif kind == "prepend":
        data[:0] = rng.randbytes(rng.randint(1, 64))
    elif kind == "insert":
        at = rng.randrange(len(data) + 1)
        data[at:at] = rng.randbytes(rng.randint(1, 64))
    elif kind.endswith("overwrite"):
        start = rng.randrange(low, high)
        end = min(high, start + rng.randint(1, 32))
        data[start:end] = rng.randbytes(end - start)
    elif kind == "garbage":
        data = bytearray(rng.randbytes(rng.randint(0, 2000)))
    else:  # a valid header, then garbage: gets past the first check
        header = blob[: HEADER.size]
        data = bytearray(header + struct.pack("<I", zlib.crc32(header)) + rng.randbytes(rng.randint(0, 2000)))
    return kind, bytes(data)


NAMES = (
    b"", b"/abs", b"..", b".", b"a/../b", b"../escaped", b"../../escaped", b"folder/../../escaped", b"a//b",
    b"a/", b"./a", b"C:x", b"c:", b"C:/x", b"a\\b", b"..\\x", b"a\x00b", b"\xff\xfe", b"\xc3", b"\xed\xa0\x80",
    b"\n\x1b[31mred", b"new.txt", b"folder/new.txt", b"folder/sub/deeper/new.txt", b"12:30.txt",
    "\u00fcn\u00efc\u00f6d\u00e9".encode(), b"CON", b"x" * 255, b"x" * 256, b"y/" * 200 + b"z", b"photo.jpg/inside",
    b"folder/empty/inside", b"folder", b"zstd.txt",
)  # fmt: skip
MODEL_IDS = (
    b"", b"cm2", b"cmx", b"nope", b"fast", b"default", b"cm2 ", b"cm\x01", b"\x7f", b"\xc3\xa9", b"../../etc",
    b"cmx+nope", b"a" * 255,
)  # fmt: skip


def _method_name(method: int) -> str:
    return {STORE: "store", ZSTD: "zstd", MODEL: "model"}.get(method, f"method{method}")


def known_content(
    base: Base,
    read: Callable[[int, int], bytes],
    chunks: Iterable[tuple[int, ...]],
    model: bytes,
    fingerprint: bytes,
) -> bytes | None:
    """What chunk records (keys) decode to, if each is a base chunk whose coded bytes (``read(offset,
    size)``) are in place and, for a model chunk, whose entry names the base chunk's model; else None."""
    parts = []
    for key in chunks:
        known = base.known.get(key)
        if known is None or read(key[0], key[1]) != known.coded:
            return None
        if key[5] == MODEL and (known.model, known.fingerprint) != (model, fingerprint):
            return None
        parts.append(known.content)
    return b"".join(parts)


class _Mutator:
    """Structural mutations of a Layout; each returns its kind and may record expected content."""

    def __init__(self, rng: random.Random, base: Base) -> None:
        self.rng = rng
        self.base = base
        self.layout = base.layout()
        self.expected: dict[str, bytes] = {}
        self.directory: bytes | None = None  # set by mutations of the directory's bytes

    # helpers
    def entry(self, with_chunks: bool = False) -> Entry:
        pool = [e for e in self.layout.entries if e.chunks] if with_chunks else self.layout.entries
        return self.rng.choice(pool or self.layout.entries)

    def chunk(self, accept: Callable[[Chunk], bool] = lambda c: True) -> tuple[Entry, Chunk] | None:
        """An entry and one of its chunks that passes ``accept``, or None."""
        pairs = [(e, c) for e in self.layout.entries for c in e.chunks if accept(c)]
        return self.rng.choice(pairs) if pairs else None

    def inside(self, chunk: Chunk) -> bool:
        """True if the record's coded bytes lie in the chunk data (a mutation may have moved it)."""
        return chunk.offset >= HEADER_SIZE and chunk.offset + chunk.coded_len <= self.layout.data_end

    def intact(self, chunk: Chunk) -> bool:
        """True if the record is a base chunk's and its coded bytes are still in place."""
        known = self.base.known.get(chunk.key())
        start = chunk.offset - HEADER_SIZE
        return known is not None and bytes(self.layout.data[start : start + chunk.coded_len]) == known.coded

    def content(self, entry: Entry, replaced: Chunk | None = None, piece: bytes = b"") -> bytes | None:
        """What the entry decodes to if its chunks are unchanged base chunks (``replaced`` decoding to
        ``piece``), else None."""
        data = self.layout.data
        parts = []
        for chunk in entry.chunks:
            part = (
                piece
                if chunk is replaced
                else known_content(
                    self.base,
                    lambda offset, size: bytes(data[offset - HEADER_SIZE : offset - HEADER_SIZE + size]),
                    [chunk.key()],
                    entry.model,
                    entry.fingerprint,
                )
            )
            if part is None:
                return None
            parts.append(part)
        return b"".join(parts)

    def refit(self, entry: Entry) -> None:
        """Make the entry's size (and CRC, where its content is known) agree with its chunks, so the
        case gets past the entry rules to the decoders."""
        entry.size = sum(c.orig_len for c in entry.chunks)
        content = self.content(entry)
        if content is not None:
            entry.crc = zlib.crc32(content)

    def maybe_refit(self, entry: Entry) -> str:
        if self.rng.random() < 0.6:
            self.refit(entry)
            return "+refit"
        return ""

    def pick(self, values: Iterable[int]) -> int:
        return self.rng.choice(list(values))

    # entry fields
    def name(self) -> str:
        entry = self.entry()
        others = [e.name for e in self.layout.entries if e is not entry]
        entry.name = self.rng.choice([*NAMES, self.rng.choice(others), self.rng.randbytes(self.rng.randint(1, 12))])
        return "name"

    def type(self) -> str:
        entry = self.entry()
        entry.type = self.pick([FILE, DIRECTORY, 1 - entry.type, 2, 255])
        return "type"

    def size(self) -> str:
        entry = self.entry()
        entry.size = self.pick([0, 1, entry.size - 1, entry.size + 1, 2 * entry.size, 1 << 31, 1 << 63, U64])
        return "size"

    def mtime(self) -> str:
        entry = self.entry()
        entry.mtime_ns = self.pick([-(1 << 63), (1 << 63) - 1, -1, 0, 1 << 62, -(10**18), 253402300800 * 10**9])
        return "mtime"

    def mode(self) -> str:
        entry = self.entry()
        entry.mode = self.pick([0, 0o7777, 0o10000, 0o4755, 0o1777, 0o777, 0o400, 0o100644, U32])
        return "mode"

    def method(self) -> str:
        entry = self.entry()
        entry.method = self.pick([STORE, ZSTD, MODEL, 3, 255])
        if self.rng.random() < 0.3:  # a method change with the model id it would need
            entry.model = b"cm2" if entry.method == MODEL else b""
        return "method"

    def model_id(self) -> str:
        entry = self.entry()
        entry.model = self.rng.choice(MODEL_IDS)
        if self.rng.random() < 0.5:
            entry.method = MODEL
        return "model-id"

    def fingerprint(self) -> str:
        entry = self.entry()
        others = [e.fingerprint for e in self.layout.entries if e.model and e.fingerprint != entry.fingerprint]
        choice = self.rng.randrange(4)
        if choice == 0:
            flipped = bytearray(entry.fingerprint)
            flipped[self.rng.randrange(FINGERPRINT_SIZE)] ^= 1 << self.rng.randrange(8)
            entry.fingerprint = bytes(flipped)
        elif choice == 1:
            entry.fingerprint = bytes(FINGERPRINT_SIZE)
        elif choice == 2 and others:
            entry.fingerprint = self.rng.choice(others)
        else:  # the wrong length shifts every later field
            entry.fingerprint = entry.fingerprint[: self.rng.randrange(FINGERPRINT_SIZE)]
        if not entry.model:
            entry.model = b"cm2"
        return "fingerprint"

    def gzip_size(self) -> str:
        self.entry().gzip_size = self.pick([0, 1, U64, self.rng.getrandbits(64)])
        return "gzip-size"

    def entry_crc(self) -> str:
        entry = self.entry()
        entry.crc = self.pick([0, entry.crc ^ 1, self.rng.getrandbits(32)])
        return "entry-crc"

    def chunk_count(self) -> str:
        entry = self.entry()
        n = len(entry.chunks)
        entry.chunk_count = self.pick([0, n - 1, n + 1, n + 2, 1 << 16, U32])
        return "chunk-count"

    # chunk records
    def chunk_field(self) -> str:
        picked = self.chunk()
        if picked is None:
            return self.name()
        entry, c = picked
        end = self.layout.data_end
        others = [o.offset for e in self.layout.entries for o in e.chunks if o is not c]
        name = self.rng.choice(["offset", "coded_len", "orig_len", "symbols", "crc", "method"])
        if name == "offset":
            c.offset = self.pick([0, 15, 16, c.offset - 1, c.offset + 1, self.rng.choice(others), end - 1, end, U64])
        elif name == "coded_len":
            c.coded_len = self.pick([0, 1, c.coded_len - 1, c.coded_len + 1, 2 * c.coded_len, end - c.offset, U32])
            if c.method == STORE and self.rng.random() < 0.5:
                c.orig_len = c.coded_len
        elif name == "orig_len":
            c.orig_len = self.pick(
                [0, 1, c.orig_len - 1, c.orig_len + 1, 2 * c.orig_len, 4096, 1 << 20, 1 << 24, (1 << 24) + 1, 1 << 31,
                 (1 << 31) + 1, U32]
            )  # fmt: skip
            if self.rng.random() < 0.7:  # as the method requires: reach the decoder, not the record checks
                c.symbols = c.orig_len
                if c.method == STORE:
                    c.coded_len = c.orig_len
        elif name == "symbols":
            c.symbols = self.pick([0, 1, c.symbols - 1, c.symbols + 1, c.orig_len + 1, 1 << 24, U32])
        elif name == "crc":
            c.crc = self.pick([0, c.crc ^ 1, self.rng.getrandbits(32)])
        else:
            c.method = self.pick([STORE, ZSTD, MODEL, 3, 255])
        return f"chunk-{name}{self.maybe_refit(entry)}"

    def chunk_list(self) -> str:
        entry = self.entry(with_chunks=True)
        if not entry.chunks:
            return self.name()
        chunks = entry.chunks
        how = self.rng.choice(["drop", "duplicate", "swap", "reverse", "move", "clear"])
        if how == "drop":
            del chunks[self.rng.randrange(len(chunks))]
        elif how == "duplicate":
            at = self.rng.randrange(len(chunks))
            chunks.insert(at, Chunk(*chunks[at].key()))
        elif how == "swap" and len(chunks) > 1:
            i, j = self.rng.sample(range(len(chunks)), 2)
            chunks[i], chunks[j] = chunks[j], chunks[i]
        elif how == "reverse":
            chunks.reverse()
        elif how == "move":  # to another entry, of another model or method perhaps
            other = self.entry()
            other.chunks.insert(self.rng.randint(0, len(other.chunks)), chunks.pop(self.rng.randrange(len(chunks))))
            if self.rng.random() < 0.6:
                self.refit(other)
        else:
            chunks.clear()
        return f"chunk-list-{how}{self.maybe_refit(entry)}"

    # entry list
    def entry_list(self) -> str:
        entries = self.layout.entries
        how = self.rng.choice(["drop", "duplicate", "clone", "swap", "reverse", "add-empty", "add-folder"])
        if how == "drop":
            del entries[self.rng.randrange(len(entries))]
        elif how == "duplicate":
            entries.insert(self.rng.randrange(len(entries)), self.copy(self.entry()))
        elif how == "clone":  # same chunks under another name: overlapping chunks, unless it has none
            clone = self.copy(self.entry())
            clone.name += b".copy"
            entries.append(clone)
        elif how == "swap":
            i, j = self.rng.sample(range(len(entries)), 2)
            entries[i], entries[j] = entries[j], entries[i]
        elif how == "reverse":
            entries.reverse()
        else:
            name = self.rng.choice([b"added", b"folder/added", b"photo.jpg/added", b"folder/sub/x/y", b"folder"])
            type_, mode = (FILE, 0o644) if how == "add-empty" else (DIRECTORY, 0o755)
            entries.insert(
                self.rng.randint(0, len(entries)), Entry(name, type_, 0, 0, mode, STORE, b"", bytes(32), 0, 0, [])
            )
        return f"entry-list-{how}"

    @staticmethod
    def copy(entry: Entry) -> Entry:
        return Entry(**{**entry.__dict__, "chunks": [Chunk(*c.key()) for c in entry.chunks]})

    def entry_count(self) -> str:
        n = len(self.layout.entries)
        self.layout.entry_count = self.pick([0, n - 1, n + 1, 1 << 16, U32])
        if self.rng.random() < 0.5:  # the footer agrees: only the directory's own check is left
            self.layout.footer.count = self.layout.entry_count
        return "entry-count"

    # header, footer and directory bytes
    def version(self) -> str:
        version = self.rng.choice([(1, 0), (1, 1), (1, 2), (0, 9), (2, 0), (65535, 65535)])
        if self.rng.random() < 0.8:
            self.layout.version = version
        if self.rng.random() < 0.5:
            self.layout.footer.version = self.rng.choice([version, (1, 0), (1, 1)])
        return "version"

    def footer_field(self) -> str:
        directory = encode_directory(self.layout)
        end, length = self.layout.data_end, len(directory)
        name = self.rng.choice(["magic", "offset", "length", "count"])
        if name == "magic":
            value: object = self.rng.choice([b"LMZDIR\x00\x02", b"LMZDIR\x01\x01", bytes(8), MAGIC])
        elif name == "offset":
            value = self.pick([0, 15, 16, end - 1, end + 1, end - 41, U64, U64 - 39])
        elif name == "length":
            value = self.pick([0, 3, length - 1, length + 1, U64, U64 - 39])
        else:
            value = self.pick([0, len(self.layout.entries) + 1, U32])
        setattr(self.layout.footer, name, value)
        return f"footer-{name}"

    def directory_bytes(self) -> str:
        data = bytearray(encode_directory(self.layout))
        how = self.rng.choice(["bitflip", "overwrite", "insert", "delete", "truncate", "integer"])
        at = self.rng.randrange(len(data))
        if how == "bitflip":
            for _ in range(self.rng.randint(1, 4)):
                data[self.rng.randrange(len(data))] ^= 1 << self.rng.randrange(8)
        elif how == "overwrite":
            data[at : at + self.rng.randint(1, 16)] = self.rng.randbytes(self.rng.randint(1, 16))
        elif how == "insert":
            data[at:at] = self.rng.randbytes(self.rng.randint(1, 32))
        elif how == "delete":
            del data[at : at + self.rng.randint(1, 32)]
        elif how == "truncate":
            del data[at:]
        else:  # a count or length somewhere turned hostile
            width = self.rng.choice([2, 4, 8])
            value = self.pick([0, 1, (1 << (8 * width)) - 1, 1 << (8 * width - 1)])
            data[at : at + width] = value.to_bytes(width, "little")
        self.directory = bytes(data)
        return f"directory-{how}"

    # chunk data
    def chunk_bytes(self) -> str:
        """Damage one chunk's coded bytes; the container's checksums do not cover them."""
        picked = self.chunk(lambda c: c.coded_len > 0 and self.inside(c))
        if picked is None:
            return self.chunk_area()
        _, c = picked
        start, end = c.offset - HEADER_SIZE, c.offset - HEADER_SIZE + c.coded_len
        how = self.rng.choice(["bitflip", "overwrite", "zero", "ones"])
        if how == "bitflip":
            self.layout.data[self.rng.randrange(start, end)] ^= 1 << self.rng.randrange(8)
        elif how == "overwrite":
            at = self.rng.randrange(start, end)
            stop = min(end, at + self.rng.randint(1, 8))
            self.layout.data[at:stop] = self.rng.randbytes(stop - at)
        else:
            self.layout.data[start:end] = (b"\x00" if how == "zero" else b"\xff") * (end - start)
        return f"chunk-bytes-{how}-{_method_name(c.method)}"

    def chunk_area(self) -> str:
        """Insert or delete bytes in the chunk data: every later chunk's bytes move."""
        data = self.layout.data
        at = self.rng.randrange(len(data))
        if self.rng.random() < 0.5:
            data[at:at] = self.rng.randbytes(self.rng.randint(1, 16))
            return "chunk-area-insert"
        del data[at : at + self.rng.randint(1, 16)]
        return "chunk-area-delete"

    def store_rewrite(self) -> str:
        """New bytes in a stored chunk with every CRC made to match: it must extract as the new bytes."""
        picked = self.chunk(lambda c: c.method == STORE and self.intact(c))
        if picked is None:
            return self.chunk_bytes()
        entry, c = picked
        start = c.offset - HEADER_SIZE
        new = self.rng.randbytes(c.coded_len)
        self.layout.data[start : start + c.coded_len] = new
        c.crc = zlib.crc32(new)
        content = self.content(entry, c, new)
        if content is not None:
            entry.crc = zlib.crc32(content)
            self.expected[entry.name.decode(errors="replace")] = content
        return "store-rewrite"

    def prefix(self) -> str:
        """Cut a chunk down to a prefix, lengths and CRCs fixed: a model or stored chunk then decodes to
        the prefix of its content (a zstd frame must be refused: it holds more)."""
        picked = self.chunk(lambda c: c.orig_len > 1 and self.intact(c))
        if picked is None:
            return self.chunk_field()
        entry, c = picked
        k = self.rng.randint(1, c.orig_len - 1)
        piece = self.base.known[c.key()].content[:k]
        c.orig_len = c.symbols = k
        if c.method == STORE:
            c.coded_len = k
        c.crc = zlib.crc32(piece)
        entry.size = sum(x.orig_len for x in entry.chunks)
        content = self.content(entry, c, piece)
        if content is not None:
            entry.crc = zlib.crc32(content)
            if c.method != ZSTD:
                self.expected[entry.name.decode(errors="replace")] = content
        return f"prefix-{_method_name(c.method)}"

    def length_bomb(self) -> str:
        """A model chunk claims far more symbols than its bytes can hold; size fixed, so it is decoded."""
        picked = self.chunk(lambda c: c.method == MODEL)
        if picked is None:
            return self.chunk_field()
        entry, c = picked
        c.orig_len = c.symbols = self.pick([1 << 12, 1 << 16, 1 << 20, 1 << 24])
        entry.size = sum(x.orig_len for x in entry.chunks)
        if self.rng.random() < 0.15:  # a 1.0 archive: its streams were not yet bounded
            self.layout.version = (1, 0)
        return "length-bomb"


_STRUCTURAL: tuple[tuple[Callable[[_Mutator], str], int], ...] = (
    (_Mutator.name, 6),
    (_Mutator.type, 3),
    (_Mutator.size, 3),
    (_Mutator.mtime, 2),
    (_Mutator.mode, 2),
    (_Mutator.method, 3),
    (_Mutator.model_id, 3),
    (_Mutator.fingerprint, 2),
    (_Mutator.gzip_size, 1),
    (_Mutator.entry_crc, 2),
    (_Mutator.chunk_count, 2),
    (_Mutator.chunk_field, 12),
    (_Mutator.chunk_list, 6),
    (_Mutator.entry_list, 5),
    (_Mutator.entry_count, 2),
    (_Mutator.version, 2),
    (_Mutator.footer_field, 3),
    (_Mutator.store_rewrite, 2),
    (_Mutator.prefix, 4),
    (_Mutator.length_bomb, 2),
)
_BYTES: tuple[tuple[Callable[[_Mutator], str], int], ...] = (
    (_Mutator.directory_bytes, 8),
    (_Mutator.chunk_bytes, 8),
    (_Mutator.chunk_area, 2),
)
_ALL = _STRUCTURAL + _BYTES


def _choose(rng: random.Random, table: tuple[tuple[Callable[[_Mutator], str], int], ...]) -> Callable[[_Mutator], str]:
    return rng.choices([f for f, _ in table], weights=[w for _, w in table])[0]


def make_case(base: Base, seed: int, number: int, crc_fixed_share: float) -> Case:
    """Case ``number`` of the campaign ``seed``: the same bytes every time, whatever else runs."""
    rng = random.Random(f"{seed}/{number}")
    if rng.random() >= crc_fixed_share:
        kind, data = raw_mutation(rng, base.blob)
        return Case(number, f"raw-{kind}", False, data)
    mutator = _Mutator(rng, base)
    if rng.random() < 0.15:  # several at once, ending with at most one byte-level damage
        steps = [_choose(rng, _STRUCTURAL) for _ in range(rng.randint(2, 3))]
        if rng.random() < 0.3:
            steps.append(_choose(rng, _BYTES))
        for step in steps:
            step(mutator)
        kind = "multi"
    else:
        kind = _choose(rng, _ALL)(mutator)
    data = assemble(mutator.layout, mutator.directory)
    return Case(number, kind, True, data, mutator.expected)


# -- running a case ----------------------------------------------------------------------------


@dataclass
class CaseResult:
    """What happened to one case; ``unexpected`` and ``problems`` are failures of the library."""

    number: int
    kind: str
    crc_fixed: bool
    seconds: float = 0.0
    outcome: str = "rejected"  # rejected at open, extract-failed, or extracted
    errors: list[str] = field(default_factory=list)  # "stage ErrorType"
    container_crc_failed: bool = False
    interrupted: bool = False  # still running at the time limit
    unexpected: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class CaseTimeout(BaseException):
    """Raised into a case that runs past its time limit; not an Exception, so nothing takes it for an error."""


@contextlib.contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (where the platform has interval timers), so a decode-time
    bomb costs one case's limit rather than stalling the campaign; the library's cleanup still runs."""
    if not seconds or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise CaseTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _Run:
    """Runs the library's operations on one case, recording each outcome."""

    def __init__(self, result: CaseResult) -> None:
        self.result = result
        self.current = ""

    def stage(self, stage: str, action: Callable[[], Any]) -> tuple[bool, Any]:
        """``(True, value)``, or ``(False, None)`` after recording the exception."""
        self.current = stage
        try:
            return True, action()
        except LMArchiveError as exc:
            self.result.errors.append(f"{stage} {type(exc).__name__}")
            if stage == "open" and isinstance(exc, ChecksumError):
                self.result.container_crc_failed = True
            return False, None
        except Exception as exc:  # the failure the fuzzing is for: report it, run on
            self.result.unexpected.append(f"{stage}: {type(exc).__name__}: {exc}"[:300])
            return False, None


def _unlock(root: Path) -> None:
    """Give extracted files back the permissions needed to read and delete them (a case may set 0)."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(dirpath, name), 0o700)
        for name in filenames:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(dirpath, name), 0o600)


def _snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root``: file content, None for a folder, ``b"link:..."`` for a link."""
    found: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[rel] = b"link:" + os.readlink(path).encode()
            else:
                found[rel] = None if path.is_dir() else path.read_bytes()
    return found


def _content_problem(entry_name: str, data: bytes, size: int, crc: int, expected: bytes | None) -> str | None:
    if len(data) != size or zlib.crc32(data) != crc:
        return f"{entry_name!r}: {len(data)} bytes, CRC {zlib.crc32(data):08x}; the directory says {size}, {crc:08x}"
    if expected is not None and data != expected:
        return f"{entry_name!r}: passed its checksums but differs from the content it must have"
    return None


def run_case(base: Base, case: Case, root: Path, time_limit: float | None = None) -> CaseResult:
    """Try one case in ``root`` (a folder only this campaign uses) and check what it left behind;
    a case still running after ``time_limit`` seconds is interrupted and reported."""
    result = CaseResult(case.number, case.kind, case.crc_fixed)
    archive_dir, work = root / "archive", root / "case"
    archive_dir.mkdir(parents=True, exist_ok=True)
    archive = archive_dir / "case.lmz"
    archive.write_bytes(case.data)
    work.mkdir()
    target = work / "out"
    run = _Run(result)
    extracted = tested = False
    reads: dict[str, bytes] = {}
    started = time.perf_counter()
    opened = False
    try:
        with _time_limit(time_limit):
            opened, lmz = run.stage("open", lambda: lmarchive.open(archive))
            if opened:
                with lmz:
                    listed, infos = run.stage("list", lmz.infolist)
                    if listed and [i.name for i in infos] != lmz.namelist():
                        result.problems.append("namelist() and infolist() disagree")
                    extracted, _ = run.stage("extract", lambda: lmz.extractall(target))
                    tested, _ = run.stage("test", lmz.test)
                    for info in infos or ():
                        stage = "read-folder" if info.is_dir() else "read"
                        ok, data = run.stage(stage, lambda info=info: lmz.read(info.name))
                        if ok and not info.is_dir():
                            reads[info.name] = data
    except CaseTimeout:
        extracted = tested = False
        result.interrupted = True
        result.problems.append(f"interrupted after {time_limit} s in {run.current}")
    result.seconds = time.perf_counter() - started
    result.outcome = "extracted" if extracted else "extract-failed" if opened else "rejected"
    _check_leftovers(result, root, target, extracted)
    if opened and (extracted or reads):
        _check_content(result, base, case, archive, target if extracted else None, reads)
    if extracted and not tested:
        result.problems.append("extractall() passed, test() failed")
    decode_errors = {f"extract {name}" for name in ("FormatError", "ChecksumError", "ModelError")}
    if tested and decode_errors & set(result.errors):  # extraction may still fail on the filesystem (a long name)
        result.problems.append("test() passed, extractall() found the data bad")
    _unlock(work)
    shutil.rmtree(work)
    return result


def _check_leftovers(result: CaseResult, root: Path, target: Path, extracted: bool) -> None:
    """Nothing outside the target, no temporary file anywhere, and nothing at all after a failure."""
    if sorted(os.listdir(root)) != ["archive", "case"] or os.listdir(root / "archive") != ["case.lmz"]:
        result.problems.append(f"wrote outside its target: {sorted(os.listdir(root))}")
    if os.listdir(target.parent) not in ([], ["out"]):
        result.problems.append(f"wrote beside its target: {sorted(os.listdir(target.parent))}")
    partial = sorted(str(p.relative_to(root)) for p in root.rglob(f"{TEMP_PREFIX}*"))
    if partial:
        result.problems.append(f"left temporary files {partial}")
    if not extracted and target.exists():
        _unlock(target)
        result.problems.append(f"a failed extraction left {sorted(_snapshot(target))}")


def _check_content(
    result: CaseResult, base: Base, case: Case, archive: Path, target: Path | None, reads: dict[str, bytes]
) -> None:
    """Extracted files and read() results must match the directory, and the content the case must have."""
    try:
        with ContainerReader(archive) as reader:
            entries = reader.entries
    except LMArchiveError as exc:
        result.problems.append(f"lmarchive.open() accepted it, ContainerReader did not: {exc}")
        return
    found: dict[str, bytes | None] = {}
    if target is not None:
        _unlock(target)
        found = _snapshot(target)
    wanted_paths: set[str] = set()
    for entry in entries:
        parents = entry.name.split("/")[:-1]
        wanted_paths.update("/".join(parents[: i + 1]) for i in range(len(parents)))
        wanted_paths.add(entry.name)
        if entry.is_dir:
            if target is not None and (entry.name not in found or found[entry.name] is not None):
                result.problems.append(f"folder {entry.name!r} was not extracted as a folder")
            continue
        keys = [(c.offset, c.coded_len, c.orig_len, c.symbols, c.crc32, int(c.method)) for c in entry.chunks]
        in_place = known_content(
            base, lambda offset, size: case.data[offset : offset + size], keys, entry.model.encode(), entry.fingerprint
        )
        expected = case.expected.get(entry.name, in_place)
        outputs = [("read", reads.get(entry.name))]
        if target is not None:
            if entry.name not in found or found[entry.name] is None:
                result.problems.append(f"file {entry.name!r} was not extracted as a file")
                continue
            outputs.append(("extracted", found[entry.name]))
        for how, data in outputs:
            if data is not None:
                problem = _content_problem(entry.name, data, entry.size, entry.crc32, expected)
                if problem is not None:
                    result.problems.append(f"{how} {problem}")
    extra = sorted(set(found) - wanted_paths)
    if extra:
        result.problems.append(f"extraction made paths no entry names: {extra[:5]}")


# -- campaigns ---------------------------------------------------------------------------------


@dataclass
class Report:
    """Counts over many cases; reports of separate runs add up with ``merge``."""

    cases: int = 0
    crc_fixed: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, outcome)
    errors: Counter[str] = field(default_factory=Counter)  # "stage ErrorType", once per case
    container_crc_failures: int = 0  # CRC-fixed cases refused for a header, footer or directory checksum
    unexpected: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    slowest: list[tuple[float, int, str]] = field(default_factory=list)  # (seconds, case, kind)
    slowest_finished: list[tuple[float, int, str]] = field(default_factory=list)  # of those not interrupted
    seconds: float = 0.0

    def add(self, result: CaseResult) -> None:
        self.cases += 1
        self.crc_fixed += result.crc_fixed
        self.kinds[result.kind] += 1
        self.outcomes[result.kind, result.outcome] += 1
        self.errors.update(set(result.errors))
        self.container_crc_failures += result.crc_fixed and result.container_crc_failed
        where = f"case {result.number} ({result.kind})"
        self.unexpected.extend(f"{where}: {text}" for text in result.unexpected)
        self.problems.extend(f"{where}: {text}" for text in result.problems)
        self.seconds += result.seconds
        timing = (result.seconds, result.number, result.kind)
        self.slowest = sorted([*self.slowest, timing], reverse=True)[:10]
        if not result.interrupted:
            self.slowest_finished = sorted([*self.slowest_finished, timing], reverse=True)[:10]

    def merge(self, other: Report) -> None:
        self.cases += other.cases
        self.crc_fixed += other.crc_fixed
        self.kinds += other.kinds
        self.outcomes += other.outcomes
        self.errors += other.errors
        self.container_crc_failures += other.container_crc_failures
        self.unexpected += other.unexpected
        self.problems += other.problems
        self.seconds += other.seconds
        self.slowest = sorted(self.slowest + other.slowest, reverse=True)[:10]
        self.slowest_finished = sorted(self.slowest_finished + other.slowest_finished, reverse=True)[:10]

    def outcome_total(self, outcome: str, *, crc_fixed: bool = True) -> int:
        """Cases of one outcome, over the CRC-fixed kinds (or the raw ones)."""
        return sum(n for (kind, o), n in self.outcomes.items() if o == outcome and kind.startswith("raw-") != crc_fixed)


def run_campaign(
    base: Base, seed: int, numbers: Iterable[int], crc_fixed_share: float, root: Path, time_limit: float | None = None
) -> Report:
    """Run the given cases of campaign ``seed`` one after another in ``root``."""
    report = Report()
    root.mkdir(parents=True, exist_ok=True)
    for number in numbers:
        report.add(run_case(base, make_case(base, seed, number, crc_fixed_share), root, time_limit))
    return report


def format_report(report: Report, seed: int) -> str:
    """The counts, in lines for a terminal or a test log."""
    lines = [
        f"fuzz seed {seed}: {report.cases} cases ({report.crc_fixed} CRC-fixed), {report.seconds:.1f} s in cases",
        f"{'kind':<34}{'cases':>7}{'rejected':>10}{'failed':>8}{'extracted':>11}",
    ]
    for kind in sorted(report.kinds):
        row = [report.outcomes[kind, o] for o in ("rejected", "extract-failed", "extracted")]
        lines.append(f"{kind:<34}{report.kinds[kind]:>7}{row[0]:>10}{row[1]:>8}{row[2]:>11}")
    lines.append("errors (stage, type: cases): " + ", ".join(f"{k}: {v}" for k, v in sorted(report.errors.items())))
    lines.append(f"CRC-fixed cases refused by a container checksum: {report.container_crc_failures}")
    for title, timings in (("slowest", report.slowest), ("slowest not interrupted", report.slowest_finished)):
        lines.append(
            f"{title}: " + ", ".join(f"{sec:.3f} s case {number} ({kind})" for sec, number, kind in timings[:5])
        )
    lines.append(f"unexpected exceptions: {len(report.unexpected)}; other failures: {len(report.problems)}")
    for failures in (report.unexpected, report.problems):
        lines.extend(f"  {text}" for text in failures[:50])
        if len(failures) > 50:
            lines.append(f"  ... and {len(failures) - 50} more")
    return "\n".join(lines)
