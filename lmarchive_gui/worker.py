"""Running core jobs off the GUI thread: a long-lived worker process, and an in-process stand-in.

Why a process and not a thread: a job holds the GIL whenever it runs Python between its compiled
calls (the codec around the kernels, the zstd and gzip trials, the files it reads and writes), so
a codec running in the GUI process would make the window stutter however the work is threaded.
A separate process keeps the event loop free, can be killed when a cancel is not honoured (a
thread cannot be), and a crash in native code takes down only the worker, not the window with the
user's work in it.  The process uses the spawn start method (the same on every OS, and safe with
Qt's threads) and stays alive between jobs, so a model loads once.

Both workers share one interface: ``submit(request)``, ``cancel()``, ``busy``, ``set_threads()``, ``shutdown()``,
and the signals ``event`` (a core event of the running job) and ``finished`` (its
:class:`~lmarchive_gui.worker_process.JobOutcome`).  :class:`InlineWorker` runs the job synchronously
inside ``submit``, which makes tests deterministic.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QObject, QTimer, Signal

from lmarchive.errors import ArchiveBusyError, CancelledError
from lmarchive.extracting import is_decoding_temporary
from lmarchive.jobs import EntryStarted, ExtractJob, JobFinished
from lmarchive.locking import WriterLock
from lmarchive.safety import TEMP_PREFIX
from lmarchive_gui.worker_process import (
    WRITING_KINDS,
    JobOutcome,
    JobRequest,
    Selftest,
    WorkerLost,
    run_request,
    serve,
)

if TYPE_CHECKING:
    from lmarchive.jobs import Event

log = logging.getLogger(__name__)

CANCEL_GRACE_S = 3.0
"""How long a cancelled job may take to stop by itself before the worker process is killed."""
SHUTDOWN_GRACE_S = 2.0
POLL_MS = 15
POLL_BUDGET_S = 0.02
"""Longest the GUI thread spends handling worker messages per poll, so a burst never stalls it."""


class Worker(QObject):
    """The interface the window talks to; one job at a time."""

    event = Signal(object)  # type: ignore[assignment]  # shadows QObject.event(), which Qt still calls in C++
    finished = Signal(object)

    @property
    def busy(self) -> bool:
        raise NotImplementedError

    def submit(self, request: JobRequest) -> None:
        raise NotImplementedError

    def cancel(self) -> None:
        raise NotImplementedError

    def set_threads(self, threads: int) -> None:
        """Apply the Threads setting to later jobs (:func:`~lmarchive_gui.worker_process.limit_threads`);
        the in-process stand-in, for tests, leaves the process's own as they are."""

    def shutdown(self) -> None:
        """Stop whatever runs and release the worker's resources; the application is quitting."""


class InlineWorker(Worker):
    """Runs each job to its end inside :meth:`submit`, on the calling thread.

    Deterministic, for tests; a slot connected to ``event`` may call :meth:`cancel` and the job
    stops at its next check.  The window does not repaint while a job runs, so the app never
    uses this one.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cancel = threading.Event()
        self._busy = False

    @property
    def busy(self) -> bool:
        return self._busy

    def submit(self, request: JobRequest) -> None:
        if self._busy:
            raise RuntimeError("a job is already running")
        self._cancel.clear()
        self._busy = True
        try:
            outcome = run_request(request, self.event.emit, self._cancel)
        finally:
            self._busy = False
        self.finished.emit(outcome)

    def cancel(self) -> None:
        self._cancel.set()


@dataclass
class _Running:
    """The job in flight, and what a hard kill must clean up after it."""

    request: JobRequest
    started: float = field(default_factory=time.time)
    entries: list[str] = field(default_factory=list)
    cancel_requested: bool = False


def clean_up_killed_job(request: JobRequest, started_entries: list[str], since: float) -> None:
    """Remove the temporary files the core may have left when its process was killed during ``request``.

    A writing job's temporary file sits beside the archive: taking the archive's writer lock (now
    free, its holder is dead) removes it, and leaves it when another writer already holds the lock,
    since that file may then be the other writer's.  An extraction's decoding temporaries sit
    beside each file it extracts; only those made since the job began are the killed job's.  Files
    an extraction had already finished stay (each was verified before it got its name), and so do
    originals an overwriting extraction had moved aside (``.lmz-original-*``): after a kill they
    may be the user's only copy.
    """
    if request.kind in WRITING_KINDS:
        with contextlib.suppress(ArchiveBusyError, OSError):
            WriterLock(request.archive).release()
        return
    if not isinstance(request.task, ExtractJob):
        return
    dest = Path(request.task.dest)
    for folder in {dest, *(dest / PurePosixPath(name).parent for name in started_entries)}:
        with contextlib.suppress(OSError):
            for path in folder.glob(f"{TEMP_PREFIX}*"):
                with contextlib.suppress(OSError):
                    if is_decoding_temporary(path.name) and path.is_file() and path.stat().st_mtime >= since - 1:
                        path.unlink()
                        log.info("removed %s left by the killed worker", path)


class ProcessWorker(Worker):
    """Runs jobs in a spawned worker process; messages come back through a queue polled by a QTimer.

    Polling (every 15 ms, at most 20 ms of work per poll) keeps the GUI thread in charge of when
    messages are handled, needs no extra thread, and unpickles only small events.
    """

    def __init__(self, threads: int = 0, parent: QObject | None = None, *, cancel_grace_s: float = CANCEL_GRACE_S):
        super().__init__(parent)
        self._threads = threads
        self._process_threads = threads
        """The setting the running process applied at its start."""
        self._cancel_grace_s = cancel_grace_s
        self._context = multiprocessing.get_context("spawn")
        self._process: multiprocessing.process.BaseProcess | None = None
        self._requests: multiprocessing.queues.Queue[JobRequest | None] | None = None
        self._events: multiprocessing.queues.Queue[object] | None = None
        self._cancel = self._context.Event()
        self._running: _Running | None = None
        self._poll_timer = QTimer(self)
        self._poll_timer.setInterval(POLL_MS)
        self._poll_timer.timeout.connect(self._poll)
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill_unresponsive)

    @property
    def busy(self) -> bool:
        return self._running is not None

    @property
    def pid(self) -> int | None:
        """The worker process's id while it runs (for tests and the log)."""
        return self._process.pid if self._process is not None and self._process.is_alive() else None

    def set_threads(self, threads: int) -> None:
        """Apply a new thread limit: the process applies it at its start, so an idle one is stopped
        now and a busy one after its job, and the next job starts a process with the new limit."""
        if threads != self._threads:
            self._threads = threads
            if not self.busy:
                self._stop_process()

    def _start_process(self) -> None:
        self._requests = self._context.Queue()
        self._events = self._context.Queue()
        self._process_threads = self._threads
        self._process = self._context.Process(
            target=serve,
            args=(self._requests, self._events, self._cancel, self._threads),
            name="lmarchive-worker",
            daemon=True,
        )
        self._process.start()
        log.info("worker process %s started (threads: %s)", self._process.pid, self._threads or "automatic")

    def submit(self, request: JobRequest) -> None:
        if self.busy:
            raise RuntimeError("a job is already running")
        if self._process is None or not self._process.is_alive() or self._process_threads != self._threads:
            self._stop_process()
            self._start_process()
        assert self._requests is not None
        self._cancel.clear()
        self._running = _Running(request)
        self._requests.put(request)
        self._poll_timer.start()

    def cancel(self) -> None:
        """Ask the job to stop; kill the process if it has not stopped after a grace period."""
        if self._running is None or self._running.cancel_requested:
            return
        self._running.cancel_requested = True
        self._cancel.set()
        self._kill_timer.start(int(self._cancel_grace_s * 1000))

    def _poll(self) -> None:
        deadline = time.monotonic() + POLL_BUDGET_S
        while self._running is not None and self._events is not None and time.monotonic() < deadline:
            try:
                message = self._events.get_nowait()
            except queue.Empty:
                if self._process is not None and not self._process.is_alive():
                    self._lost(f"the worker process stopped unexpectedly (exit code {self._process.exitcode})")
                return
            except (EOFError, OSError, ValueError) as exc:  # the pipe broke under a dying process
                self._lost(f"lost contact with the worker process ({exc})")
                return
            self._handle(message)

    def _handle(self, message: object) -> None:
        running = self._running
        assert running is not None
        if isinstance(message, JobOutcome):
            if message.job_id == running.request.job_id:
                self._finish(message)
            return
        job_id, event = cast("tuple[int, Event]", message)  # the worker sends outcomes and (job id, event)
        if job_id != running.request.job_id:
            return
        if isinstance(event, EntryStarted):
            running.entries.append(event.name)
        self.event.emit(event)

    def _finish(self, outcome: JobOutcome) -> None:
        self._kill_timer.stop()
        self._poll_timer.stop()
        self._running = None
        if outcome.traceback:
            log.error("job failed inside the worker:\n%s", outcome.traceback)
        self.finished.emit(outcome)

    def _kill_unresponsive(self) -> None:
        if self._running is not None:
            log.warning("the job did not stop within %.1f s of cancel: killing the worker", self._cancel_grace_s)
            self._lost(None)

    def _lost(self, error: str | None) -> None:
        """End the running job without its process: kill it, remove its temporary files, report.

        ``error`` None means the user cancelled and we killed the process on purpose.
        """
        running = self._running
        assert running is not None
        self._stop_process(graceful=False)
        clean_up_killed_job(running.request, running.entries, running.started)
        if isinstance(running.request.task, Selftest):
            error = error or "the selftest was cancelled"
        cancelled = error is None
        message = "cancelled" if cancelled else error
        finished = JobFinished(False, cancelled, 0, 0, 0, 0, time.time() - running.started, message)
        self._finish(JobOutcome(running.request.job_id, finished, CancelledError if cancelled else WorkerLost))

    def _stop_process(self, *, graceful: bool = True) -> None:
        """Stop the process (asking first when ``graceful``) and close its queues."""
        process, requests, events = self._process, self._requests, self._events
        self._process = self._requests = self._events = None
        if process is not None:
            if graceful and process.is_alive() and requests is not None:
                with contextlib.suppress(OSError, ValueError):
                    requests.put(None)
                process.join(SHUTDOWN_GRACE_S)
            if process.is_alive():
                process.terminate()
                process.join(1.0)
            if process.is_alive():
                process.kill()
                process.join(1.0)
            log.info("worker process %s stopped (exit code %s)", process.pid, process.exitcode)
        for channel in (requests, events):
            if channel is not None:
                channel.cancel_join_thread()
                channel.close()

    def shutdown(self) -> None:
        """On quit: cancel the job, ask the process to stop, wait briefly, then kill it."""
        self._poll_timer.stop()
        self._kill_timer.stop()
        if self._running is not None:
            self._cancel.set()
            running, self._running = self._running, None
            self._stop_process()
            clean_up_killed_job(running.request, running.entries, running.started)
        else:
            self._stop_process()
