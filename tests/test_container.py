"""Tests of the .lmz container: round trips, the byte layout, and every way a reader must refuse.

Hostile directories are built with tests/raw_format.py, struct straight from docs/FORMAT.md rather
than the module's own encoder, so these tests also check the code against the written specification.
"""

from __future__ import annotations

import dataclasses
import io
import random
import struct
import zlib
from pathlib import Path

import pytest
from raw_format import crc, raw_archive, raw_chunk, raw_entry

from lmarchive.container import (
    FOOTER_SIZE,
    FORMAT_VERSION,
    HEADER_SIZE,
    MAGIC,
    ChunkRecord,
    ContainerReader,
    ContainerWriter,
    EntryRecord,
    EntryType,
    Method,
    validate_name,
)
from lmarchive.errors import ChecksumError, FormatError, UnsafePathError

FINGERPRINT = bytes(range(32))
MTIME = 1_700_000_000_123_456_789


def toy_code(piece: bytes, method: Method) -> bytes:
    """This file's toy codecs: a model chunk holds its piece reversed, store and zstd the piece itself."""
    return piece[::-1] if method == Method.MODEL else piece


def add_file(
    writer: ContainerWriter,
    name: str,
    pieces: list[bytes],
    method: Method = Method.STORE,
    chunk_methods: list[Method] | None = None,
    **fields: object,
) -> EntryRecord:
    """Write ``pieces`` as chunks (each by the entry's method unless ``chunk_methods`` says) and add the entry."""
    methods = [method] * len(pieces) if chunk_methods is None else chunk_methods
    chunks = []
    for piece, chunk_method in zip(pieces, methods, strict=True):
        coded = toy_code(piece, chunk_method)
        chunks.append(writer.write_chunk(coded, len(piece), len(piece), crc(piece), chunk_method))
    content = b"".join(pieces)
    defaults: dict[str, object] = {"mode": 0o644, "gzip_size": len(zlib.compress(content, 9)) + 18}
    if method == Method.MODEL:
        defaults.update(model="test-model/1", fingerprint=FINGERPRINT)
    entry = EntryRecord(
        name=name,
        type=EntryType.FILE,
        size=len(content),
        mtime_ns=MTIME,
        method=method,
        crc32=crc(content),
        chunks=tuple(chunks),
        **(defaults | fields),  # type: ignore[arg-type]
    )
    writer.add_entry(entry)
    return entry


def add_dir(writer: ContainerWriter, name: str) -> EntryRecord:
    """Add a directory entry."""
    entry = EntryRecord(name=name, type=EntryType.DIRECTORY, size=0, mtime_ns=-5, mode=0o755)
    writer.add_entry(entry)
    return entry


def sample_archive() -> tuple[bytes, tuple[EntryRecord, ...], dict[str, bytes]]:
    """A small archive with unicode names, a directory, an empty file and multi-chunk files."""
    contents = {
        "日本語/файл ü.txt": [b"hello ", b"world"],
        "emoji 🎉/😀.bin": [bytes(range(256)) * 3],
        "empty": [],
        "a/b/note 12:30.txt": [b"x" * 10, b"y", b"z" * 5],
        "model.txt": [b"coded by a model", b"then by zstd", b"!"],
    }
    buffer = io.BytesIO()
    writer = ContainerWriter(buffer)
    add_dir(writer, "日本語")
    for name, pieces in contents.items():
        if name == "model.txt":  # the codec falls back per chunk, so a model entry mixes methods
            add_file(writer, name, pieces, Method.MODEL, [Method.MODEL, Method.ZSTD, Method.STORE])
        else:
            add_file(writer, name, pieces)
    add_dir(writer, "emoji 🎉")
    writer.close()
    return buffer.getvalue(), writer.entries, {k: b"".join(v) for k, v in contents.items()}


def decode(reader: ContainerReader, entry: EntryRecord) -> bytes:
    """Undo this test file's toy methods, each chunk by its own method."""
    return b"".join(toy_code(reader.read_chunk(chunk), chunk.method) for chunk in entry.chunks)


def resign(blob: bytes) -> bytes:
    """Recompute the footer and directory CRCs after a test edited the directory in place."""
    dir_offset, dir_length = struct.unpack_from("<QQ", blob, len(blob) - FOOTER_SIZE + 8)
    directory = blob[dir_offset : dir_offset + dir_length]
    footer = bytearray(blob[-FOOTER_SIZE:])
    struct.pack_into("<I", footer, 28, crc(directory))
    struct.pack_into("<I", footer, 36, crc(bytes(footer[:36])))
    return blob[:-FOOTER_SIZE] + bytes(footer)


def open_bytes(blob: bytes) -> ContainerReader:
    """Read an archive held in memory."""
    return ContainerReader(io.BytesIO(blob))


def rejects(blob: bytes, match: str | None, error: type[Exception] = FormatError) -> FormatError:
    """Assert the reader refuses ``blob`` with ``error`` and a message matching ``match``."""
    with pytest.raises(error, match=match) as info:
        open_bytes(blob)
    message = str(info.value)
    assert message
    assert "\n" not in message
    return info.value  # type: ignore[return-value]


DATA = b"0123456789"
GOOD_ENTRY = raw_entry(b"f", size=10, crc32=crc(DATA), chunks=(raw_chunk(16, 10, 10, crc32=crc(DATA)),))


# --- round trips ---------------------------------------------------------------------------


def test_round_trip_in_memory() -> None:
    blob, written, contents = sample_archive()
    with open_bytes(blob) as reader:
        assert reader.version == FORMAT_VERSION == (1, 1)
        assert tuple(reader.entries) == written
        for name, content in contents.items():
            entry = reader.get(name)
            assert entry is not None
            assert not entry.is_dir
            assert decode(reader, entry) == content
            assert entry.size == len(content)
            assert entry.crc32 == crc(content)
        assert reader.get("日本語").is_dir  # type: ignore[union-attr]
        assert reader.get("missing") is None
        empty = reader.get("empty")
        assert empty is not None and empty.chunks == () and empty.crc32 == 0 and empty.packed == 0
        model = reader.get("model.txt")
        assert model is not None
        assert (model.method, model.model, model.fingerprint) == (Method.MODEL, "test-model/1", FINGERPRINT)
        assert [chunk.method for chunk in model.chunks] == [Method.MODEL, Method.ZSTD, Method.STORE]
        assert all(type(chunk.method) is Method for e in reader.entries for chunk in e.chunks)
        assert len(reader.get("a/b/note 12:30.txt").chunks) == 3  # type: ignore[union-attr]


def test_round_trip_through_a_path(tmp_path: Path) -> None:
    path = tmp_path / "x.lmz"
    with path.open("wb") as file:
        writer = ContainerWriter(file)
        add_file(writer, "ü", [b"abc"], Method.ZSTD)
        writer.close()
        assert not file.closed  # the caller owns the file object
    with ContainerReader(path) as reader:
        entry = reader.entries[0]
        assert (entry.name, entry.method, entry.mtime_ns, entry.mode) == ("ü", Method.ZSTD, MTIME, 0o644)
        assert entry.chunks[0].method == Method.ZSTD
        assert reader.read_chunk(entry.chunks[0]) == b"abc"
    with ContainerReader(str(path)) as reader:
        assert [e.name for e in reader.entries] == ["ü"]


def test_layout_matches_the_specification() -> None:
    blob, written, _ = sample_archive()
    assert (HEADER_SIZE, FOOTER_SIZE, MAGIC) == (16, 40, b"\x89LMZ\r\n\x1a\n")
    assert blob[:12] == MAGIC + b"\x01\x00\x01\x00"
    assert struct.unpack_from("<I", blob, 12)[0] == crc(blob[:12])
    footer = blob[-FOOTER_SIZE:]
    magic, dir_offset, dir_length, count, dir_crc, major, minor, footer_crc = struct.unpack("<8sQQIIHHI", footer)
    assert magic == b"LMZDIR\x00\x01"
    assert (count, major, minor) == (len(written), 1, 1)
    assert footer_crc == crc(footer[:36])
    assert dir_offset + dir_length + FOOTER_SIZE == len(blob)
    assert dir_crc == crc(blob[dir_offset : dir_offset + dir_length])
    first_chunk = written[1].chunks[0]
    assert first_chunk.offset == HEADER_SIZE
    assert blob[16:22] == b"hello "
    assert written[1].packed == 11
    assert dir_offset == HEADER_SIZE + sum(e.packed for e in written)


def test_reader_agrees_with_an_independent_encoder() -> None:
    blob = raw_archive(DATA, [GOOD_ENTRY, raw_entry(b"d", type_=1, mode=0o700)])
    with open_bytes(blob) as reader:
        f, d = reader.entries
    assert f == EntryRecord(
        "f",
        EntryType.FILE,
        10,
        0,
        0o644,
        crc32=crc(DATA),
        chunks=(ChunkRecord(16, 10, 10, 10, crc(DATA), Method.STORE),),
    )
    assert d.is_dir and d.mode == 0o700


class CountingFile(io.BytesIO):
    """Counts the bytes read, to show that a listing reads only the ends of the file."""

    bytes_read = 0

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def test_listing_reads_only_header_and_tail() -> None:
    buffer = io.BytesIO()
    writer = ContainerWriter(buffer)
    add_file(writer, "big", [bytes(1 << 20)] * 4)
    writer.close()
    file = CountingFile(buffer.getvalue())
    reader = ContainerReader(file)
    assert reader.entries[0].size == 4 << 20
    assert file.bytes_read < 1000
    reader.close()
    assert not file.closed  # the reader does not close a file it did not open


class TrickleRaw(io.RawIOBase):
    """An unseekable raw stream that accepts at most 7 bytes per write."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        piece = bytes(b[:7])
        self.data += piece
        return len(piece)


def test_writer_streams_to_an_unseekable_raw_file() -> None:
    raw = TrickleRaw()
    writer = ContainerWriter(raw)  # type: ignore[arg-type]
    add_file(writer, "f", [b"some data here", b"and more"])
    writer.close()
    reader = open_bytes(bytes(raw.data))
    assert decode(reader, reader.entries[0]) == b"some data hereand more"


def test_copy_chunk_between_archives() -> None:
    blob, _, contents = sample_archive()
    source = open_bytes(blob)
    buffer = io.BytesIO()
    writer = ContainerWriter(buffer)
    add_file(writer, "new first", [b"pushes the offsets along"])
    for entry in source.entries:
        if entry.name != "empty":
            copied = tuple(writer.copy_chunk(source, chunk) for chunk in entry.chunks)
            assert all(c.offset != o.offset for c, o in zip(copied, entry.chunks, strict=True))
            assert [c.method for c in copied] == [o.method for o in entry.chunks]
            writer.add_entry(dataclasses.replace(entry, chunks=copied))
    writer.close()
    with open_bytes(buffer.getvalue()) as copy:
        assert len(copy.entries) == len(source.entries)
        for name, content in contents.items():
            entry = copy.get(name)
            assert (entry is None) == (name == "empty")
            if entry is not None:
                assert decode(copy, entry) == content
        assert decode(copy, copy.entries[0]) == b"pushes the offsets along"
        model = copy.get("model.txt")
        assert model is not None
        assert [c.method for c in model.chunks] == [Method.MODEL, Method.ZSTD, Method.STORE]


def test_mixed_chunk_methods_round_trip_and_match_the_specification() -> None:
    pieces = [b"coded by the model", b"zstd was smaller here", b"stored"]
    methods = [Method.MODEL, Method.ZSTD, Method.STORE]
    buffer = io.BytesIO()
    writer = ContainerWriter(buffer)
    mixed = add_file(writer, "mixed", pieces, Method.MODEL, methods)
    zstd = add_file(writer, "zstd", [b"zstd", b"stored"], Method.ZSTD, [Method.ZSTD, Method.STORE])
    writer.close()
    blob = buffer.getvalue()
    # the writer's directory is byte for byte what docs/FORMAT.md describes (method byte at offset 24)
    dir_offset, dir_length = struct.unpack_from("<QQ", blob, len(blob) - FOOTER_SIZE + 8)
    expected = struct.pack("<I", 2) + b"".join(
        raw_entry(
            entry.name.encode(),
            size=entry.size,
            mtime=entry.mtime_ns,
            method=entry.method,
            model=entry.model.encode(),
            fingerprint=entry.fingerprint,
            gzip_size=entry.gzip_size,
            crc32=entry.crc32,
            chunks=tuple(
                raw_chunk(c.offset, c.coded_len, c.orig_len, c.symbols, c.crc32, method=c.method) for c in entry.chunks
            ),
        )
        for entry in (mixed, zstd)
    )
    assert blob[dir_offset : dir_offset + dir_length] == expected
    with open_bytes(blob) as reader:
        assert tuple(reader.entries) == (mixed, zstd)
        assert [c.method for c in reader.entries[0].chunks] == methods
        assert [c.method for c in reader.entries[1].chunks] == [Method.ZSTD, Method.STORE]
        assert decode(reader, reader.entries[0]) == b"".join(pieces)
        assert decode(reader, reader.entries[1]) == b"zstdstored"


# --- the writer refuses what a reader would reject ----------------------------------------------


def test_writer_refuses_caller_bugs() -> None:
    writer = ContainerWriter(io.BytesIO())
    add_file(writer, "a", [b"1"])
    with pytest.raises(FormatError, match="duplicate member name 'a'"):
        add_file(writer, "a", [b"2"])
    with pytest.raises(FormatError, match="duplicate"):
        add_dir(writer, "a")
    chunk = writer.write_chunk(b"xy", 2, 2, crc(b"xy"))
    entry = EntryRecord("b", EntryType.FILE, 2, 0, 0o644, crc32=crc(b"xy"), chunks=(chunk,))
    with pytest.raises(FormatError, match=r"holds 2 bytes but the size is 3|chunks hold 2"):
        writer.add_entry(dataclasses.replace(entry, size=3))
    foreign = ContainerWriter(io.BytesIO()).write_chunk(b"xy", 2, 2, crc(b"xy"))
    with pytest.raises(FormatError, match="not written by this writer"):
        writer.add_entry(dataclasses.replace(entry, chunks=(foreign,)))
    writer.add_entry(entry)
    with pytest.raises(FormatError, match="already used"):
        writer.add_entry(dataclasses.replace(entry, name="c"))
    with pytest.raises(FormatError, match="original length"):
        writer.write_chunk(b"", 0, 0, 0)
    with pytest.raises(FormatError, match="original length"):
        writer.write_chunk(b"x", 2**31 + 1, 1, 0)
    stored = writer.write_chunk(b"xyz", 2, 2, 0)
    with pytest.raises(FormatError, match="stored chunk"):
        writer.add_entry(EntryRecord("s", EntryType.FILE, 2, 0, 0o644, chunks=(stored,)))
    with pytest.raises(FormatError, match="mode"):
        add_file(writer, "m", [b"1"], mode=0o100644)
    with pytest.raises(FormatError, match="only method model may name a model"):
        add_file(writer, "z", [b"1"], model="x")
    with pytest.raises(FormatError, match="needs a model id"):
        add_file(writer, "z", [b"1"], Method.MODEL, model="")
    with pytest.raises(FormatError, match="directory"):
        writer.add_entry(EntryRecord("d", EntryType.DIRECTORY, 0, 0, 0o755, gzip_size=20))
    with pytest.raises(UnsafePathError, match="unsafe member name"):
        add_file(writer, "../evil", [b"1"])
    writer.close()
    writer.close()  # closing twice is harmless
    with pytest.raises(ValueError, match="closed"):
        writer.write_chunk(b"1", 1, 1, crc(b"1"))


def test_writer_refuses_a_member_inside_a_file() -> None:
    writer = ContainerWriter(io.BytesIO())
    add_file(writer, "a", [b"1"])
    add_file(writer, "a/b", [b"2"])
    with pytest.raises(FormatError, match="inside the file 'a'"):
        writer.close()


def test_writer_needs_the_start_of_the_file() -> None:
    file = io.BytesIO(b"junk")
    file.seek(4)
    with pytest.raises(ValueError, match="start"):
        ContainerWriter(file)


# --- names -------------------------------------------------------------------------------------

GOOD_NAMES = ["a", "日本語/файл ü.txt", "😀", "a/b/c", "..a", "a..", ".hidden", "12:30 notes.txt", "a/ab:c"]
BAD_NAMES = [
    "",
    "/etc/passwd",
    "../x",
    "a/../../x",
    "a/./b",
    "a//b",
    "dir/",
    ".",
    "..",
    "a\\b",
    "..\\x",
    "a\0b",
    "C:",
    "C:/Windows",
    "c:x",
    "a/D:/x",
    "\udcff",  # a surrogate escape: not encodable as UTF-8
    "x" * 65536,
]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused_by_the_writer(name: str) -> None:
    with pytest.raises(UnsafePathError, match="unsafe member name"):
        validate_name(name)
    with pytest.raises(UnsafePathError):
        add_dir(ContainerWriter(io.BytesIO()), name)


@pytest.mark.parametrize("name", [n for n in BAD_NAMES if n != "\udcff"])
def test_bad_names_are_refused_by_the_reader(name: str) -> None:
    encoded = name.encode()
    if len(encoded) > 65535:  # the length field cannot even express it; just test the limit
        encoded = encoded[:65535]
        assert validate_name(encoded.decode()) == encoded.decode()
        return
    error = rejects(raw_archive(b"", [raw_entry(encoded, type_=1)]), "entry 0: unsafe member name")
    assert not isinstance(error, UnsafePathError)


def test_reader_rejects_undecodable_name() -> None:
    rejects(raw_archive(b"", [raw_entry(b"\xff\xfe", type_=1)]), "not valid UTF-8")
    rejects(raw_archive(b"", [raw_entry(b"\xed\xb3\xbf", type_=1)]), "not valid UTF-8")  # encoded surrogate


def test_reader_rejects_duplicates_and_members_inside_files() -> None:
    d = raw_entry(b"d", type_=1)
    rejects(raw_archive(b"", [d, d]), "duplicate member name 'd'")
    rejects(raw_archive(DATA, [raw_entry(b"f", type_=1), GOOD_ENTRY]), "duplicate member name 'f'")
    rejects(raw_archive(DATA, [GOOD_ENTRY, raw_entry(b"f/x", type_=1)]), "'f/x' lies inside the file 'f'")


# --- the reader refuses damaged or hostile archives ---------------------------------------


def test_good_raw_archive_is_accepted() -> None:
    with open_bytes(raw_archive(DATA, [GOOD_ENTRY])) as reader:
        assert reader.read_chunk(reader.entries[0].chunks[0]) == DATA


def test_not_an_archive() -> None:
    rejects(b"PK\x03\x04" + bytes(100), "^not an .lmz archive$")
    rejects(b"hello", "^not an .lmz archive$")
    rejects(b"hello world, this is a plain text file\n" * 3, "^not an .lmz archive$")
    blob, _, _ = sample_archive()
    rejects(blob.replace(b"\r\n", b"\n"), "signature is damaged")


def test_versions() -> None:
    rejects(raw_archive(DATA, [GOOD_ENTRY], version=(2, 0)), r"version 2\.0 is newer than this program supports")
    rejects(raw_archive(DATA, [GOOD_ENTRY], version=(1, 2)), r"version 1\.2 is newer")
    rejects(raw_archive(DATA, [GOOD_ENTRY], version=(0, 9)), r"version 0\.9 is not supported")
    rejects(raw_archive(DATA, [GOOD_ENTRY], footer_version=(1, 1)), "header and footer versions differ")
    for version in ((1, 0), (1, 1)):  # a 1.1 reader reads both
        with open_bytes(raw_archive(DATA, [GOOD_ENTRY], version=version)) as reader:
            assert reader.version == version


@pytest.mark.parametrize(
    ("position", "match"),
    [(12, "header checksum"), (-1, "footer checksum"), (-30, "footer checksum"), (-41, "directory checksum")],
)
def test_each_checksum(position: int, match: str) -> None:
    blob = bytearray(raw_archive(DATA, [GOOD_ENTRY]))
    blob[position] ^= 0x01
    rejects(bytes(blob), match, ChecksumError)


def test_truncation_at_every_length() -> None:
    blob, _, _ = sample_archive()
    for length in range(len(blob)):
        error = rejects(blob[:length], None)
        assert "truncated" in str(error), (length, str(error))
    rejects(blob + b"\0", "truncated or damaged")  # appended bytes hide the footer too


def test_footer_location_checks() -> None:
    blob = bytearray(raw_archive(DATA, [GOOD_ENTRY]))
    for offset, length in [(15, None), (0, None), (2**64 - 1, None), (None, 2**64 - 1), (None, 0)]:
        edited = bytearray(blob)
        if offset is not None:
            struct.pack_into("<Q", edited, len(edited) - 32, offset)
        if length is not None:
            struct.pack_into("<Q", edited, len(edited) - 24, length)
        footer = edited[-FOOTER_SIZE:]
        struct.pack_into("<I", edited, len(edited) - 4, crc(bytes(footer[:36])))
        rejects(bytes(edited), "directory does not end at the footer")


def test_hostile_counts() -> None:
    rejects(raw_archive(b"", [], count=2**32 - 1), "4294967295 entries cannot fit")
    rejects(raw_archive(DATA, [GOOD_ENTRY], count=2), "2 entries cannot fit|ends inside entry 1")
    hostile = raw_entry(b"f", size=10, chunk_count=2**32 - 1, chunks=(raw_chunk(16, 10, 10, crc32=crc(DATA)),))
    rejects(raw_archive(DATA, [hostile]), "4294967295 chunks do not fit")
    blob = bytearray(raw_archive(DATA, [GOOD_ENTRY]))  # footer and directory disagree
    struct.pack_into("<I", blob, len(blob) - 16, 7)
    struct.pack_into("<I", blob, len(blob) - 4, crc(bytes(blob[-FOOTER_SIZE:-4])))
    rejects(bytes(blob), "directory lists 1 entries, the footer 7")


@pytest.mark.parametrize(
    ("chunks", "match"),
    [
        ((raw_chunk(0, 10, 10),), "outside"),
        ((raw_chunk(15, 10, 10),), "outside"),
        ((raw_chunk(17, 10, 10),), "outside"),
        ((raw_chunk(2**64 - 1, 10, 10),), "outside"),
        ((raw_chunk(16, 5, 5), raw_chunk(20, 5, 5)), "overlap"),
        ((raw_chunk(16, 0, 0), raw_chunk(16, 10, 10)), "original length"),
        ((raw_chunk(16, 10, 2**31 + 1),), "original length"),
        ((raw_chunk(16, 10, 9),), "stored chunk"),
        ((raw_chunk(16, 10, 10, symbols=3),), "symbol count"),
    ],
)
def test_bad_chunks(chunks: tuple[bytes, ...], match: str) -> None:
    size = sum(struct.unpack_from("<I", c, 12)[0] for c in chunks)
    rejects(raw_archive(DATA, [raw_entry(b"f", size=size, chunks=chunks)]), match)


def test_chunks_of_different_entries_must_not_overlap() -> None:
    other = raw_entry(b"g", size=10, crc32=crc(DATA), chunks=(raw_chunk(16, 10, 10, crc32=crc(DATA)),))
    rejects(raw_archive(DATA, [GOOD_ENTRY, other]), "overlap at offset 16")


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        (raw_entry(b"f", type_=2), "unknown entry type 2"),
        (raw_entry(b"f", method=3), "unknown coding method 3"),
        (raw_entry(b"f", size=5), "chunks hold 0 bytes but the size is 5"),
        (raw_entry(b"f", crc32=1), "empty entry must have CRC32 0"),
        (raw_entry(b"f", mode=0o170000), "mode"),
        (raw_entry(b"f", model=b"m"), "only method model"),
        (raw_entry(b"f", method=2), "needs a model id"),
        (raw_entry(b"f", method=2, model=b"caf\xc3\xa9"), "not ASCII"),
        (raw_entry(b"f", method=2, model=b"tab\t"), "printable ASCII"),
        (raw_entry(b"d", type_=1, size=0, gzip_size=1), "a directory must"),
        (raw_entry(b"d", type_=1, method=1), "a directory must"),
        (raw_entry(b"d", type_=1, size=10, chunks=(raw_chunk(16, 10, 10),)), "a directory must"),
    ],
)
def test_bad_entries(entry: bytes, match: str) -> None:
    rejects(raw_archive(DATA, [entry]), match)


def test_model_entries_may_have_any_symbol_count_and_empty_chunks() -> None:
    entry = raw_entry(b"m", method=2, model=b"m", size=10, chunks=(raw_chunk(16, 0, 10, symbols=3, method=2),))
    with open_bytes(raw_archive(DATA, [entry])) as reader:
        assert reader.read_chunk(reader.entries[0].chunks[0]) == b""


@pytest.mark.parametrize("entry_method", list(Method), ids=lambda m: f"entry-{m.name.lower()}")
@pytest.mark.parametrize("chunk_method", list(Method), ids=lambda m: f"chunk-{m.name.lower()}")
def test_a_chunk_method_may_not_exceed_its_entry_method(entry_method: Method, chunk_method: Method) -> None:
    """store < zstd < model: an entry holds chunks of its own method or a cheaper one, never more."""
    model = "m" if entry_method == Method.MODEL else ""
    allowed = chunk_method <= entry_method
    refusal = f"chunk 0: a [a-z]+ chunk is not allowed in an entry of method {entry_method.name.lower()}"
    raw = raw_entry(
        b"f",
        method=entry_method,
        model=model.encode(),
        size=10,
        crc32=crc(DATA),
        chunks=(raw_chunk(16, 10, 10, crc32=crc(DATA), method=chunk_method),),
    )
    if allowed:
        with open_bytes(raw_archive(DATA, [raw])) as reader:
            chunk = reader.entries[0].chunks[0]
            assert chunk.method == chunk_method and type(chunk.method) is Method
            assert reader.entries[0].method == entry_method
    else:
        rejects(raw_archive(DATA, [raw]), refusal)
    writer = ContainerWriter(io.BytesIO())
    written = writer.write_chunk(DATA, 10, 10, crc(DATA), chunk_method)
    assert written.method == chunk_method
    entry = EntryRecord(
        "f", EntryType.FILE, 10, 0, 0o644, method=entry_method, model=model, crc32=crc(DATA), chunks=(written,)
    )
    if allowed:
        writer.add_entry(entry)
    else:
        with pytest.raises(FormatError, match=refusal):
            writer.add_entry(entry)
        assert writer.entries == ()


@pytest.mark.parametrize("method", [3, 0x7F, 0xFF])
def test_unknown_chunk_method_is_rejected(method: int) -> None:
    chunk = raw_chunk(16, 10, 10, crc32=crc(DATA), method=method)
    entry = raw_entry(b"f", method=2, model=b"m", size=10, crc32=crc(DATA), chunks=(chunk,))
    rejects(raw_archive(DATA, [entry]), "entry 'f': a chunk has an unknown coding method")
    writer = ContainerWriter(io.BytesIO())
    written = writer.write_chunk(DATA, 10, 10, crc(DATA), method)  # type: ignore[arg-type]
    with pytest.raises(FormatError, match=f"chunk 0: unknown chunk method {method}"):
        writer.add_entry(
            EntryRecord("f", EntryType.FILE, 10, 0, 0o644, Method.MODEL, "m", crc32=crc(DATA), chunks=(written,))
        )


@pytest.mark.parametrize(
    ("entry_method", "chunk", "match"),
    [
        (Method.ZSTD, raw_chunk(16, 9, 10, method=0), "stored chunk's coded length"),
        (Method.MODEL, raw_chunk(16, 9, 10, method=0), "stored chunk's coded length"),
        (Method.MODEL, raw_chunk(16, 10, 10, symbols=3, method=0), "symbol count"),
        (Method.MODEL, raw_chunk(16, 10, 10, symbols=3, method=1), "symbol count"),
        (Method.ZSTD, raw_chunk(16, 4, 10, symbols=11, method=1), "symbol count"),
        (Method.ZSTD, raw_chunk(16, 4, 10, method=1), None),
        (Method.MODEL, raw_chunk(16, 4, 10, method=1), None),
        (Method.MODEL, raw_chunk(16, 0, 10, symbols=3, method=2), None),
    ],
)
def test_length_rules_follow_the_chunk_method(entry_method: Method, chunk: bytes, match: str | None) -> None:
    """coded_len == orig_len for a store chunk and symbols == orig_len for any non-model chunk."""
    model = b"m" if entry_method == Method.MODEL else b""
    blob = raw_archive(DATA, [raw_entry(b"f", method=entry_method, model=model, size=10, chunks=(chunk,))])
    if match is None:
        with open_bytes(blob) as reader:
            assert reader.entries[0].chunks[0].method == chunk[24]
    else:
        rejects(blob, f"chunk 0: .*{match}")


def test_directory_must_be_exactly_used() -> None:
    rejects(raw_archive(DATA, [GOOD_ENTRY], trailing=b"\0"), "1 unexpected bytes after the last entry")
    rejects(raw_archive(DATA, [GOOD_ENTRY, raw_entry(b"g")[:30]]), "ends inside entry 'g'")
    rejects(raw_archive(DATA, [GOOD_ENTRY[:-3]]), "entry 'f': 1 chunks do not fit in the directory")


def test_read_chunk_of_a_file_that_shrank() -> None:
    file = io.BytesIO(raw_archive(DATA, [GOOD_ENTRY]))
    reader = ContainerReader(file)
    chunk = reader.entries[0].chunks[0]
    file.truncate(20)
    with pytest.raises(FormatError, match="truncated"):
        reader.read_chunk(chunk)
    with pytest.raises(FormatError, match="outside"):
        reader.read_chunk(dataclasses.replace(chunk, offset=10_000))


# --- fuzz --------------------------------------------------------------------------------------


def try_read(blob: bytes) -> None:
    """Read everything; any failure must be a FormatError."""
    try:
        with open_bytes(blob) as reader:
            for entry in reader.entries:
                for chunk in entry.chunks:
                    reader.read_chunk(chunk)
    except FormatError as error:
        assert str(error)
        assert "\n" not in str(error)


def test_fuzz_random_damage() -> None:
    blob, _, _ = sample_archive()
    rng = random.Random(1234)
    for _ in range(300):
        data = bytearray(blob)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        if rng.random() < 0.3:
            del data[rng.randrange(len(data)) :]
        try_read(bytes(data))


def test_fuzz_hostile_directories_with_valid_checksums() -> None:
    """CRCs stop random damage early; re-signing lets mutations reach the directory parser."""
    blob, _, _ = sample_archive()
    dir_offset, dir_length = struct.unpack_from("<QQ", blob, len(blob) - FOOTER_SIZE + 8)
    rng = random.Random(5678)
    for _ in range(400):
        data = bytearray(blob)
        for _ in range(rng.randint(1, 3)):
            position = dir_offset + rng.randrange(dir_length)
            if rng.random() < 0.5:
                data[position] ^= 1 << rng.randrange(8)
            else:
                data[position] = rng.choice([0, 0xFF, 0x7F, 0x80, rng.randrange(256)])
        try_read(resign(bytes(data)))
