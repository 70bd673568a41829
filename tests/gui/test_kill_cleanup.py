"""What the GUI removes after it had to kill its worker: the killed job's temporaries, nothing else."""

from __future__ import annotations

import time
from pathlib import Path

from lmarchive.jobs import AddJob, ExtractJob
from lmarchive.locking import WriterLock
from lmarchive_gui.worker import clean_up_killed_job
from lmarchive_gui.worker_process import JobRequest


def touch(path: Path) -> Path:
    path.write_bytes(b"x")
    return path


def test_an_extraction_keeps_originals_and_other_writers_files(tmp_path: Path) -> None:
    since = time.time()
    (tmp_path / "sub").mkdir()
    decoding = touch(tmp_path / "sub" / ".lmz-partial-0123456789abcdef")
    original = touch(tmp_path / "sub" / ".lmz-original-0123456789abcdef")  # the user's file, moved aside
    writer = touch(tmp_path / ".lmz-partial-other.lmz.k2j3h4.tmp")  # another program writing other.lmz
    request = JobRequest(1, ExtractJob(archive=str(tmp_path / "a.lmz"), dest=str(tmp_path)))
    clean_up_killed_job(request, ["sub/file.txt"], since)
    assert not decoding.exists()
    assert original.exists() and writer.exists()


def test_a_writing_job_cleans_up_only_when_no_other_writer_has_the_archive(tmp_path: Path) -> None:
    archive = tmp_path / "a.lmz"
    request = JobRequest(1, AddJob(archive=str(archive), model="cm2"))
    other = WriterLock(archive)  # a writer that took the lock after the kill: the file may be its own
    partial = touch(tmp_path / ".lmz-partial-a.lmz.k2j3h4.tmp")
    clean_up_killed_job(request, [], time.time() - 5)
    assert partial.exists()
    other.release()
    clean_up_killed_job(request, [], time.time() - 5)
    assert not partial.exists() and not list(tmp_path.glob(".lmz-lock-*"))
