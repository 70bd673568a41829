"""kill -9 in the middle of writing: the target is never partial (absent, or exactly as before)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import WORDS

import lmarchive
from lmarchive.locking import LOCK_PREFIX
from lmarchive.safety import TEMP_PREFIX

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")

# About 4 MB of text-like data: coding it takes far longer than the test waits before the kill.
SCRIPT = """
import random, sys
import lmarchive

words = sys.argv[3].split()
rng = random.Random(99)
data = " ".join(rng.choice(words) for _ in range(700_000)).encode()
with lmarchive.open(sys.argv[1], sys.argv[2]) as lmz:
    lmz.writestr("big.txt", data)
    lmz.writestr("small.txt", b"small")
"""

START_LIMIT = 120.0  # seconds to wait for the child to start coding; only bounds a hang


def kill_while_coding(archive: Path, mode: str) -> None:
    """Run SCRIPT on ``archive`` in a child, SIGKILL it once it is writing its temporary file."""
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(archive), mode, " ".join(WORDS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + START_LIMIT
        while not list(archive.parent.glob(f"{TEMP_PREFIX}*")):
            if child.poll() is not None:
                _, err = child.communicate()
                pytest.fail(f"the child ended (rc {child.returncode}) before it started coding: {err.decode()}")
            if time.monotonic() > deadline:
                pytest.fail("the child never started writing its temporary archive")
            time.sleep(0.02)
        time.sleep(1.0)  # well into coding (gzip sizes, zstd, then the model)
        assert child.poll() is None, "the child finished before it could be killed: give it more data"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
        assert child.returncode == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()  # type: ignore[union-attr]
        child.stderr.close()  # type: ignore[union-attr]


def others(folder: Path) -> list[str]:
    """Names in ``folder`` other than the hidden files a kill may leave (a partial, a lock file)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith((TEMP_PREFIX, LOCK_PREFIX)))


def test_kill_during_create_leaves_no_archive(tmp_path: Path) -> None:
    archive = tmp_path / "created.lmz"
    kill_while_coding(archive, "w")
    assert not archive.exists()
    assert others(tmp_path) == []  # at most a hidden temporary file, never anything at the target's name


def test_kill_during_add_leaves_the_archive_as_it_was(tmp_path: Path) -> None:
    archive = tmp_path / "existing.lmz"
    with lmarchive.open(archive, "w") as lmz:
        lmz.writestr("old.txt", b"old content " * 100)
        lmz.writestr("dir/old.bin", bytes(range(256)))
    before = archive.read_bytes()
    kill_while_coding(archive, "a")
    assert archive.read_bytes() == before
    assert others(tmp_path) == ["existing.lmz"]
    with lmarchive.open(archive) as lmz:
        assert lmz.namelist() == ["old.txt", "dir/old.bin"]
        lmz.test()
        assert lmz.read("old.txt") == b"old content " * 100
