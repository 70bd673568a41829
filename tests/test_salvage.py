"""Salvaging an archive whose directory is gone, from the recovery records written after each entry."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import text_bytes

import lmarchive
from lmarchive import cli
from lmarchive.codec import ChunkPlan
from lmarchive.container import ContainerReader, ContainerWriter, EntryRecord, EntryType
from lmarchive.container.format import RECOVERY_MAGIC
from lmarchive.errors import FormatError, LMArchiveError
from lmarchive.jobs import CreateJob
from lmarchive.salvage import salvage

PIECE = 64 << 10


@pytest.fixture
def archive(tmp_path: Path, rng: random.Random) -> tuple[Path, dict[str, bytes]]:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    members = {
        "src/a.txt": text_bytes(rng, 2 * PIECE + 100),
        "src/sub/b.bin": rng.randbytes(3000) + RECOVERY_MAGIC + rng.randbytes(100),  # the magic inside data
        "src/empty": b"",
        "src/z.txt": text_bytes(rng, 3 * PIECE),
    }
    for name, data in members.items():
        (tmp_path / name).write_bytes(data)
    path = tmp_path / "s.lmz"
    CreateJob(archive=path, paths=[src], model="fast", plan=ChunkPlan(min_size=PIECE, max_size=PIECE)).run()
    return path, members


def cut(path: Path, keep: int) -> Path:
    broken = path.with_name("broken.lmz")
    broken.write_bytes(path.read_bytes()[:keep])
    return broken


def contents(path: Path) -> dict[str, bytes]:
    with lmarchive.open(path) as lmz:
        lmz.test()
        return {i.name: lmz.read(i.name) for i in lmz.infolist() if not i.is_dir()}


def test_a_cut_off_directory_loses_nothing(archive: tuple[Path, dict[str, bytes]]) -> None:
    path, members = archive
    with ContainerReader(path) as reader:
        names = sorted(e.name for e in reader.entries)
        data_end = max(c.offset + c.coded_len for e in reader.entries for c in e.chunks)
    broken = cut(path, data_end + 200)  # the last record survives, the directory does not
    with pytest.raises(FormatError):
        lmarchive.open(broken)
    result = salvage(broken, path.with_name("fixed.lmz"))
    assert not result.directory_intact and not result.dropped
    assert sorted(e.name for e in result.entries) == names  # in the order the records were written
    assert contents(path.with_name("fixed.lmz")) == members


def test_a_member_cut_in_its_chunks_is_lost_and_the_others_kept(archive: tuple[Path, dict[str, bytes]]) -> None:
    path, members = archive
    with ContainerReader(path) as reader:
        last = reader.get("src/z.txt")
        assert last is not None and len(last.chunks) == 3
        end = last.chunks[1].offset + 10
        lost = {e.name for e in reader.entries if any(c.offset + c.coded_len > end for c in e.chunks)}
    assert "src/z.txt" in lost and len(lost) < len(members)
    result = salvage(cut(path, end), path.with_name("fixed.lmz"))
    assert not lost & {e.name for e in result.entries}
    expected = {name: data for name, data in members.items() if name not in lost}
    assert contents(path.with_name("fixed.lmz")) == expected


def test_a_damaged_header_too(archive: tuple[Path, dict[str, bytes]]) -> None:
    path, members = archive
    blob = bytearray(path.read_bytes()[:-100])
    blob[:16] = bytes(16)
    broken = path.with_name("broken.lmz")
    broken.write_bytes(bytes(blob))
    result = salvage(broken, path.with_name("fixed.lmz"))
    with ContainerReader(path.with_name("fixed.lmz")) as reader:
        assert reader.version == (1, 0)  # not known to be 1.1: decoded without the end bound, which is always safe
    assert len(result.entries) == 6  # two folders, four files
    assert contents(path.with_name("fixed.lmz")) == members


def test_an_intact_archive_is_left_alone(archive: tuple[Path, dict[str, bytes]]) -> None:
    path, _ = archive
    assert salvage(path, path.with_name("fixed.lmz")).directory_intact
    assert not path.with_name("fixed.lmz").exists()


def test_an_archive_without_records_says_so(tmp_path: Path) -> None:
    path = tmp_path / "old.lmz"
    with path.open("wb") as handle:  # as a writer before recovery records did it
        writer = ContainerWriter(handle)
        chunk = writer.write_chunk(b"hello", 5, 5, 0x3610A686)
        writer.add_entry(EntryRecord("a", EntryType.FILE, 5, 0, 0o644, crc32=0x3610A686, chunks=(chunk,)))
        writer.close()
    broken = cut(path, 30)
    with pytest.raises(LMArchiveError, match="no recovery records"):
        salvage(broken, tmp_path / "fixed.lmz")
    assert not (tmp_path / "fixed.lmz").exists()


def test_the_cli_salvages_next_to_the_archive(
    capsys: pytest.CaptureFixture[str], archive: tuple[Path, dict[str, bytes]]
) -> None:
    path, members = archive
    broken = cut(path, path.stat().st_size - 30)
    assert cli.main(["salvage", str(broken)]) == 0
    out = capsys.readouterr().out
    fixed = broken.with_name("broken-salvaged.lmz")
    assert out.startswith("salvaged 6 entries") and str(fixed) in out
    assert contents(fixed) == members
    assert cli.main(["salvage", str(broken)]) == 1  # refuses to replace what it wrote
    assert "already exists" in capsys.readouterr().err
    assert cli.main(["salvage", "--force", str(broken)]) == 0
    assert cli.main(["salvage", str(path)]) == 0
    assert "directory is intact" in capsys.readouterr().out


def test_records_cost_little_and_readers_ignore_them(archive: tuple[Path, dict[str, bytes]]) -> None:
    path, members = archive
    with ContainerReader(path) as reader:
        covered = sum(c.coded_len for e in reader.entries for c in e.chunks)
        directory = path.stat().st_size - covered
    assert contents(path) == members
    assert directory < 2000  # header, footer, directory and one record per entry
