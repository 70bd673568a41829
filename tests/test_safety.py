"""Extraction safety: no overwriting unasked, nothing outside the target, clean failure, no temp files."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest
from conftest import corrupt_chunk, partial_files, snapshot, text_bytes
from raw_format import crc, raw_archive, raw_chunk, raw_entry

import lmarchive
from lmarchive.container import ContainerReader
from lmarchive.errors import CancelledError, ChecksumError, FormatError, LMArchiveError, OverwriteError, UnsafePathError
from lmarchive.extracting import extract_entries
from lmarchive.jobs import ExtractJob
from lmarchive.reading import ReadCallbacks

# --- hand-built archives, straight from docs/FORMAT.md (tests/raw_format.py) ----------------------


def stored_file(name: bytes, data: bytes = b"evil payload") -> bytes:
    """Header + one stored chunk + a directory naming it ``name`` + footer, all checksums right."""
    chunk = raw_chunk(16, len(data), len(data), crc32=crc(data))  # right after the 16-byte header
    entry = raw_entry(name, size=len(data), gzip_size=20 + len(data), crc32=crc(data), chunks=(chunk,))
    return raw_archive(data, [entry])


def test_the_hand_built_archive_is_valid(tmp_path: Path) -> None:
    """The helper itself is right: with a harmless name the archive opens and extracts."""
    archive = tmp_path / "good.lmz"
    archive.write_bytes(stored_file(b"dir/good.txt", b"fine"))
    with lmarchive.open(archive) as lmz:
        assert lmz.namelist() == ["dir/good.txt"]
        lmz.extractall(tmp_path / "out")
    assert snapshot(tmp_path / "out") == {"dir": None, "dir/good.txt": b"fine"}


HOSTILE_NAMES = [
    b"../evil",
    b"/abs",
    b"C:/x",
    b"a\\b",
    b"..",
    b"ok/../../evil",
    b"./x",
    b"a//b",
    b"c:x",
    b"dir/D:/x",
    b"\\\\server\\share\\x",
    b"/",
    b"x\x00y",
    b"",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=[repr(n) for n in HOSTILE_NAMES])
def test_hostile_names_are_rejected_before_anything_is_written(tmp_path: Path, name: bytes) -> None:
    work = tmp_path / "work"
    (work / "target").mkdir(parents=True)
    archive = tmp_path / "hostile.lmz"
    archive.write_bytes(stored_file(name))
    before = snapshot(tmp_path)
    with pytest.raises(FormatError):
        lmarchive.open(archive)
    with pytest.raises(FormatError):
        ContainerReader(archive)
    with pytest.raises(FormatError):
        ExtractJob(archive=archive, dest=work / "target").run()
    with pytest.raises(FormatError):
        shutil.unpack_archive(archive, work / "target")
    with pytest.raises(FormatError):
        lmarchive.open(archive, "a")
    assert snapshot(tmp_path) == before


# --- overwriting --------------------------------------------------------------------------------


def three_files(tmp_path: Path) -> Path:
    archive = tmp_path / "three.lmz"
    with lmarchive.open(archive, "w") as lmz:
        lmz.writestr("a.txt", b"archived a")
        lmz.writestr("sub/b.txt", b"archived b")
        lmz.writestr("c.txt", b"archived c")
    return archive


def test_existing_files_are_not_overwritten_unasked(tmp_path: Path) -> None:
    archive = three_files(tmp_path)
    dest = tmp_path / "dest"
    (dest / "sub").mkdir(parents=True)
    (dest / "sub" / "b.txt").write_bytes(b"mine")
    os.utime(dest / "sub" / "b.txt", ns=(1_000_000_000, 1_000_000_000))
    before = snapshot(dest)
    with lmarchive.open(archive) as lmz:
        with pytest.raises(OverwriteError, match="already exists"):
            lmz.extractall(dest)
        assert snapshot(dest) == before  # not even the members that do not conflict were written
        assert (dest / "sub" / "b.txt").stat().st_mtime_ns == 1_000_000_000
        with pytest.raises(OverwriteError):
            lmz.extract("sub/b.txt", dest)
        with pytest.raises(OverwriteError):
            ExtractJob(archive=archive, dest=dest).run()
        assert snapshot(dest) == before
        assert not partial_files(tmp_path)
        lmz.extractall(dest, overwrite=True)
    assert snapshot(dest) == {"a.txt": b"archived a", "c.txt": b"archived c", "sub": None, "sub/b.txt": b"archived b"}


def test_folders_and_files_do_not_replace_each_other(tmp_path: Path) -> None:
    archive = tmp_path / "kinds.lmz"
    src = tmp_path / "src"
    (src / "folder").mkdir(parents=True)
    with lmarchive.open(archive, "w") as lmz:
        lmz.write(src / "folder", "folder")
        lmz.writestr("file", b"content")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "folder").write_bytes(b"a file where the archive has a folder")
    (dest / "file").mkdir()
    before = snapshot(dest)
    with lmarchive.open(archive) as lmz:
        for overwrite in (False, True):
            with pytest.raises(OverwriteError):
                lmz.extractall(dest, overwrite=overwrite)
    assert snapshot(dest) == before


# --- links in the way -----------------------------------------------------------------------------


@pytest.mark.skipif(os.name == "nt", reason="needs symbolic links")
@pytest.mark.parametrize("overwrite", [False, True])
def test_a_link_at_a_parent_folder_is_refused(tmp_path: Path, overwrite: bool) -> None:
    archive = tmp_path / "l.lmz"
    with lmarchive.open(archive, "w") as lmz:
        lmz.writestr("a.txt", b"harmless")
        lmz.writestr("sub/evil.txt", b"escaped")
        lmz.writestr("sub/deeper/evil2.txt", b"escaped too")
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "sub").symlink_to(outside, target_is_directory=True)
    before = snapshot(tmp_path)
    with lmarchive.open(archive) as lmz:
        with pytest.raises(UnsafePathError, match="link"):
            lmz.extractall(dest, overwrite=overwrite)
        with pytest.raises(UnsafePathError):
            lmz.extract("sub/evil.txt", dest, overwrite=overwrite)
    with pytest.raises(UnsafePathError):
        shutil.unpack_archive(archive, dest)
    assert snapshot(tmp_path) == before
    assert list(outside.iterdir()) == []


@pytest.mark.skipif(os.name == "nt", reason="needs symbolic links")
def test_links_deeper_down_dangling_or_at_the_file_itself_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "l.lmz"
    with lmarchive.open(archive, "w") as lmz:
        lmz.writestr("x/y/z.txt", b"escaped")
        lmz.writestr("victim.txt", b"escaped")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_bytes(b"precious")
    cases = {
        "deeper": lambda d: ((d / "x").mkdir(), (d / "x" / "y").symlink_to(outside)),
        "dangling": lambda d: (d / "x").symlink_to(outside / "does-not-exist"),
        "file": lambda d: (d / "victim.txt").symlink_to(outside / "victim.txt"),
    }
    for label, arrange in cases.items():
        dest = tmp_path / f"dest-{label}"
        dest.mkdir()
        arrange(dest)
        before = snapshot(tmp_path)
        with lmarchive.open(archive) as lmz, pytest.raises(UnsafePathError):
            lmz.extractall(dest, overwrite=True)
        assert snapshot(tmp_path) == before, label
    assert (outside / "victim.txt").read_bytes() == b"precious"
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]


# --- failures clean up ------------------------------------------------------------------------------


def prepared_dest(tmp_path: Path) -> Path:
    """A destination with things of its own that a failed extraction must leave alone."""
    dest = tmp_path / "dest"
    (dest / "pre-existing-dir").mkdir(parents=True)
    (dest / "pre-existing.txt").write_bytes(b"keep me")
    (dest / "pre-existing-dir" / "inner").write_bytes(b"keep me too")
    return dest


def test_failed_extraction_removes_what_it_created(tmp_path: Path, rng: random.Random) -> None:
    archive = tmp_path / "f.lmz"
    with lmarchive.open(archive, "w") as lmz:
        lmz.writestr("first.txt", text_bytes(rng, 900))
        lmz.writestr("nested/second.txt", text_bytes(rng, 900))
        lmz.writestr("nested/empty", b"")
        lmz.writestr("pre-existing-dir/new.txt", b"new")
    corrupt_chunk(archive, "nested/second.txt")
    dest = prepared_dest(tmp_path)
    before = snapshot(dest)
    with lmarchive.open(archive) as lmz:
        with pytest.raises(ChecksumError, match=r"nested/second\.txt"):
            lmz.extractall(dest)
        assert snapshot(dest) == before
        lmz.extract("first.txt", dest)  # the undamaged member still extracts on its own
    assert (dest / "first.txt").exists()
    assert not partial_files(tmp_path)


def test_failure_after_whole_files_were_written_removes_them(tmp_path: Path, rng: random.Random) -> None:
    """66 one-chunk files: the first 64 decode as one batch and are renamed into place before the
    damaged 66th fails; the rollback must remove them, their folders and nothing else."""
    archive = tmp_path / "many.lmz"
    with lmarchive.open(archive, "w") as lmz:
        for i in range(66):
            lmz.writestr(f"d{i % 3}/file{i:02}.bin", rng.randbytes(60))
        lmz.writestr("pre-existing-dir/added", b"x")
    corrupt_chunk(archive, "d2/file65.bin")
    dest = prepared_dest(tmp_path)
    before = snapshot(dest)
    finished: list[str] = []
    callbacks = ReadCallbacks(entry_finished=lambda entry, _seconds: finished.append(entry.name))
    with ContainerReader(archive) as reader, pytest.raises(ChecksumError):
        extract_entries(reader, reader.entries, dest, callbacks=callbacks)
    assert len(finished) >= 64  # whole files were committed before the failure ...
    assert snapshot(dest) == before  # ... and taken back
    assert not partial_files(tmp_path)


def test_failed_extraction_into_a_new_folder_removes_the_folder(tmp_path: Path, rng: random.Random) -> None:
    archive = tmp_path / "f.lmz"
    with lmarchive.open(archive, "w") as lmz:
        lmz.writestr("ok", b"fine")
        lmz.writestr("bad", rng.randbytes(500))
    corrupt_chunk(archive, "bad")
    with lmarchive.open(archive) as lmz, pytest.raises(ChecksumError):
        lmz.extractall(tmp_path / "new" / "deeper")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.lmz"]


def test_cancelled_extraction_leaves_nothing(tmp_path: Path, rng: random.Random) -> None:
    archive = tmp_path / "c.lmz"
    with lmarchive.open(archive, "w") as lmz:
        lmz.writestr("empty", b"")
        lmz.writestr("dir/text.txt", text_bytes(rng, 2000))
    dest = prepared_dest(tmp_path)
    before = snapshot(dest)
    calls = 0

    def progress(_done: int) -> None:
        nonlocal calls
        calls += 1
        if calls > 2:  # after the model decoder got going
            raise CancelledError("cancelled")

    with ContainerReader(archive) as reader, pytest.raises(CancelledError):
        extract_entries(reader, reader.entries, dest, callbacks=ReadCallbacks(progress=progress))
    assert snapshot(dest) == before
    assert not partial_files(tmp_path)


def test_no_temp_files_after_failed_or_refused_writes(tmp_path: Path) -> None:
    archive = tmp_path / "w.lmz"
    with lmarchive.open(archive, "w") as lmz:
        lmz.writestr("file", b"x")
    before = archive.read_bytes()
    lmz = lmarchive.open(archive, "a")
    lmz.writestr("file/inside", b"y")  # refused when the archive is written
    with pytest.raises(LMArchiveError):
        lmz.close()
    source = tmp_path / "vanishing.txt"
    source.write_bytes(b"soon gone")
    lmz = lmarchive.open(archive, "a")
    lmz.add(source)
    source.unlink()
    with pytest.raises(OSError):
        lmz.close()
    assert archive.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.lmz"]
