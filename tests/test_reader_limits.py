"""Reading hostile or merely large archives stays bounded: memory, copying, and waiting.

A chunk's record is judged against the decoding limits (docs/FORMAT.md, rule 15) before any of its
bytes is read; a zstd chunk is exactly one frame; a member is streamed without re-copying its
chunk; ``list --json`` is written entry by entry; an archive path that is a named pipe or a folder
is refused at once instead of blocking.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import raw_format
import zstandard

import lmarchive
from lmarchive import reading
from lmarchive.cli import main
from lmarchive.cli.listing import entry_json
from lmarchive.codec import MAX_CHUNK_SIZE, chunk_limit_problem, max_coded_len
from lmarchive.container import (
    FORMAT_VERSION,
    HEADER_SIZE,
    MAGIC,
    ChunkRecord,
    ContainerReader,
    ContainerWriter,
    EntryRecord,
    EntryType,
    Method,
)
from lmarchive.errors import FormatError, LMArchiveError
from lmarchive.reading import iter_chunks, verify_entries

GIB = 1 << 30
MIB = 1 << 20
FINGERPRINT = bytes(range(32))


# --- archives with a large (virtual or sparse) chunk area, built from docs/FORMAT.md --------


def raw_chunk(offset: int, coded_len: int, orig_len: int, method: Method = Method.STORE) -> bytes:
    """A 25-byte chunk record (symbols = orig_len, CRC32 0: nothing may get far enough to check it)."""
    return raw_format.raw_chunk(offset, coded_len, orig_len, method=method)


def raw_entry(name: str, chunks: list[bytes], size: int, method: Method = Method.STORE) -> bytes:
    """A file entry (CRC32 1); a model entry names a model that does not exist, which must not matter."""
    model = b"no-such-model/1" if method == Method.MODEL else b""
    return raw_format.raw_entry(
        name.encode(), size=size, method=method, model=model, fingerprint=FINGERPRINT, crc32=1, chunks=tuple(chunks)
    )


def layout(entries: list[bytes], data_len: int) -> tuple[bytes, bytes]:
    """(header, directory + footer): the directory starts right after ``data_len`` bytes of chunk data."""
    header_body = MAGIC + struct.pack("<HH", *FORMAT_VERSION)
    header = header_body + struct.pack("<I", zlib.crc32(header_body))
    directory = struct.pack("<I", len(entries)) + b"".join(entries)
    footer_body = b"LMZDIR\x00\x01" + struct.pack(
        "<QQIIHH", HEADER_SIZE + data_len, len(directory), len(entries), zlib.crc32(directory), *FORMAT_VERSION
    )
    return header, directory + footer_body + struct.pack("<I", zlib.crc32(footer_body))


def red_team_archive() -> tuple[list[bytes], int]:
    """The reported case: six zstd chunks of 1 MiB content claiming 1 GiB of coded bytes each, all
    lying inside a 6 GiB file; the batch (bounded by content size) used to read all six at once."""
    chunks = [raw_chunk(HEADER_SIZE + i * GIB, GIB, MIB, Method.ZSTD) for i in range(6)]
    return [raw_entry("big.bin", chunks, 6 * MIB, Method.ZSTD)], 6 * GIB


class SparseFile(io.RawIOBase):
    """A read-only file whose chunk area is all zeros and not held anywhere; reading any of it fails.

    Like a sparse file on disk, but portable, and it proves that no chunk byte was asked for.
    """

    def __init__(self, entries: list[bytes], data_len: int) -> None:
        self._head, self._tail = layout(entries, data_len)
        self._tail_at = HEADER_SIZE + data_len
        self._size = self._tail_at + len(self._tail)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._pos = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence] + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, target: Any) -> int:
        start, end = self._pos, min(self._pos + len(target), self._size)
        if start < self._tail_at and end > HEADER_SIZE:
            raise AssertionError(f"chunk bytes {start}..{end} were read")
        tail_start, tail_end = start - self._tail_at, end - self._tail_at
        piece = self._head[start:end] if start < HEADER_SIZE else self._tail[tail_start:tail_end]
        target[: len(piece)] = piece
        self._pos += len(piece)
        return len(piece)


def one_line_error(exc: pytest.ExceptionInfo[BaseException], *fragments: str) -> None:
    message = str(exc.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


ZSTD_LIMIT = max_coded_len(Method.ZSTD, MIB)
MODEL_LIMIT = max_coded_len(Method.MODEL, MIB)


@pytest.mark.parametrize(
    ("entries", "data_len", "fragments"),
    [
        pytest.param(
            *red_team_archive(),
            ("'big.bin': bytes 0-1,048,575 (chunk 1)", "claims 1073741824 coded bytes"),
            id="6x1GiB",
        ),
        pytest.param(
            [raw_entry("s", [raw_chunk(HEADER_SIZE, GIB, GIB)], GIB)],
            GIB,
            ("'s'", "a chunk of 1073741824 bytes is larger than this version allows"),
            id="store-1GiB",
        ),
        pytest.param(
            [raw_entry("z", [raw_chunk(HEADER_SIZE, ZSTD_LIMIT + 1, MIB, Method.ZSTD)], MIB, Method.ZSTD)],
            ZSTD_LIMIT + 1,
            ("'z'", "zstd chunk", f"at most {ZSTD_LIMIT}"),
            id="zstd",
        ),
        pytest.param(
            [raw_entry("m", [raw_chunk(HEADER_SIZE, 4 * GIB - 1, MIB, Method.MODEL)], MIB, Method.MODEL)],
            4 * GIB - 1,
            ("'m'", "model chunk", f"at most {MODEL_LIMIT}"),
            id="model",
        ),
        pytest.param(
            [
                raw_entry("fine", [raw_chunk(HEADER_SIZE, 10, 10)], 10),
                raw_entry("late", [raw_chunk(HEADER_SIZE + 10, 17 * MIB, 17 * MIB)], 17 * MIB),
            ],
            10 + 17 * MIB,
            ("'late'", "larger"),
            id="before-any-entry",
        ),
    ],
)
def test_implausible_chunks_are_refused_before_any_chunk_is_read(
    entries: list[bytes], data_len: int, fragments: tuple[str, ...]
) -> None:
    with ContainerReader(SparseFile(entries, data_len)) as reader:  # type: ignore[arg-type]
        with pytest.raises(FormatError) as info:
            next(iter_chunks(reader, reader.entries))
        one_line_error(info, *fragments)
        if all(e.name != "fine" for e in reader.entries):  # test goes on past damage, reading no refused chunk
            with pytest.raises(FormatError) as info:
                verify_entries(reader, reader.entries)
            one_line_error(info, *fragments)


def test_the_limits_are_exact() -> None:
    def problem(coded: int, orig: int, method: Method) -> str | None:
        return chunk_limit_problem(ChunkRecord(HEADER_SIZE, coded, orig, orig, 0, method))

    assert max_coded_len(Method.ZSTD, MAX_CHUNK_SIZE) == MAX_CHUNK_SIZE + MAX_CHUNK_SIZE // 128 + 1024
    assert max_coded_len(Method.MODEL, MAX_CHUNK_SIZE) == 4 * MAX_CHUNK_SIZE + 16
    for method in Method:
        limit = max_coded_len(method, MAX_CHUNK_SIZE)
        assert problem(limit, MAX_CHUNK_SIZE, method) is None
        assert problem(limit + 1, MAX_CHUNK_SIZE, method) is not None
        assert "larger" in str(problem(1, MAX_CHUNK_SIZE + 1, method))
    # libzstd's own worst case fits with room to spare, for tiny and for the largest chunks
    for size in (1, 100, MAX_CHUNK_SIZE):
        assert size + (size >> 8) + max(0, (128 << 10) - size) // 2048 <= max_coded_len(Method.ZSTD, size)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and sparse files as on Linux")
def test_the_reported_sparse_archive_fails_cleanly_under_a_memory_limit(tmp_path: Path) -> None:
    """The red team's file for real: `test` under a 3 GiB address-space limit, in a child process."""
    entries, data_len = red_team_archive()
    head, tail = layout(entries, data_len)
    archive = tmp_path / "sparse.lmz"
    with archive.open("wb") as handle:
        handle.write(head)
        handle.seek(HEADER_SIZE + data_len)
        handle.write(tail)
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
        "from lmarchive.cli import main\n"
        "sys.exit(main(['test', sys.argv[1]]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(archive)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 1, result.stderr
    *damaged, error = result.stderr.splitlines()  # test names each refused chunk, then sums up
    assert len(damaged) == 6 and all("claims 1073741824 coded bytes" in line for line in damaged), result.stderr
    assert all(line.startswith("lmarchive: damaged: 'big.bin': bytes ") for line in damaged)
    assert error == "lmarchive: error: 6 damaged ranges in 1 member; everything else is intact"


def test_a_batch_holds_a_bounded_amount_of_coded_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks whose coded form is larger than their content (allowed for zstd) still end a batch."""
    monkeypatch.setattr(reading, "MAX_BATCH_BYTES", 8192)
    coded_len = max_coded_len(Method.ZSTD, 1)
    archive = tmp_path / "wide.lmz"
    with archive.open("wb") as handle:
        writer = ContainerWriter(handle)
        chunks = tuple(writer.write_chunk(bytes(coded_len), 1, 1, zlib.crc32(b"x"), Method.ZSTD) for _ in range(64))
        crc = zlib.crc32(b"x" * 64)
        writer.add_entry(EntryRecord("w", EntryType.FILE, 64, 0, 0o644, Method.ZSTD, crc32=crc, chunks=chunks))
        writer.close()
    held: list[int] = []

    def decode(items: list[tuple[ChunkRecord, bytes]], *args: object, **kwargs: object) -> list[bytes]:
        held.append(sum(len(data) for _, data in items))
        return [b"x" for _ in items]

    monkeypatch.setattr(reading.codec, "decode_chunks", decode)
    with ContainerReader(archive) as reader:
        assert len(list(iter_chunks(reader, reader.entries))) == 64
    assert sum(held) == 64 * coded_len
    assert max(held) <= 8192 + coded_len


# --- a zstd chunk is one complete frame and nothing else ------------------------------------


def zstd_archive(path: Path, content: bytes, after: bytes = b"", cut: int = 0) -> None:
    """A one-entry zstd archive whose chunk is a valid frame followed by ``after`` (or cut short).

    The container writer records the longer chunk and recomputes the directory and footer CRCs,
    so only the rule that a zstd chunk is exactly one frame can reject it.
    """
    frame = zstandard.ZstdCompressor(level=3, write_content_size=True).compress(content)
    coded = frame[: len(frame) - cut] + after
    crc = zlib.crc32(content)
    with path.open("wb") as handle:
        writer = ContainerWriter(handle)
        chunk = writer.write_chunk(coded, len(content), len(content), crc, Method.ZSTD)
        size = len(content)
        writer.add_entry(EntryRecord("z.txt", EntryType.FILE, size, 0, 0o644, Method.ZSTD, crc32=crc, chunks=(chunk,)))
        writer.close()


CONTENT = b"the same words again and again, " * 2000


def test_a_plain_zstd_chunk_is_accepted(tmp_path: Path) -> None:
    zstd_archive(tmp_path / "ok.lmz", CONTENT)
    with lmarchive.open(tmp_path / "ok.lmz") as lmz:
        lmz.test()
        assert lmz.read("z.txt") == CONTENT


@pytest.mark.parametrize(
    ("after", "cut", "fragment"),
    [
        (b"junk", 0, "4 bytes after its frame"),
        (b"\x00", 0, "1 bytes after its frame"),
        (zstandard.ZstdCompressor().compress(b"more"), 0, "after its frame"),
        (b"\x50\x2a\x4d\x18" + struct.pack("<I", 3) + b"abc", 0, "11 bytes after its frame"),  # a skippable frame
        (b"", 3, "zstd chunk"),
    ],
    ids=["junk", "zero", "second-frame", "skippable-frame", "cut"],
)
def test_a_zstd_chunk_must_be_exactly_one_frame(tmp_path: Path, after: bytes, cut: int, fragment: str) -> None:
    archive = tmp_path / "bad.lmz"
    zstd_archive(archive, CONTENT, after, cut)
    with lmarchive.open(archive) as lmz:
        with pytest.raises(FormatError) as info:
            lmz.test()
        one_line_error(info, "z.txt", fragment)
        with pytest.raises(FormatError):
            lmz.read("z.txt")
        with pytest.raises(FormatError):
            lmz.extractall(tmp_path / "out")
    assert not (tmp_path / "out" / "z.txt").exists()


# --- a member is streamed without re-copying the rest of its chunk on every read ------------


class CountingBytes(bytes):
    """Chunk data that counts the bytes every slice of it (and of its slices) copies."""

    copied = 0

    def __getitem__(self, key: Any) -> Any:
        part = super().__getitem__(key)
        if isinstance(key, slice):
            CountingBytes.copied += len(part)
            return CountingBytes(part)
        return part


def test_reading_a_member_in_small_pieces_copies_each_byte_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = os.urandom(4 * MIB)  # incompressible: stored, in 16 chunks of 256 KiB
    archive = tmp_path / "big.lmz"
    with lmarchive.open(archive, "w", model=None) as lmz:
        lmz.writestr("big.bin", content)

    def counted(*args: Any, **kwargs: Any) -> Iterator[tuple[EntryRecord, int, bytes]]:
        for entry, index, data in iter_chunks(*args, **kwargs):
            yield entry, index, CountingBytes(data)

    monkeypatch.setattr(lmarchive.archive, "iter_chunks", counted)
    CountingBytes.copied = 0
    pieces = []
    with lmarchive.open(archive) as lmz, lmz.open("big.bin") as stream:
        while piece := stream.read(8192):
            pieces.append(piece)
    assert b"".join(pieces) == content
    # Slicing the rest of the chunk off after each 8 KiB read copies about 32 times the content here
    # (and 1024 times for a 16 MiB chunk); reading by position copies nothing through slices.
    assert CountingBytes.copied <= 2 * len(content)


# --- list --json ------------------------------------------------------------------------------


class CountingStdout(io.StringIO):
    """Standard output that remembers how many writes built it."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def listing(archive: Path, monkeypatch: pytest.MonkeyPatch) -> CountingStdout:
    out = CountingStdout()
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["list", "--json", str(archive)]) == 0
    monkeypatch.undo()
    return out


def test_list_json_is_written_entry_by_entry_in_the_same_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "a.lmz"
    with lmarchive.open(archive, "w", model=None) as lmz:
        for i in range(50):
            lmz.writestr(f'folder/n\u00e4me {i}\t"q"\n.txt', b"words " * i, mtime_ns=1_700_000_000_000_000_000 + i)
    with lmarchive.open(archive) as lmz:
        expected = json.dumps([entry_json(info) for info in lmz.infolist()], indent=2) + "\n"
    out = listing(archive, monkeypatch)
    assert out.getvalue() == expected
    assert out.writes > 50  # one big string would be one write (two with print's newline)

    empty = tmp_path / "empty.lmz"
    with lmarchive.open(empty, "w", model=None):
        pass
    assert listing(empty, monkeypatch).getvalue() == json.dumps([], indent=2) + "\n"


# --- an archive path that is not a regular file ---------------------------------------------


def finishes(action: Callable[[], object], fifo: Path | None = None) -> BaseException | None:
    """Run ``action`` in a thread; the exception it raised, or None.  Fails if it blocks.

    The wait is only a safety net for a broken build: if ``action`` still waits after it, opening
    the pipe's other end releases the thread and the test fails.
    """
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            action()
            outcome.append(None)
        except BaseException as exc:  # handed to the test to judge
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    if thread.is_alive():
        if fifo is not None:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(60)
        pytest.fail("opening the archive blocked")
    return outcome[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_is_refused_without_blocking(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "pipe.lmz"
    os.mkfifo(fifo)
    for action in (lambda: ContainerReader(fifo), lambda: lmarchive.open(fifo), lambda: lmarchive.open(fifo, "a")):
        error = finishes(action, fifo)
        assert isinstance(error, FormatError), repr(error)
        assert str(error) == f"not an .lmz archive: {fifo} is a named pipe"
    commands = (["list", fifo], ["list", "--json", fifo], ["test", fifo], ["extract", fifo, "-o", tmp_path / "out"])
    for command in commands:
        codes: list[int] = []
        assert finishes(lambda c=command, codes=codes: codes.append(main([str(a) for a in c])), fifo) is None
        assert codes == [1]
        err = capsys.readouterr().err
        assert err.splitlines() == [f"lmarchive: error: not an .lmz archive: {fifo} is a named pipe"]


@pytest.mark.skipif(sys.platform == "win32", reason="Windows refuses to open a folder as a file (an OSError)")
def test_a_folder_is_refused_as_an_archive(tmp_path: Path) -> None:
    with pytest.raises(LMArchiveError, match="is a folder"):
        ContainerReader(tmp_path)
    with pytest.raises(LMArchiveError, match="is a folder"):
        lmarchive.open(tmp_path)


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_a_device_is_refused_as_an_archive() -> None:
    with pytest.raises(FormatError, match="is a device"):
        ContainerReader("/dev/null")
