"""Extraction against a changing destination, overwriting that loses nothing, and modes as tar applies them.

Races are made deterministic by a hook in the decoding iterator the extraction reads from: it changes
the destination at an exact point (before a member starts, or between two of its chunks).
"""

from __future__ import annotations

import os
import random
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import corrupt_chunk, partial_files, snapshot

import lmarchive
from lmarchive import extracting, reading, safety
from lmarchive.container import EntryRecord
from lmarchive.errors import ExtractError, FormatError, OverwriteError, UnsafePathError
from lmarchive.jobs import ExtractJob

POSIX_ONLY = pytest.mark.skipif(os.name == "nt", reason="POSIX links and permission bits")
BIG = 2_200_000  # random bytes are stored in 1 MiB chunks: three chunks, so there is a "meanwhile"


@pytest.fixture(params=["dir-fd", "path"])
def walk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of reaching a target: through folder descriptors, and the re-checked paths Windows gets."""
    if request.param == "path":
        monkeypatch.setattr(safety, "NOFOLLOW_DIRS", False)
    elif not safety.NOFOLLOW_DIRS:
        pytest.skip("this platform cannot resolve names relative to a folder")
    return str(request.param)


def hook(monkeypatch: pytest.MonkeyPatch, member: str, chunk: int, action: Callable[[], None]) -> list[int]:
    """Run ``action`` once, just before the extraction receives chunk ``chunk`` of ``member``."""
    real = extracting.iter_chunks
    ran: list[int] = []

    def hooked(*args: object, **kwargs: object) -> Iterator[tuple[EntryRecord, int, bytes]]:
        for item in real(*args, **kwargs):  # type: ignore[arg-type]
            if item[0].name == member and item[1] == chunk and not ran:
                ran.append(1)
                action()
            yield item

    monkeypatch.setattr(extracting, "iter_chunks", hooked)
    return ran


def make_archive(path: Path, members: dict[str, bytes], modes: dict[str, int] | None = None) -> Path:
    with lmarchive.open(path, "w", model="cm2") as lmz:
        for name, data in members.items():
            lmz.writestr(name, data, mode=(modes or {}).get(name, 0o644))
    return path


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


# --- targets that change while decoding ---------------------------------------------------------------


@pytest.mark.parametrize("chunk", [0, 1], ids=["before-the-member", "while-it-decodes"])
def test_a_file_that_appears_meanwhile_is_not_replaced(
    tmp_path: Path, rng: random.Random, monkeypatch: pytest.MonkeyPatch, walk: str, chunk: int
) -> None:
    archive = make_archive(tmp_path / "a.lmz", {"first.txt": b"first", "sub/big.bin": rng.randbytes(BIG)})
    dest = tmp_path / "dest"
    dest.mkdir()

    def intrude() -> None:
        (dest / "sub").mkdir(exist_ok=True)
        (dest / "sub" / "big.bin").write_bytes(b"the intruder's")

    ran = hook(monkeypatch, "sub/big.bin", chunk, intrude)
    with lmarchive.open(archive) as lmz, pytest.raises(OverwriteError, match=r"'sub/big\.bin' already exists"):
        lmz.extractall(dest)
    assert ran
    assert snapshot(dest) == {"sub": None, "sub/big.bin": b"the intruder's"}  # first.txt taken back too
    assert not partial_files(tmp_path)


@POSIX_ONLY
@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("chunk", [0, 1], ids=["before-the-member", "while-it-decodes"])
def test_a_folder_swapped_for_a_link_meanwhile_is_not_followed(
    tmp_path: Path, rng: random.Random, monkeypatch: pytest.MonkeyPatch, walk: str, chunk: int, overwrite: bool
) -> None:
    archive = make_archive(tmp_path / "a.lmz", {"sub/first.txt": b"first", "sub/big.bin": rng.randbytes(BIG)})
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()

    def swap() -> None:
        (dest / "sub").rename(dest / "moved")
        (dest / "sub").symlink_to(outside, target_is_directory=True)

    ran = hook(monkeypatch, "sub/big.bin", chunk, swap)
    with lmarchive.open(archive) as lmz, pytest.raises(UnsafePathError, match=r"'sub/big\.bin'"):
        lmz.extractall(dest, overwrite=overwrite)
    assert ran
    assert list(outside.iterdir()) == []
    if walk == "dir-fd":  # the temporary file went into the folder it was opened in, and was removed there
        assert not partial_files(tmp_path)


# --- overwriting keeps the originals until the whole extraction succeeded -----------------------------


def test_a_failed_overwrite_puts_every_original_back(
    tmp_path: Path, rng: random.Random, monkeypatch: pytest.MonkeyPatch, walk: str
) -> None:
    members = {"a.txt": b"archived a", "sub/b.bin": rng.randbytes(5000), "c.bin": rng.randbytes(5000)}
    archive = make_archive(tmp_path / "a.lmz", members)
    corrupt_chunk(archive, "c.bin")
    dest = tmp_path / "dest"
    (dest / "sub").mkdir(parents=True)
    originals = {"a.txt": b"my a", "sub/b.bin": b"my b", "c.bin": b"my c"}
    for name, data in originals.items():
        (dest / name).write_bytes(data)
        os.utime(dest / name, ns=(10**18, 10**18))
    inodes = {name: (dest / name).stat().st_ino for name in originals}
    monkeypatch.setattr(reading, "MAX_BATCH_CHUNKS", 1)  # one chunk a batch: a and b are written before c fails
    finished: list[str] = []
    job = ExtractJob(archive=archive, dest=dest, overwrite=True, on_event=lambda e: finished.append(type(e).__name__))
    with pytest.raises(FormatError, match=r"c\.bin"):
        job.run()
    assert finished.count("EntryFinished") == 2  # a.txt and sub/b.bin had replaced the originals ...
    assert snapshot(dest) == {"sub": None, **originals}  # ... and were put back, byte for byte
    assert {name: (dest / name).stat().st_ino for name in originals} == inodes  # the very same files
    assert all((dest / name).stat().st_mtime_ns == 10**18 for name in originals)
    assert not partial_files(tmp_path)

    del members["c.bin"]  # a complete extraction replaces them and leaves no backups behind
    with lmarchive.open(archive) as lmz:
        lmz.extractall(dest, members=list(members), overwrite=True)
    assert snapshot(dest) == {"sub": None, **members, "c.bin": b"my c"}
    assert not partial_files(tmp_path)


# --- modes ---------------------------------------------------------------------------------------------


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """Set the process umask for the test; the old one is restored afterwards."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def folder_entry(lmz: lmarchive.LMZFile, tmp_path: Path, name: str, mode: int) -> None:
    source = tmp_path / "folders" / name
    source.mkdir(parents=True)
    source.chmod(mode)
    lmz.write(source, name)


MODES = {"rw.txt": 0o666, "run": 0o775, "suid": 0o4755, "sgid": 0o2775, "only-suid": 0o4000, "none": 0o000}
EXPECTED = {
    0o022: {"rw.txt": 0o644, "run": 0o755, "suid": 0o755, "sgid": 0o755, "only-suid": 0, "none": 0, "dir": 0o755},
    0o077: {"rw.txt": 0o600, "run": 0o700, "suid": 0o700, "sgid": 0o700, "only-suid": 0, "none": 0, "dir": 0o700},
}


@POSIX_ONLY
@pytest.mark.parametrize("mask", sorted(EXPECTED), ids=lambda mask: f"umask-{mask:03o}")
def test_modes_follow_the_umask_and_lose_setuid(
    tmp_path: Path, umask: Callable[[int], None], walk: str, mask: int
) -> None:
    archive = tmp_path / "m.lmz"
    with lmarchive.open(archive, "w", model="cm2") as lmz:
        for name, mode in MODES.items():
            lmz.writestr(name, name.encode(), mode=mode)
        folder_entry(lmz, tmp_path, "dir", 0o1777)  # sticky and world-writable
        folder_entry(lmz, tmp_path, "locked", 0o000)
        lmz.writestr("locked/inside", b"reachable", mode=0o644)
    umask(mask)
    dest = tmp_path / "dest"
    with lmarchive.open(archive) as lmz:
        lmz.extractall(dest)
    got = {name: mode_of(dest / name) for name in EXPECTED[mask]}
    assert got == EXPECTED[mask]
    assert mode_of(dest / "locked") == 0o700  # no bits stored, but the owner keeps rwx to reach its contents
    for name in MODES:  # content first, then the mode: a file without permissions still has its bytes
        (dest / name).chmod(0o600)
        assert (dest / name).read_bytes() == name.encode()
    assert (dest / "locked" / "inside").read_bytes() == b"reachable"


@POSIX_ONLY
def test_folders_that_already_exist_keep_their_mode_and_time(
    tmp_path: Path, umask: Callable[[int], None], walk: str
) -> None:
    archive = tmp_path / "home.lmz"
    with lmarchive.open(archive, "w", model="cm2") as lmz:
        folder_entry(lmz, tmp_path, ".ssh", 0o777)
        lmz.writestr(".ssh/config", b"Host *", mode=0o600)
        folder_entry(lmz, tmp_path, "docs", 0o777)
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh").chmod(0o700)
    (home / "docs").mkdir()
    (home / "docs").chmod(0o750)
    os.utime(home / "docs", ns=(10**18, 10**18))
    with lmarchive.open(archive) as lmz:
        lmz.extractall(home)
    assert mode_of(home / ".ssh") == 0o700
    assert mode_of(home / "docs") == 0o750
    assert (home / "docs").stat().st_mtime_ns == 10**18
    assert (home / ".ssh" / "config").read_bytes() == b"Host *"


# --- names the file system cannot hold ----------------------------------------------------------------


def test_a_name_too_long_for_the_file_system_is_an_archive_error(tmp_path: Path, walk: str) -> None:
    long_name = "n" * 300  # over NAME_MAX (255) on every common file system
    archive = make_archive(tmp_path / "a.lmz", {"ok.txt": b"fine", f"sub/{long_name}": b"x"})
    dest = tmp_path / "dest"
    with lmarchive.open(archive) as lmz, pytest.raises(ExtractError, match=r"cannot extract 'sub/nnn.*: .+") as info:
        lmz.extractall(dest)
    assert not isinstance(info.value, OSError)
    assert not dest.exists()


@POSIX_ONLY
def test_a_path_longer_than_path_max_extracts_or_fails_as_an_archive_error(tmp_path: Path, walk: str) -> None:
    deep = "/".join(["d" * 200] * 25) + "/file.txt"  # 5000 bytes: over PATH_MAX (4096) as one path
    archive = make_archive(tmp_path / "a.lmz", {deep: b"deep"})
    dest = tmp_path / "dest"
    with lmarchive.open(archive) as lmz:
        if walk == "dir-fd":  # one component at a time: no path is ever that long
            lmz.extractall(dest)
            fd = os.open(dest, os.O_RDONLY)
            try:
                for part in deep.split("/")[:-1]:
                    fd, parent = os.open(part, os.O_RDONLY, dir_fd=fd), fd
                    os.close(parent)
                assert os.stat("file.txt", dir_fd=fd).st_size == 4
            finally:
                os.close(fd)
        else:
            with pytest.raises(ExtractError, match=r"cannot extract 'ddd"):
                lmz.extractall(dest)
            assert not dest.exists()
