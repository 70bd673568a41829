"""One writer at a time per archive: a second writer is refused as busy, never silently lost.

The deterministic tests hold the first writer inside its write (after it read the archive it is
replacing) with a stub around the jobs' ``write_archive``, then start the second writer: before
the lock the second one succeeded and the first then wrote over its change.
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import partial_files, text_bytes

import lmarchive
from lmarchive import cli, jobs
from lmarchive.errors import ArchiveBusyError, OverwriteError
from lmarchive.jobs import AddJob, CreateJob, DeleteJob, Job
from lmarchive.locking import LOCK_PREFIX, WriterLock, lock_path

WAIT_S = 120.0  # only bounds a hang


def busy_message(archive: Path) -> str:
    return f"{archive} is busy: another program is changing it"


@contextlib.contextmanager
def held_inside_write(monkeypatch: pytest.MonkeyPatch, job: Job) -> Iterator[None]:
    """Run ``job`` in a thread and keep it inside write_archive (its base already read) for the block."""
    entered, release = threading.Event(), threading.Event()
    real = jobs.write_archive
    errors: list[BaseException] = []

    def stalled(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is worker:
            entered.set()
            assert release.wait(WAIT_S)
        return real(*args, **kwargs)

    def run() -> None:
        try:
            job.run()
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)

    monkeypatch.setattr(jobs, "write_archive", stalled)
    worker = threading.Thread(target=run)
    worker.start()
    try:
        while not entered.wait(0.05):
            assert worker.is_alive(), f"the first writer ended before it reached its write: {errors}"
        yield
    finally:
        release.set()
        worker.join(WAIT_S)
    if errors:
        raise errors[0]


def outcome(action: Callable[[], object]) -> str:
    """'done', or 'busy' when refused because another writer holds the archive."""
    try:
        action()
    except ArchiveBusyError:
        return "busy"
    return "done"


def names(archive: Path) -> list[str]:
    with lmarchive.open(archive) as lmz:
        lmz.test()
        return lmz.namelist()


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "shared.lmz"
    with lmarchive.open(path, "w") as lmz:
        for name in ("x.txt", "y.txt", "z.txt"):
            lmz.writestr(name, f"content of {name}")
    return path


def source(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_bytes(f"{name} added\n".encode() * 50)
    return path


def test_two_adds_at_once_lose_nothing(monkeypatch: pytest.MonkeyPatch, archive: Path, tmp_path: Path) -> None:
    first = AddJob(archive=archive, paths=[source(tmp_path, "first.txt")])
    second = AddJob(archive=archive, paths=[source(tmp_path, "second.txt")])
    with held_inside_write(monkeypatch, first):
        result = outcome(second.run)
    assert result == "busy"
    assert names(archive) == ["x.txt", "y.txt", "z.txt", "first.txt"]
    assert outcome(second.run) == "done", "free again once the first writer is done"
    assert names(archive) == ["x.txt", "y.txt", "z.txt", "first.txt", "second.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.txt", "second.txt", "shared.lmz"]


def test_two_deletes_at_once_undo_neither(monkeypatch: pytest.MonkeyPatch, archive: Path) -> None:
    with held_inside_write(monkeypatch, DeleteJob(archive=archive, members=["x.txt"])):
        result = outcome(DeleteJob(archive=archive, members=["y.txt"]).run)
    assert result == "busy"
    assert names(archive) == ["y.txt", "z.txt"]


def test_two_creates_of_one_new_path_never_replace_each_other(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = tmp_path / "new.lmz"
    first = CreateJob(archive=target, paths=[source(tmp_path, "first.txt")])
    second = CreateJob(archive=target, paths=[source(tmp_path, "second.txt")])
    with held_inside_write(monkeypatch, first):
        result = outcome(second.run)
    assert result == "busy"
    assert names(target) == ["first.txt"]
    with pytest.raises(OverwriteError, match="already exists"):
        second.run()
    assert names(target) == ["first.txt"]


def test_api_writer_refuses_a_cli_add_until_it_closes(
    capsys: pytest.CaptureFixture[str], archive: Path, tmp_path: Path
) -> None:
    added = source(tmp_path, "cli.txt")
    with lmarchive.open(archive, "a") as lmz:  # holds the lock from here: it read the archive it will replace
        lmz.writestr("api.txt", b"from the API")
        code = cli.main(["add", str(archive), str(added)])
        err = capsys.readouterr().err
    assert (code, err) == (1, f"lmarchive: error: {busy_message(archive)}\n")
    assert names(archive) == ["x.txt", "y.txt", "z.txt", "api.txt"]
    assert cli.main(["-q", "add", str(archive), str(added)]) == 0
    assert names(archive) == ["x.txt", "y.txt", "z.txt", "api.txt", "cli.txt"]


@pytest.mark.parametrize("mode", ["w", "x", "a"])
def test_writing_modes_hold_the_lock_from_open_to_close(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "api.lmz"
    with lmarchive.open(target, mode) as lmz:  # type: ignore[arg-type]
        lmz.writestr("mine", b"mine")
        with pytest.raises(ArchiveBusyError, match="is busy: another program is changing it"):
            lmarchive.open(target, "x")
        with pytest.raises(ArchiveBusyError):
            lmarchive.open(target, "a")
    with lmarchive.open(target) as lmz, lmarchive.open(target) as again:  # readers take no lock
        assert lmz.namelist() == again.namelist() == ["mine"]
    with pytest.raises(OverwriteError):
        lmarchive.open(target, "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["api.lmz"], "no lock file left, even after a refusal"


def test_a_failed_open_releases_the_lock(tmp_path: Path) -> None:
    not_an_archive = tmp_path / "plain.lmz"
    not_an_archive.write_bytes(b"not an archive at all")
    with pytest.raises(lmarchive.FormatError):
        lmarchive.open(not_an_archive, "a")
    with WriterLock(not_an_archive):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.lmz"]


def test_lock_errors_name_the_archive(tmp_path: Path) -> None:
    missing = tmp_path / "no such folder" / "a.lmz"
    with pytest.raises(FileNotFoundError) as caught:
        lmarchive.open(missing, "w")
    assert caught.value.filename == str(missing)


@pytest.mark.skipif(sys.platform == "win32", reason="Windows cannot remove a file another process has open")
def test_a_lock_file_removed_under_a_waiting_writer_is_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder removes its lock file when done; one who opened that file just before must not trust it."""
    import fcntl

    archive = tmp_path / "race.lmz"
    holder = WriterLock(archive)
    real = fcntl.flock
    raced: list[int] = []

    def flock(fd: int, operation: int) -> None:
        if not raced:  # our open is done, our lock not yet: the holder finishes and removes the file
            raced.append(fd)
            holder.release()
        real(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock)
    with WriterLock(archive) as second:
        monkeypatch.setattr(fcntl, "flock", real)
        assert raced and second.path.exists(), "the second writer locked the file now at the path"
        with pytest.raises(ArchiveBusyError):
            WriterLock(archive)
    assert not lock_path(archive).exists()


def test_long_archive_names_keep_helper_files_within_name_limits(tmp_path: Path) -> None:
    target = tmp_path / ("n" * 240 + ".lmz")
    with lmarchive.open(target, "w") as lmz:
        lmz.writestr("a", b"a")
        assert len(lock_path(target).name) < 160
    with lmarchive.open(target, "a") as lmz:
        lmz.writestr("b", b"b")
    assert names(target) == ["a", "b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


# -- many processes -------------------------------------------------------------------------
READER = """
import sys, time
from pathlib import Path
import lmarchive

archive, stop = sys.argv[1], Path(sys.argv[2])
rounds = 0
while not stop.exists() or rounds == 0:
    with lmarchive.open(archive) as lmz:
        assert "base.txt" in lmz.namelist()
        lmz.test()
    rounds += 1
    time.sleep(0.05)  # leave the writers some CPU
print(rounds)
"""

API_WRITER = """
import sys
import lmarchive
from lmarchive.errors import ArchiveBusyError

try:
    with lmarchive.open(sys.argv[1], "a") as lmz:
        lmz.writestr("api.txt", open(sys.argv[2], "rb").read())
except ArchiveBusyError as exc:
    print(exc, file=sys.stderr)
    sys.exit(3)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="a reader's open file blocks the rename there")
def test_many_writers_and_readers(tmp_path: Path, rng: random.Random) -> None:
    """Every addition is in the archive at the end or was refused as busy; no reader ever fails."""
    archive = tmp_path / "many.lmz"
    with lmarchive.open(archive, "w") as lmz:
        lmz.writestr("base.txt", text_bytes(rng, 5_000))
    stop = tmp_path / "stop"
    files = []
    for number in range(3):
        path = tmp_path / f"w{number}.txt"
        path.write_bytes(text_bytes(rng, 40_000))
        files.append(path)
    env = dict(os.environ)

    def start(*command: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )

    readers = [start("-c", READER, str(archive), str(stop)) for _ in range(2)]
    writers = {p.name: start("-m", "lmarchive", "-q", "add", str(archive), str(p)) for p in files[:2]}
    writers["api.txt"] = start("-c", API_WRITER, str(archive), str(files[2]))
    added = set()
    for name, process in writers.items():
        out, err = process.communicate(timeout=WAIT_S)
        if process.returncode == 0:
            added.add(name)
        elif name == "api.txt":
            assert (process.returncode, err) == (3, busy_message(archive) + "\n")
        else:
            assert (process.returncode, err) == (1, f"lmarchive: error: {busy_message(archive)}\n")
    stop.touch()
    for reader in readers:
        out, err = reader.communicate(timeout=WAIT_S)
        assert reader.returncode == 0 and int(out) > 0, err
    assert set(names(archive)) == {"base.txt"} | added
    assert not partial_files(tmp_path) and not list(tmp_path.glob(f"{LOCK_PREFIX}*"))
