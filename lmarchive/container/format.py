"""Byte layout of the .lmz container: header, chunk data, central directory, footer.

docs/FORMAT.md is the normative description.  This module moves opaque coded chunks in and
out and never decodes them; listing an archive reads only its header and its tail.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections import Counter
from collections.abc import Iterator
from itertools import chain
from types import TracebackType
from typing import BinaryIO, Protocol, Self

from lmarchive.container.records import (
    ChunkRecord,
    EntryRecord,
    EntryType,
    Method,
    check_entry,
    check_tree,
    chunk_problem,
    show,
)
from lmarchive.errors import AccessError, ChecksumError, FormatError, UnsafePathError
from lmarchive.files import NotARegularFile, open_regular

MAGIC = b"\x89LMZ\r\n\x1a\n"
FOOTER_MAGIC = b"LMZDIR\x00\x01"
RECOVERY_MAGIC = b"LMZREC\x00\x01"
"""Starts a recovery record: a copy of one entry, after its chunks, for salvaging a truncated archive."""
MAX_RECOVERY_ENTRY = 16 << 20
"""Longest entry a recovery record may hold (a salvage scan reads no more for one record)."""
FORMAT_VERSION = (1, 1)
"""The newest version this program reads and writes."""
READ_VERSIONS = frozenset({(1, 0), (1, 1)})
BOUNDED_STREAMS = (1, 1)
"""From this version on, a model chunk's range coder never reads more than 8 bytes past its data."""

_HEADER_BODY = struct.Struct("<8sHH")  # magic, version major, version minor
_FOOTER_BODY = struct.Struct("<8sQQIIHH")  # magic, dir offset, dir length, count, dir CRC, version
_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_ENTRY_FIXED = struct.Struct("<BQqIB")  # type, size, mtime_ns, mode, method
_FINGERPRINT = struct.Struct("<32s")  # only present when the entry names a model
_ENTRY_TAIL = struct.Struct("<QII")  # gzip size, CRC32, chunk count
_CHUNK = struct.Struct("<QIIIIB")  # offset, coded length, original length, symbols, CRC32, method

HEADER_SIZE = _HEADER_BODY.size + _U32.size  # 16
FOOTER_SIZE = _FOOTER_BODY.size + _U32.size  # 40
_MIN_ENTRY_SIZE = _U16.size + _ENTRY_FIXED.size + _U8.size + _ENTRY_TAIL.size
# What malformed bytes can make the standard library raise; none may escape the reader.
_PARSE_ERRORS = (struct.error, UnicodeDecodeError, IndexError, OverflowError, ValueError, MemoryError)


def _with_crc(body: bytes) -> bytes:
    """Append the CRC32 that protects a fixed-size header or footer body."""
    return body + _U32.pack(zlib.crc32(body))


def _check_version(major: int, minor: int) -> None:
    """A reader refuses a version it does not know rather than ignore fields it does not understand."""
    if (major, minor) > FORMAT_VERSION:
        raise FormatError(f"archive format version {major}.{minor} is newer than this program supports")
    if (major, minor) not in READ_VERSIONS:
        raise FormatError(f"archive format version {major}.{minor} is not supported")


def parse_header(data: bytes) -> tuple[int, int]:
    """Check the 16-byte header (``data`` may be shorter if the file is); return the version."""
    if data[: len(MAGIC)] != MAGIC:
        if MAGIC.startswith(data):
            raise FormatError(f"truncated archive: the file is only {len(data)} bytes long")
        if data[:4] == MAGIC[:4]:
            raise FormatError("not an .lmz archive (its signature is damaged, as by a text-mode transfer)")
        raise FormatError("not an .lmz archive")
    if len(data) < HEADER_SIZE:
        raise FormatError(f"truncated archive: the file is only {len(data)} bytes long")
    _, major, minor = _HEADER_BODY.unpack_from(data)
    (crc,) = _U32.unpack_from(data, _HEADER_BODY.size)
    if zlib.crc32(data[: _HEADER_BODY.size]) != crc:
        raise ChecksumError("header checksum mismatch: the archive is damaged")
    _check_version(major, minor)
    return major, minor


class _Cursor:
    """Sequential reads from the directory bytes, each bounds-checked with a useful message."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def remaining(self) -> int:
        """Bytes not read yet."""
        return len(self._data) - self._pos

    def take(self, size: int, what: str) -> bytes:
        """The next ``size`` bytes, or FormatError naming ``what`` if the directory ends first."""
        if size > self.remaining:
            raise FormatError(f"damaged directory: it ends inside {what}")
        start = self._pos
        self._pos += size
        return self._data[start : self._pos]

    def unpack(self, layout: struct.Struct, what: str) -> tuple[int, ...]:
        """The next fixed-size record."""
        return layout.unpack(self.take(layout.size, what))


def _parse_entry(cur: _Cursor, index: int, data_end: int) -> EntryRecord:
    """Decode and check directory entry number ``index``; chunks must lie before ``data_end``."""
    where = f"entry {index}"
    (name_len,) = cur.unpack(_U16, where)
    raw_name = cur.take(name_len, where)
    try:
        name = raw_name.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError(f"entry {index}: its name is not valid UTF-8") from None
    where = f"entry {show(name)}"
    type_, size, mtime_ns, mode, method = cur.unpack(_ENTRY_FIXED, where)
    (model_len,) = cur.unpack(_U8, where)
    raw_model = cur.take(model_len, where)
    fingerprint = cur.take(_FINGERPRINT.size, where) if model_len else bytes(_FINGERPRINT.size)
    gzip_size, crc, chunk_count = cur.unpack(_ENTRY_TAIL, where)
    if chunk_count * _CHUNK.size > cur.remaining:
        raise FormatError(f"{where}: {chunk_count} chunks do not fit in the directory")
    table = cur.take(chunk_count * _CHUNK.size, where)
    try:
        chunks = tuple(
            ChunkRecord(offset, coded_len, orig_len, symbols, crc32, Method(method))
            for offset, coded_len, orig_len, symbols, crc32, method in _CHUNK.iter_unpack(table)
        )
    except ValueError:
        raise FormatError(f"{where}: a chunk has an unknown coding method") from None
    try:
        entry_type = EntryType(type_)
    except ValueError:
        raise FormatError(f"{where}: unknown entry type {type_}") from None
    try:
        entry_method = Method(method)
    except ValueError:
        raise FormatError(f"{where}: unknown coding method {method}") from None
    if not raw_model.isascii():
        raise FormatError(f"{where}: model id is not ASCII")
    entry = EntryRecord(
        name=name,
        type=entry_type,
        size=size,
        mtime_ns=mtime_ns,
        mode=mode,
        method=entry_method,
        model=raw_model.decode("ascii"),
        fingerprint=fingerprint,
        gzip_size=gzip_size,
        crc32=crc,
        chunks=chunks,
    )
    try:
        check_entry(entry)
    except UnsafePathError as exc:
        raise FormatError(f"entry {index}: {exc}") from None
    for number, chunk in enumerate(chunks):
        if chunk.offset < HEADER_SIZE or chunk.offset + chunk.coded_len > data_end:
            raise FormatError(f"{where}: chunk {number} lies outside the archive's chunk data")
    return entry


def encode_recovery(entry: EntryRecord) -> bytes:
    """A recovery record for ``entry``: magic, length, the entry's directory bytes, CRC32 of all that."""
    body = _encode_entry(entry)
    head = RECOVERY_MAGIC + _U32.pack(len(body))
    return _with_crc(head + body)


RECOVERY_HEAD = len(RECOVERY_MAGIC) + _U32.size
"""Bytes of a recovery record before its entry: the magic, then the entry's length (u32)."""


def recovery_length(head: bytes) -> int:
    """The whole length of the recovery record that starts with ``head`` (RECOVERY_HEAD bytes)."""
    (length,) = _U32.unpack_from(head, len(RECOVERY_MAGIC))
    return RECOVERY_HEAD + length + _U32.size


def parse_recovery(record: bytes, offset: int) -> EntryRecord:
    """The entry in the recovery ``record`` found at ``offset``; FormatError if it is not a sound one
    (a wrong CRC, a damaged entry, or chunks that do not all lie before the record)."""
    short = len(record) < RECOVERY_HEAD + _U32.size
    if short or record[: len(RECOVERY_MAGIC)] != RECOVERY_MAGIC or len(record) != recovery_length(record):
        raise FormatError(f"recovery record at offset {offset}: damaged")
    if _with_crc(record[: -_U32.size]) != record:
        raise ChecksumError(f"recovery record at offset {offset}: checksum mismatch")
    cur = _Cursor(record[RECOVERY_HEAD : -_U32.size])
    try:
        entry = _parse_entry(cur, 0, offset)
    except _PARSE_ERRORS as exc:
        raise FormatError(f"recovery record at offset {offset}: damaged ({type(exc).__name__})") from exc
    if cur.remaining:
        raise FormatError(f"recovery record at offset {offset}: {cur.remaining} unexpected bytes after the entry")
    return entry


def _parse_directory(data: bytes, expected_count: int, data_end: int) -> list[EntryRecord]:
    """Decode the whole directory; every count is checked against the bytes before use."""
    cur = _Cursor(data)
    (count,) = cur.unpack(_U32, "the entry count")
    if count != expected_count:
        raise FormatError(f"damaged archive: the directory lists {count} entries, the footer {expected_count}")
    if count * _MIN_ENTRY_SIZE > cur.remaining:
        raise FormatError(f"damaged directory: {count} entries cannot fit in {len(data)} bytes")
    entries = [_parse_entry(cur, index, data_end) for index in range(count)]
    if cur.remaining:
        raise FormatError(f"damaged directory: {cur.remaining} unexpected bytes after the last entry")
    check_tree(entries)
    spans = sorted((c.offset, c.offset + c.coded_len) for entry in entries for c in entry.chunks)
    previous_end = HEADER_SIZE
    for start, end in spans:
        if start < previous_end:
            raise FormatError(f"damaged directory: chunks overlap at offset {start}")
        previous_end = end
    return entries


def _open_archive_file(path: str | os.PathLike[str]) -> BinaryIO:
    """Open ``path``, refusing anything but a regular file (a named pipe would block for ever)."""
    try:
        return open_regular(path)
    except NotARegularFile as exc:
        raise FormatError(f"not an .lmz archive: {exc}") from None
    except OSError as exc:
        raise AccessError(exc.errno, exc.strerror, os.fsdecode(path)) from exc


class ContainerReader:
    """Reads an archive's header, footer and directory; chunk bytes are read only on request."""

    def __init__(self, file: str | os.PathLike[str] | BinaryIO) -> None:
        """Open ``file`` (a path, opened and later closed here, or a seekable binary file)."""
        self._owns_file = isinstance(file, (str, os.PathLike))
        if isinstance(file, (str, os.PathLike)):
            file = _open_archive_file(file)
        self._file: BinaryIO = file
        self.entries: list[EntryRecord] = []
        self.version: tuple[int, int] = FORMAT_VERSION
        try:
            self._load()
        except BaseException:
            self.close()
            raise
        self._by_name = {entry.name: entry for entry in self.entries}

    def _load(self) -> None:
        """Validate header, footer and directory, in that order, before trusting any of them."""
        size = self._file.seek(0, os.SEEK_END)
        try:
            self.version = parse_header(self._read_at(0, min(size, HEADER_SIZE)))
            if size < HEADER_SIZE + FOOTER_SIZE:
                raise FormatError(f"truncated archive: the file is only {size} bytes long")
            footer = self._read_at(size - FOOTER_SIZE, FOOTER_SIZE)
            magic, dir_offset, dir_length, count, dir_crc, major, minor = _FOOTER_BODY.unpack_from(footer)
            if magic != FOOTER_MAGIC:
                raise FormatError("truncated or damaged archive: the directory footer is missing")
            if _with_crc(footer[: _FOOTER_BODY.size]) != footer:
                raise ChecksumError("footer checksum mismatch: the archive is damaged")
            if (major, minor) != self.version:
                raise FormatError("damaged archive: header and footer versions differ")
            if dir_offset < HEADER_SIZE or dir_offset + dir_length + FOOTER_SIZE != size:
                raise FormatError("truncated or damaged archive: the directory does not end at the footer")
            directory = self._read_at(dir_offset, dir_length)
            if zlib.crc32(directory) != dir_crc:
                raise ChecksumError("directory checksum mismatch: the archive is damaged")
            self.entries = _parse_directory(directory, count, dir_offset)
            self._data_end = dir_offset
        except _PARSE_ERRORS as exc:
            raise FormatError(f"damaged archive ({type(exc).__name__})") from exc

    def _read_at(self, offset: int, size: int) -> bytes:
        """Exactly ``size`` bytes at ``offset``; FormatError if the file ends first."""
        self._file.seek(offset)
        data = self._file.read(size)
        while len(data) < size:
            more = self._file.read(size - len(data))
            if not more:
                raise FormatError(f"truncated archive: it ends before offset {offset + size}")
            data += more
        return data

    def iter_chunk(self, chunk: ChunkRecord, block_size: int = 1 << 20) -> Iterator[bytes]:
        """A chunk's coded bytes in pieces, so copying or storing a big chunk needs little memory."""
        if chunk.offset < HEADER_SIZE or chunk.offset + chunk.coded_len > self._data_end:
            raise FormatError(f"chunk at offset {chunk.offset} lies outside the archive's chunk data")
        position, end = chunk.offset, chunk.offset + chunk.coded_len
        while position < end:
            size = min(block_size, end - position)
            yield self._read_at(position, size)
            position += size

    def get(self, name: str) -> EntryRecord | None:
        """The entry called ``name``, or None."""
        return self._by_name.get(name)

    def read_chunk(self, chunk: ChunkRecord) -> bytes:
        """A chunk's coded bytes, still coded by the entry's method."""
        return b"".join(self.iter_chunk(chunk, max(chunk.coded_len, 1)))

    def close(self) -> None:
        """Close the file if this reader opened it; a caller's file object stays open."""
        if self._owns_file:
            self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class ChunkSource(Protocol):
    """Where copy_chunk reads a chunk's coded bytes: a ContainerReader, or a salvage's damaged file."""

    def iter_chunk(self, chunk: ChunkRecord, block_size: int = ...) -> Iterator[bytes]: ...


def _encode_entry(entry: EntryRecord) -> bytes:
    """The directory bytes of one (already checked) entry."""
    name = entry.name.encode("utf-8")
    model = entry.model.encode("ascii")
    parts = [
        _U16.pack(len(name)),
        name,
        _ENTRY_FIXED.pack(entry.type, entry.size, entry.mtime_ns, entry.mode, entry.method),
        _U8.pack(len(model)),
        model,
        _FINGERPRINT.pack(entry.fingerprint) if model else b"",
        _ENTRY_TAIL.pack(entry.gzip_size, entry.crc32, len(entry.chunks)),
    ]
    parts.extend(_CHUNK.pack(c.offset, c.coded_len, c.orig_len, c.symbols, c.crc32, c.method) for c in entry.chunks)
    return b"".join(parts)


class ContainerWriter:
    """Writes a new archive front to back: chunks first, then entries naming them, then the tail.

    Only appends, so it works on any writable binary file object, even an unseekable one.
    """

    def __init__(self, file: BinaryIO, version: tuple[int, int] = FORMAT_VERSION) -> None:
        """Start an archive at the beginning of ``file`` (chunk offsets are absolute).

        ``version``: what the header and footer claim; 1.0 only for an archive that carries model
        chunks copied from a 1.0 archive, which may rely on 1.0's unbounded stream ends.
        """
        if file.seekable() and file.tell() != 0:
            raise ValueError("an archive must be written from the start of its file")
        if version not in READ_VERSIONS:
            raise ValueError(f"cannot write format version {version}")
        self.version = version
        self._file = file
        self._pos = 0
        self._entries: list[EntryRecord] = []
        self._names: set[str] = set()
        self._unclaimed: Counter[ChunkRecord] = Counter()
        self._closed = False
        major, minor = self.version
        self._write(_with_crc(_HEADER_BODY.pack(MAGIC, major, minor)))

    @property
    def entries(self) -> tuple[EntryRecord, ...]:
        """Entries added so far, in directory order."""
        return tuple(self._entries)

    def _write(self, data: bytes) -> None:
        """Write all of ``data`` (a raw file may take it in parts) and track the offset."""
        view = memoryview(data)
        while view:
            view = view[self._file.write(view) :]
        self._pos += len(data)

    def _check_chunk(self, record: ChunkRecord) -> None:
        """Refuse a chunk the directory could not describe, before writing any of its bytes."""
        if self._closed:
            raise ValueError("the archive writer is closed")
        problem = chunk_problem(record)
        if problem is not None:
            raise FormatError(f"chunk at offset {record.offset}: {problem}")

    def write_chunk(
        self, coded: bytes, orig_len: int, symbols: int, crc32: int, method: Method = Method.STORE
    ) -> ChunkRecord:
        """Append one coded chunk; put the returned record in an entry given to add_entry."""
        record = ChunkRecord(self._pos, len(coded), orig_len, symbols, crc32, method)
        self._check_chunk(record)
        self._write(coded)
        self._unclaimed[record] += 1
        return record

    def copy_chunk(self, reader: ChunkSource, chunk: ChunkRecord) -> ChunkRecord:
        """Copy a coded chunk from another archive unchanged; the record gets its new offset."""
        record = ChunkRecord(self._pos, chunk.coded_len, chunk.orig_len, chunk.symbols, chunk.crc32, chunk.method)
        self._check_chunk(record)
        for block in reader.iter_chunk(chunk):
            self._write(block)
        self._unclaimed[record] += 1  # only now: a failed copy must not be usable by an entry
        return record

    def _check_entry(self, entry: EntryRecord) -> Counter[ChunkRecord]:
        """Refuse an entry a reader would reject, or whose chunks are not this writer's to give it."""
        if self._closed:
            raise ValueError("the archive writer is closed")
        check_entry(entry)
        if entry.name in self._names:
            raise FormatError(f"duplicate member name {show(entry.name)}")
        needed = Counter(entry.chunks)
        if any(self._unclaimed[chunk] < count for chunk, count in needed.items()):
            raise FormatError(
                f"entry {show(entry.name)}: its chunks were not written by this writer or are already used"
            )
        return needed

    def write_recovery(self, entry: EntryRecord) -> None:
        """Append a recovery record of ``entry`` (whose chunks this writer has just written) to the
        chunk data, so that a salvage can find it if the directory is lost; add the entry later."""
        self._check_entry(entry)
        self._write(encode_recovery(entry))

    def add_entry(self, entry: EntryRecord) -> None:
        """Record an entry whose chunks this writer wrote; refuse anything a reader would reject."""
        self._unclaimed -= self._check_entry(entry)
        self._names.add(entry.name)
        self._entries.append(entry)

    def close(self) -> None:
        """Write the directory and footer and flush; the caller still owns and closes the file."""
        if self._closed:
            return
        check_tree(self._entries)
        dir_offset = self._pos
        crc = 0
        for piece in chain([_U32.pack(len(self._entries))], map(_encode_entry, self._entries)):
            self._write(piece)
            crc = zlib.crc32(piece, crc)
        major, minor = self.version
        footer = _FOOTER_BODY.pack(
            FOOTER_MAGIC, dir_offset, self._pos - dir_offset, len(self._entries), crc, major, minor
        )
        self._write(_with_crc(footer))
        self._file.flush()
        self._closed = True
