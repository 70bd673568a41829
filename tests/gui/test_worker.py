"""The real worker process (responsiveness, cancel, hard kill, crash) and the synchronous stand-in."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from conftest import make_tree, partial_files
from PySide6.QtCore import QTimer
from pytestqt.qtbot import QtBot

from lmarchive.errors import CancelledError, ModelError, OverwriteError
from lmarchive.jobs import CreateJob, EntryFinished, JobStarted, Progress
from lmarchive_gui.main_window import MainWindow
from lmarchive_gui.settings import SettingsStore
from lmarchive_gui.worker import InlineWorker, ProcessWorker
from lmarchive_gui.worker_process import JobOutcome, JobRequest, run_request

from .conftest import text

BIG = 2 << 20
"""Enough text that the job is surely mid-way at its first progress event (about 15 s of coding)."""


def create_request(job_id: int, archive: Path, *paths: Path) -> JobRequest:
    return JobRequest(job_id, CreateJob(archive=str(archive), paths=tuple(str(p) for p in paths), model="cm2"))


@pytest.fixture(scope="session")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared and only read: the archives and partial files land in each test's own folder."""
    return make_tree(tmp_path_factory.mktemp("big"), {"book.txt": text(BIG, 7)}) / "book.txt"


@pytest.fixture
def process_worker(qtbot: QtBot) -> ProcessWorker:
    worker = ProcessWorker()
    yield worker
    worker.shutdown()


def test_event_loop_stays_responsive_during_a_long_job(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The project's target is event-loop stalls under 100 ms while a job runs (docs/BENCHMARKS.md, "The
    desktop app: responsiveness"); the assertion is generous so CI does not flake."""
    files = make_tree(tmp_path / "many", {f"part{i:02d}.txt": text(8000, i) for i in range(96)})
    worker = ProcessWorker()
    window = MainWindow(SettingsStore(), worker)
    qtbot.addWidget(window)
    window.show()
    target = tmp_path / "many.lmz"
    monkeypatch.setattr(window, "ask_new_archive_path", lambda default: str(target))

    gaps: list[float] = []
    live_rows: list[int] = []
    last = time.monotonic()

    def tick() -> None:
        nonlocal last
        now = time.monotonic()
        gaps.append(now - last)
        last = now
        if worker.busy and window.model.rowCount():
            live_rows.append(window.model.rowCount())

    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(tick)
    timer.start()
    started = time.monotonic()
    with qtbot.waitSignal(window.job_done, timeout=120_000) as done:
        window.new_archive_with([str(files)])
    timer.stop()
    seconds = time.monotonic() - started
    worst = max(gaps) * 1000
    with capsys.disabled():  # the number belongs in every CI log, not only in failures
        print(
            f"\nworst event-loop stall during a {seconds:.1f} s compression job in the worker process: {worst:.0f} ms "
            f"({len(gaps)} ticks of 20 ms)"
        )
    window.shutdown()

    outcome: JobOutcome = done.args[0]
    assert outcome.finished.ok, outcome.finished.error
    assert window.model.rowCount() == 97
    assert live_rows, "finished entries appear in the table while the job still runs"
    assert worst < 1000


def test_cancel_stops_the_process_job_and_leaves_nothing(
    qtbot: QtBot, process_worker: ProcessWorker, big_file: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "big.lmz"
    seen: list[object] = []

    def on_event(event: object) -> None:
        seen.append(event)
        if isinstance(event, Progress):
            process_worker.cancel()

    process_worker.event.connect(on_event)
    with qtbot.waitSignal(process_worker.finished, timeout=60_000) as done:
        process_worker.submit(create_request(1, archive, big_file))
    outcome: JobOutcome = done.args[0]
    assert outcome.finished.cancelled and outcome.error is CancelledError
    assert isinstance(seen[0], JobStarted) and seen[0].device == "CPU"
    assert not archive.exists() and not partial_files(tmp_path)
    assert process_worker.pid is not None, "a cancel the job honoured keeps the process for the next job"


def test_unresponsive_job_is_killed_and_cleaned_up(qtbot: QtBot, big_file: Path, tmp_path: Path) -> None:
    worker = ProcessWorker(cancel_grace_s=0)  # as if the job ignored the cancel: kill at once
    archive = tmp_path / "big.lmz"

    def cancel_at_progress(event: object) -> None:
        if isinstance(event, Progress):
            worker.cancel()

    worker.event.connect(cancel_at_progress)
    with qtbot.waitSignal(worker.finished, timeout=60_000) as done:
        worker.submit(create_request(1, archive, big_file))
    worker.event.disconnect(cancel_at_progress)
    outcome: JobOutcome = done.args[0]
    assert outcome.finished.cancelled
    assert worker.pid is None, "the process was killed"
    assert not archive.exists() and not partial_files(tmp_path), "the killed job's partial file was removed"

    small = make_tree(tmp_path / "small", {"a.txt": text(500)})
    with qtbot.waitSignal(worker.finished, timeout=60_000) as done:
        worker.submit(create_request(2, tmp_path / "small.lmz", small))
    assert done.args[0].finished.ok, "a fresh process takes the next job"
    worker.shutdown()


def test_a_crashed_worker_is_reported_not_fatal(
    qtbot: QtBot, process_worker: ProcessWorker, big_file: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "big.lmz"

    def crash(event: object) -> None:
        if isinstance(event, Progress) and process_worker.pid is not None:
            os.kill(process_worker.pid, signal.SIGKILL)

    process_worker.event.connect(crash)
    with qtbot.waitSignal(process_worker.finished, timeout=60_000) as done:
        process_worker.submit(create_request(1, archive, big_file))
    outcome: JobOutcome = done.args[0]
    assert not outcome.finished.ok and not outcome.finished.cancelled
    assert "stopped unexpectedly" in (outcome.finished.error or "")
    assert not archive.exists() and not partial_files(tmp_path)


def test_a_new_threads_setting_reaches_the_next_job_even_when_set_mid_job(
    qtbot: QtBot, process_worker: ProcessWorker, tmp_path: Path
) -> None:
    """The worker process applies the Threads setting when it starts: a change while it is idle stops
    it, a change during a job lets the job finish, and the next job starts a process of its own."""
    src = make_tree(tmp_path / "src", {"a.txt": text(5000)})
    with qtbot.waitSignal(process_worker.finished, timeout=60_000) as done:
        process_worker.submit(create_request(1, tmp_path / "1.lmz", src))
    first = process_worker.pid
    assert done.args[0].finished.ok and first is not None
    process_worker.set_threads(2)
    assert process_worker.pid is None, "an idle process is stopped at once"
    with qtbot.waitSignal(process_worker.finished, timeout=60_000) as done:
        process_worker.submit(create_request(2, tmp_path / "2.lmz", src))
        process_worker.set_threads(1)
    second = process_worker.pid
    assert done.args[0].finished.ok and second not in (None, first), "the job finished in the new process"
    with qtbot.waitSignal(process_worker.finished, timeout=60_000) as done:
        process_worker.submit(create_request(3, tmp_path / "3.lmz", src))
    assert done.args[0].finished.ok and process_worker.pid not in (None, second)


def test_cancel_from_the_panel_mid_job_leaves_nothing(
    window: MainWindow, big_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "big.lmz"
    monkeypatch.setattr(window, "ask_new_archive_path", lambda default: str(target))
    progress: list[Progress] = []

    def first_progress(event: object) -> None:
        if isinstance(event, Progress) and not progress:
            progress.append(event)
            assert window.progress.isVisible()
            window.progress.cancel_button.click()

    window.worker.event.connect(first_progress)
    window.new_archive_with([str(big_file)])
    assert progress and progress[0].done_bytes < BIG, "the cancel came mid-way"
    assert window.statusBar().currentMessage().startswith("Cancelled")
    assert not target.exists() and not partial_files(tmp_path)
    assert window.archive is None and not window.progress.isVisible()


def test_stand_in_worker_reports_core_errors_by_type(qtbot: QtBot, tmp_path: Path) -> None:
    existing = tmp_path / "there.lmz"
    existing.write_bytes(b"not replaced")
    worker = InlineWorker()
    events: list[object] = []
    worker.event.connect(events.append)
    request = JobRequest(1, CreateJob(archive=str(existing), paths=(str(tmp_path),), model="cm2"))
    with qtbot.waitSignal(worker.finished) as done:
        worker.submit(request)
    outcome: JobOutcome = done.args[0]
    assert outcome.error is OverwriteError and "already exists" in (outcome.finished.error or "")
    assert existing.read_bytes() == b"not replaced"
    assert not any(isinstance(e, EntryFinished) for e in events)

    unknown_model = CreateJob(archive=str(tmp_path / "x.lmz"), model="no-such-model")
    unknown = run_request(JobRequest(2, unknown_model), events.append, worker)
    assert unknown.error is ModelError and "no-such-model" in (unknown.finished.error or "")
