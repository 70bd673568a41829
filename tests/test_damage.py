"""A damaged archive costs only what is damaged: test names every damaged member and byte range,
extract with keep-going writes everything intact, and the messages blame only the damaged member."""

from __future__ import annotations

import random
import zlib
from pathlib import Path

import pytest
from conftest import corrupt_chunk, make_tree, partial_files, text_bytes

import lmarchive
from lmarchive import cli
from lmarchive.codec import ChunkPlan
from lmarchive.container import ContainerWriter, EntryRecord, EntryType, Method
from lmarchive.errors import DamagedArchiveError
from lmarchive.jobs import CreateJob, EntryFailed, EntryFinished, Event, TestJob
from lmarchive.reading import Damage

PIECE = 64 << 10
"""Chunk size of the test archives: members of a few chunks each."""


@pytest.fixture
def members(rng: random.Random) -> dict[str, bytes]:
    return {"a.txt": text_bytes(rng, 3 * PIECE), "b.txt": text_bytes(rng, 3 * PIECE), "c.txt": text_bytes(rng, 1000)}


def make(tmp_path: Path, members: dict[str, bytes]) -> Path:
    src = make_tree(tmp_path / "src", members)
    archive = tmp_path / "d.lmz"
    plan = ChunkPlan(min_size=PIECE, max_size=PIECE)
    CreateJob(archive=archive, paths=sorted(src.iterdir()), model="fast", plan=plan).run()
    return archive


DAMAGE = 0x5A
"""The bits :func:`conftest.corrupt_chunk` flips here (flipping them again undoes the damage)."""


def test_test_names_the_damaged_member_and_range_and_checks_the_rest(tmp_path: Path, members: dict[str, bytes]) -> None:
    archive = make(tmp_path, members)
    corrupt_chunk(archive, "b.txt", 1, flip=DAMAGE)
    events: list[Event] = []
    with pytest.raises(DamagedArchiveError) as info:
        TestJob(archive=archive, on_event=events.append).run()
    (damage,) = info.value.damage
    assert (damage.name, damage.start, damage.end, damage.chunk) == ("b.txt", PIECE, 2 * PIECE, 1)
    assert "'b.txt': bytes 65,536-131,071 (chunk 2)" in str(info.value)
    assert "a.txt" not in str(info.value) and "c.txt" not in str(info.value)
    assert [e.name for e in events if isinstance(e, EntryFailed)] == ["b.txt"]
    assert sorted(e.info.name for e in events if isinstance(e, EntryFinished)) == ["a.txt", "c.txt"]


def test_the_cli_lists_every_damaged_range(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, members: dict[str, bytes]
) -> None:
    archive = make(tmp_path, members)
    corrupt_chunk(archive, "a.txt", 0, flip=DAMAGE)
    corrupt_chunk(archive, "b.txt", 2, flip=DAMAGE)
    assert cli.main(["test", str(archive)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("lmarchive: damaged: 'a.txt': bytes 0-65,535 (chunk 1): ")
    assert lines[1].startswith("lmarchive: damaged: 'b.txt': bytes 131,072-196,607 (chunk 3): ")
    assert lines[2] == "lmarchive: error: 2 damaged ranges in 2 members; everything else is intact"
    assert len(lines) == 3
    corrupt_chunk(archive, "b.txt", 2, flip=DAMAGE)  # undo: one damaged range is told in the error line alone
    assert cli.main(["test", str(archive)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("lmarchive: error: 'a.txt': bytes 0-65,535 (chunk 1): ")


def test_extract_without_keep_going_writes_nothing_and_blames_one_member(
    tmp_path: Path, members: dict[str, bytes]
) -> None:
    archive = make(tmp_path, members)
    corrupt_chunk(archive, "b.txt", 1, flip=DAMAGE)
    out = tmp_path / "out"
    with lmarchive.open(archive) as lmz, pytest.raises(lmarchive.ChecksumError) as info:
        lmz.extractall(out)
    assert str(info.value).startswith("'b.txt': bytes 65,536-131,071 (chunk 2): ")
    assert not out.exists()


def test_keep_going_writes_every_intact_member_and_the_rest_of_a_damaged_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, members: dict[str, bytes]
) -> None:
    archive = make(tmp_path, members)
    corrupt_chunk(archive, "b.txt", 1, flip=DAMAGE)
    out = tmp_path / "out"
    assert cli.main(["extract", "--keep-going", str(archive), "-o", str(out)]) == 1
    (err,) = capsys.readouterr().err.splitlines()
    assert err.startswith("lmarchive: error: 'b.txt': bytes 65,536-131,071 (chunk 2)")
    assert (out / "a.txt").read_bytes() == members["a.txt"]
    assert (out / "c.txt").read_bytes() == members["c.txt"]
    salvaged = (out / "b.txt").read_bytes()
    expected = members["b.txt"][:PIECE] + bytes(PIECE) + members["b.txt"][2 * PIECE :]
    assert salvaged == expected  # the lost range is zeros, everything else is the original
    assert not partial_files(tmp_path)


def test_keep_going_on_an_intact_archive_is_an_ordinary_extraction(tmp_path: Path, members: dict[str, bytes]) -> None:
    archive = make(tmp_path, members)
    with lmarchive.open(archive) as lmz:
        lmz.extractall(tmp_path / "out", keep_going=True)
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == members


def test_a_member_whose_chunks_pass_but_whose_checksum_fails_is_lost_whole(tmp_path: Path) -> None:
    data = b"every chunk is fine, the member's own checksum is not"
    archive = tmp_path / "crc.lmz"
    with archive.open("wb") as handle:
        writer = ContainerWriter(handle)
        chunk = writer.write_chunk(data, len(data), len(data), zlib.crc32(data))
        wrong = zlib.crc32(data) ^ 1
        record = EntryRecord("m", EntryType.FILE, len(data), 0, 0o644, Method.STORE, crc32=wrong, chunks=(chunk,))
        writer.add_entry(record)
        writer.close()
    with lmarchive.open(archive) as lmz, pytest.raises(DamagedArchiveError) as info:
        lmz.test()
    assert info.value.damage == (Damage("m", 0, len(data), "content failed its checksum"),)
    with lmarchive.open(archive) as lmz, pytest.raises(DamagedArchiveError):
        lmz.extractall(tmp_path / "out", keep_going=True)
    assert (tmp_path / "out" / "m").read_bytes() == data  # what the chunks hold, reported as doubtful
