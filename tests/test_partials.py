"""Temporary files of interrupted writers: SIGTERM and SIGHUP clean up as Ctrl-C does, and what a kill
leaves behind goes with the next write of the same archive (never a live writer's file)."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import random
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import partial_files, text_bytes

import lmarchive
from lmarchive.errors import ArchiveBusyError
from lmarchive.jobs import AddJob, CreateJob, EntryFinished, Progress
from lmarchive.locking import LOCK_PREFIX, lock_path
from lmarchive.safety import TEMP_PREFIX, atomic_output
from lmarchive_gui.worker_process import JobOutcome, JobRequest, serve

posix_signals = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")
WAIT_S = 120.0  # only bounds a hang

# A CLI that sends itself a signal at its first progress event: by then it is coding into its partial.
SIGNALLED_CLI = """
import os, signal, sys
from lmarchive import cli
from lmarchive.cli.console import Console

number = getattr(signal, sys.argv[1])
original = Console.on_event

def on_event(self, event):
    original(self, event)
    if type(event).__name__ == "Progress":
        os.kill(os.getpid(), number)

Console.on_event = on_event
sys.exit(cli.main(sys.argv[2:]))
"""

# A writer killed (os._exit: no cleanup runs, on every platform) in the middle of writing its partial.
KILLED_WRITER = """
import os, sys
import lmarchive

with lmarchive.LMZFile(sys.argv[1], "a", on_event=lambda event: os._exit(9)) as lmz:
    lmz.writestr("doomed.txt", b"never stored " * 1000)
"""


def helper_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith((TEMP_PREFIX, LOCK_PREFIX)))


@pytest.fixture
def existing(tmp_path: Path) -> tuple[Path, bytes]:
    archive = tmp_path / "existing.lmz"
    with lmarchive.open(archive, "w") as lmz:
        lmz.writestr("old.txt", b"old content " * 100)
    return archive, archive.read_bytes()


@pytest.fixture
def big_text(tmp_path: Path, rng: random.Random) -> Path:
    path = tmp_path / "big.txt"
    path.write_bytes(text_bytes(rng, 1_500_000))  # seconds of coding
    return path


@posix_signals
@pytest.mark.parametrize(("name", "status"), [("SIGTERM", 143), ("SIGHUP", 129)])
def test_a_signal_during_create_leaves_no_partial_and_the_old_archive(
    tmp_path: Path, existing: tuple[Path, bytes], rng: random.Random, name: str, status: int
) -> None:
    archive, before = existing
    source = tmp_path / "source.txt"
    source.write_bytes(text_bytes(rng, 100_000))  # its first progress event comes from inside the write
    done = subprocess.run(
        [sys.executable, "-c", SIGNALLED_CLI, name, "create", "--force", str(archive), str(source)],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert (done.returncode, done.stdout, done.stderr) == (status, "", f"lmarchive: cancelled by {name}\n")
    assert archive.read_bytes() == before
    assert helper_files(tmp_path) == []


@posix_signals
def test_sigterm_from_outside_during_add(tmp_path: Path, existing: tuple[Path, bytes], big_text: Path) -> None:
    archive, before = existing
    archive.chmod(0o644)  # the partial gets this mode as the first step of its try block; mkstemp makes 0o600
    child = subprocess.Popen(
        [sys.executable, "-m", "lmarchive", "add", str(archive), str(big_text)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + WAIT_S
    # Wait until the writer is inside atomic_output's try block (a kill before it is not this test's).
    while not any(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in partial_files(tmp_path)):
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the child never started writing"
        time.sleep(0.02)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=WAIT_S)
    assert (child.returncode, err) == (143, "lmarchive: cancelled by SIGTERM\n")
    assert archive.read_bytes() == before
    assert helper_files(tmp_path) == []


@posix_signals
def test_sigterm_to_the_gui_worker_process_cleans_up(
    tmp_path: Path, big_text: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "gui.lmz"
    context = multiprocessing.get_context("spawn")
    requests, events, cancel = context.Queue(), context.Queue(), context.Event()
    worker = context.Process(target=serve, args=(requests, events, cancel, 1), daemon=True)
    worker.start()
    try:
        requests.put(JobRequest(1, CreateJob(archive=str(archive), paths=(str(big_text),), model="fast")))
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                message = events.get(timeout=1.0)
            except queue.Empty:
                assert time.monotonic() < deadline and worker.is_alive(), "the job never got going"
                continue
            assert not isinstance(message, JobOutcome), message
            if isinstance(message[1], Progress):
                break
        os.kill(worker.pid, signal.SIGTERM)  # type: ignore[arg-type]
        deadline = time.monotonic() + WAIT_S
        while worker.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):  # keep its queue moving, or it could not exit
                events.get(timeout=0.1)
        assert worker.exitcode == 143
    finally:
        if worker.is_alive():
            worker.kill()
            worker.join()
        for channel in (requests, events):
            channel.cancel_join_thread()
            channel.close()
    assert not archive.exists() and helper_files(tmp_path) == []
    assert "Traceback" not in capfd.readouterr().err


def test_a_killed_writers_partial_and_lock_go_with_the_next_add(tmp_path: Path, existing: tuple[Path, bytes]) -> None:
    archive, before = existing
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(archive)], capture_output=True, timeout=WAIT_S)
    assert done.returncode == 9, done.stderr
    assert archive.read_bytes() == before
    left = helper_files(tmp_path)
    assert len(left) == 2 and lock_path(archive).name in left, left  # the partial, and the lock file
    added = tmp_path / "new.txt"
    added.write_bytes(b"new")
    AddJob(archive=archive, paths=[added]).run()
    assert helper_files(tmp_path) == []
    with lmarchive.open(archive) as lmz:
        assert lmz.namelist() == ["old.txt", "new.txt"]


def test_live_temporary_files_are_left_alone(tmp_path: Path, existing: tuple[Path, bytes], rng: random.Random) -> None:
    """A running writer's partial survives others' writes: of its archive (refused), of another archive,
    and an extraction's temporary file in the same folder survives too."""
    archive, _ = existing
    other = tmp_path / "other.lmz"
    added = tmp_path / "new.txt"
    added.write_bytes(b"new")
    fd, extracting = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=tmp_path)  # as an extraction names its file
    seen: list[list[str]] = []

    def meanwhile(event: object) -> None:
        if not isinstance(event, EntryFinished) or seen:
            return
        live = helper_files(tmp_path)
        with pytest.raises(ArchiveBusyError):
            AddJob(archive=archive, paths=[added]).run()
        AddJob(archive=other, paths=[added]).run()
        seen.append(live)
        seen.append(helper_files(tmp_path))

    with lmarchive.LMZFile(archive, "a", on_event=meanwhile) as lmz:
        lmz.writestr("mine.txt", text_bytes(rng, 5000))
    os.close(fd)
    assert seen and seen[0] == seen[1], "nobody removed a live file"
    assert len([n for n in seen[0] if n.startswith(TEMP_PREFIX + archive.name)]) == 1
    assert helper_files(tmp_path) == [Path(extracting).name]
    with lmarchive.open(archive) as lmz:
        assert lmz.namelist() == ["old.txt", "mine.txt"]
        lmz.test()


def test_only_partials_of_the_archive_written_are_removed(tmp_path: Path, existing: tuple[Path, bytes]) -> None:
    """A stale-looking partial of another archive ('existing.lmz.x') is that archive's writer's business."""
    archive, _ = existing
    neighbour = tmp_path / "existing.lmz.x"
    with atomic_output(neighbour) as handle:
        handle.write(b"in progress")
        theirs = helper_files(tmp_path)
        with lmarchive.open(archive, "a") as lmz:
            lmz.writestr("more.txt", b"more")
        assert helper_files(tmp_path) == theirs
    assert helper_files(tmp_path) == []
