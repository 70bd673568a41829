"""One job at a time: submitting core jobs to the worker, following their events, and routing each outcome.

The window asks for a job with :meth:`JobController.submit` and what to do when it succeeds (or
fails); the controller keeps the job while it runs and tells the window, by signals, what to show.
When the outcome comes, ``ending`` lets the window bring its listing up to date first, so the
job's own callback, run next, sees the archive as the job left it; ``done`` comes last of all.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from lmarchive.jobs import EntryFinished, Event, Notice
from lmarchive_gui.settings import Settings
from lmarchive_gui.worker import Worker
from lmarchive_gui.worker_process import ADD, CREATE, DELETE, EXTRACT, TEST, JobOutcome, JobRequest, Task

log = logging.getLogger(__name__)

ERROR_TITLES = {
    CREATE: "Could not create the archive",
    ADD: "Could not add to the archive",
    EXTRACT: "Could not extract",
    TEST: "The archive failed its test",
    DELETE: "Could not delete",
}
BUSY_MESSAGE = "A job is running: wait for it to finish, or cancel it (Esc)"
ROWS_MS = 50
"""How long finished entries gather before the listing shows them, as one insert and one sort."""

OutcomeHandler = Callable[[JobOutcome], object]


@dataclass
class ActiveJob:
    """A submitted job, and what to do with its outcome."""

    request: JobRequest
    on_success: OutcomeHandler | None
    on_failure: OutcomeHandler | None
    """Replaces the error message when given."""
    restore: Path | None = None
    """For a create: the archive shown before it, shown again if the create makes nothing (cancelled, failed)."""


class JobController(QObject):
    """Submits jobs to the worker, one at a time, and turns their events and outcomes into signals."""

    started = Signal(object)
    """A JobRequest, just before the worker gets it."""
    job_event = Signal(object)
    """Each core event of the running job (not ``event``: that would hide QObject.event(), which Qt calls)."""
    rows_finished = Signal(list)
    """EntryFinished events of a create or add, a batch at a time."""
    ending = Signal(object)
    """The ActiveJob whose outcome came: the window updates its view before the job's callbacks run."""
    message = Signal(str)
    """A line for the status bar."""
    error = Signal(str, str)
    """A failure nothing else handled: its title and message."""
    done = Signal(object)
    """Each JobOutcome, after everything else."""

    def __init__(self, worker: Worker, settings: Callable[[], Settings], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._worker = worker
        self._settings = settings
        self._job: ActiveJob | None = None
        self._ids = itertools.count(1)
        self._notices: list[str] = []
        self._finished_rows: list[EntryFinished] = []
        self._row_timer = QTimer(self)
        self._row_timer.setSingleShot(True)
        self._row_timer.setInterval(ROWS_MS)
        self._row_timer.timeout.connect(self._flush_rows)
        worker.event.connect(self._on_worker_event)
        worker.finished.connect(self._on_job_finished)

    @property
    def busy(self) -> bool:
        """Whether the worker is running a job."""
        return self._worker.busy

    @property
    def running(self) -> JobRequest | None:
        """The request of the job running now, if any."""
        return self._job.request if self._job is not None else None

    def check_idle(self) -> bool:
        """Whether a job can start now; when one is running, the status bar says so."""
        if self.busy:
            self.message.emit(BUSY_MESSAGE)
            return False
        return True

    def submit(
        self,
        task: Task,
        *,
        on_success: OutcomeHandler | None = None,
        on_failure: OutcomeHandler | None = None,
        restore: Path | None = None,
    ) -> bool:
        """Start a core job (as the flow built it; the worker attaches its handles) or an app task, on the
        device the settings choose (False, and a word in the status bar, while another job runs)."""
        if not self.check_idle():
            return False
        request = JobRequest(next(self._ids), task, self._settings().device)
        self._start(ActiveJob(request, on_success, on_failure, restore))
        return True

    def _start(self, job: ActiveJob) -> None:
        self._job = job
        self._notices = []
        self.started.emit(job.request)
        self._worker.submit(job.request)

    def _on_worker_event(self, event: Event) -> None:
        job = self._job
        if job is None:
            return
        self.job_event.emit(event)
        if isinstance(event, EntryFinished) and job.request.kind in (CREATE, ADD):
            self._finished_rows.append(event)
            if not self._row_timer.isActive():
                self._row_timer.start()
        elif isinstance(event, Notice):
            self._notices.append(event.message)

    def _flush_rows(self) -> None:
        rows, self._finished_rows = self._finished_rows, []
        if rows:
            self.rows_finished.emit(rows)

    def _on_job_finished(self, outcome: JobOutcome) -> None:
        job, self._job = self._job, None
        if job is None or outcome.job_id != job.request.job_id:
            return
        self._row_timer.stop()
        self._flush_rows()
        self.ending.emit(job)
        finished = outcome.finished
        if finished.cancelled:
            self.message.emit("Cancelled: nothing was changed")
            if job.on_failure is not None:
                job.on_failure(outcome)
        elif not finished.ok:
            if job.on_failure is not None:
                job.on_failure(outcome)
            else:
                self.error.emit(ERROR_TITLES.get(job.request.kind, "The job failed"), finished.error or "unknown error")
        else:
            if self._notices:
                more = f" (and {len(self._notices) - 1} more)" if len(self._notices) > 1 else ""
                log.info("notices: %s", self._notices)
                self.message.emit(f"Note: {self._notices[0]}{more}")
            if job.on_success is not None:
                job.on_success(outcome)
        self.done.emit(outcome)
