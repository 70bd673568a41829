"""The job protocol and what runs inside the worker process: requests in, the jobs' own events out.

No Qt here, and nothing heavy at import time: the worker process imports this module first, and
the thread limits it sets for the numeric libraries must be in the environment before numpy (or
torch) loads.

Protocol, over two multiprocessing queues and one multiprocessing.Event:

- requests: :class:`JobRequest` objects, or None to make the process exit.  A request carries the
  core's own job (:class:`lmarchive.jobs.Job`, which pickles as the description of its work) or
  one of the app's tasks that are not core jobs (:class:`Inspect`, :class:`Selftest`, :class:`Salvage`).
- events: ``(job_id, event)`` for every core event of a running job except JobFinished (the
  frozen dataclasses of :mod:`lmarchive.jobs`, pickled as they are), then exactly one
  :class:`JobOutcome` per request, which carries the JobFinished and the class of the error.
- cancel: the job's ``cancel_flag``; the parent clears it before each request and sets it to
  cancel.  The core then stops at its next check and removes its temporary files.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import queue
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeAlias

if TYPE_CHECKING:
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Event as ProcessEvent

    from lmarchive.jobs import CancelFlag, Event, Job, JobFinished
    from lmarchive.reading import Damage

CREATE, ADD, EXTRACT, TEST, DELETE = "create", "add", "extract", "test", "delete"
"""The core jobs' ``kind``s."""
SELFTEST, INSPECT, SALVAGE = "selftest", "inspect", "salvage"
WRITING_KINDS = (CREATE, ADD, DELETE, SALVAGE)
"""Jobs that write the archive file (through a ``.lmz-partial-*`` file beside it)."""
PARENT_CHECK_S = 1.0
"""How often an idle worker checks that the GUI process is still alive."""
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass(frozen=True)
class Inspect:
    """Not a core job: report the device and the model's fingerprint (loading both is the worker's business)."""

    model: str
    kind: ClassVar[str] = INSPECT


@dataclass(frozen=True)
class Selftest:
    """Not a core job: check the model and the coder against the shipped vectors."""

    model: str
    scratch: str
    """A folder for the selftest's files, which the GUI removes at exit."""
    kind: ClassVar[str] = SELFTEST


@dataclass(frozen=True)
class Salvage:
    """Not a core job: rebuild ``damaged``, whose directory is lost, into ``archive`` from its recovery records."""

    damaged: str
    archive: str
    overwrite: bool = False
    kind: ClassVar[str] = SALVAGE


Task: TypeAlias = "Job | Inspect | Selftest | Salvage"
"""What a request asks of the worker (a string: the core is not imported here until a job runs)."""


@dataclass(frozen=True)
class JobRequest:
    """One task for the worker: a core job as the app built it (without its handles), or an app task."""

    job_id: int
    task: Task
    device: str = "auto"
    """The Settings choice, resolved in the worker: finding a GPU may import torch, which the GUI does not need."""

    @property
    def kind(self) -> str:
        return self.task.kind

    @property
    def archive(self) -> str:
        """The archive the task reads or writes ('' for inspect and the selftest)."""
        return "" if isinstance(self.task, Inspect | Selftest) else str(self.task.archive)


class WorkerLost(Exception):
    """An outcome's error when the worker process died or stopped answering before it reported."""


class SelftestFailed(Exception):
    """An outcome's error when a selftest check did not pass; the report is the outcome's ``detail``."""


class InternalError(Exception):
    """An outcome's error when something other than an archive error stopped the job: a bug.

    Its own class stays in the traceback: an arbitrary exception class might not pickle by reference.
    """


@dataclass(frozen=True)
class JobOutcome:
    """How a request ended: the JobFinished summary plus what the GUI needs to react to it."""

    job_id: int
    finished: JobFinished
    error: type[Exception] | None = None
    """The class of the exception that ended the job (an LMArchiveError, CancelledError for a cancel,
    or one of this module's: WorkerLost, SelftestFailed, InternalError), None on success."""
    detail: str | None = None
    """The selftest's report."""
    facts: tuple[tuple[str, str], ...] = ()
    """An inspect request's (label, value) pairs."""
    damage: tuple[Damage, ...] = ()
    """A test or extract that found damage: every damaged range of every member (DamagedArchiveError's)."""
    traceback: str | None = None
    """For the log file only, when something other than an archive error stopped the job."""

    def failed_with(self, error: type[Exception]) -> bool:
        """Whether the job ended with ``error`` or one of its subclasses."""
        return self.error is not None and issubclass(self.error, error)


def _failed(message: str, *, cancelled: bool = False) -> JobFinished:
    from lmarchive.jobs import JobFinished

    return JobFinished(False, cancelled, 0, 0, 0, 0, 0.0, message)


def inspect(job_id: int, task: Inspect, device: str) -> JobOutcome:
    """The facts the About dialog shows that need the model loaded (which only the worker does)."""
    from lmarchive.jobs import JobFinished, device_name
    from lmarchive.models.registry import load_model

    model = load_model(task.model, device)
    facts = (("Model", model.name), ("Fingerprint", model.fingerprint.hex()), ("Device", device_name(device)))
    return JobOutcome(job_id, JobFinished(True, False, 0, 0, 0, 0, 0.0), facts=facts)


def salvage(job_id: int, task: Salvage) -> JobOutcome:
    """Write what the recovery records of ``task.damaged`` describe to ``task.archive``; ``detail``
    lists what was dropped."""
    import time

    from lmarchive.jobs import JobFinished
    from lmarchive.salvage import salvage as salvage_archive

    started = time.monotonic()
    result = salvage_archive(task.damaged, task.archive, overwrite=task.overwrite)
    files = [e for e in result.entries if not e.is_dir]
    finished = JobFinished(
        True, False, len(result.entries), sum(e.size for e in files), 0, 0, time.monotonic() - started
    )
    return JobOutcome(job_id, finished, detail="\n".join(result.dropped))


def selftest(job_id: int, task: Selftest, device: str, cancel_flag: CancelFlag) -> JobOutcome:
    from lmarchive.jobs import JobFinished
    from lmarchive_gui.selftest import run_selftest

    result = run_selftest(task.model, device, task.scratch, cancel_flag)
    finished = JobFinished(result.ok, False, 0, 0, 0, 0, result.seconds, None if result.ok else result.report)
    return JobOutcome(job_id, finished, None if result.ok else SelftestFailed, result.report)


def run_request(request: JobRequest, emit: Callable[[Event], None], cancel_flag: CancelFlag) -> JobOutcome:
    """Run one request to its end and describe how it ended; never raises."""
    from lmarchive.device import resolve_device
    from lmarchive.errors import CancelledError, DamagedArchiveError, LMArchiveError
    from lmarchive.jobs import JobFinished

    summaries: list[JobFinished] = []

    def on_event(event: Event) -> None:
        if isinstance(event, JobFinished):
            summaries.append(event)
        else:
            emit(event)

    task = request.task
    try:
        device = resolve_device(request.device)
        if isinstance(task, Inspect):
            return inspect(request.job_id, task, device)
        if isinstance(task, Selftest):
            return selftest(request.job_id, task, device, cancel_flag)
        if isinstance(task, Salvage):
            return salvage(request.job_id, task)
        job = dataclasses.replace(task, on_event=on_event, cancel_flag=cancel_flag, device=device)
        return JobOutcome(request.job_id, job.run())
    except LMArchiveError as exc:
        cancelled = isinstance(exc, CancelledError)
        finished = summaries[-1] if summaries else _failed(str(exc), cancelled=cancelled)
        damage = exc.damage if isinstance(exc, DamagedArchiveError) else ()
        return JobOutcome(request.job_id, finished, type(exc), damage=damage)
    except Exception as exc:  # a bug, not a user error: one line for the dialog, the traceback for the log
        return JobOutcome(
            request.job_id,
            _failed(f"internal error: {exc}"),
            InternalError,
            traceback=traceback.format_exc(),
        )


def limit_threads(threads: int) -> None:
    """Apply the Threads setting (0: automatic) to this process, before numpy or torch loads: the
    threads that code streams (:mod:`lmarchive.models.threads`; automatic is up to 4), and the
    numeric libraries' own pools (automatic leaves them at every core)."""
    if threads > 0:
        for name in THREAD_VARIABLES:
            os.environ[name] = str(threads)
    from lmarchive.models.threads import set_coding_threads  # imports lmarchive, and numpy with it

    set_coding_threads(threads)


def serve(requests: Queue[JobRequest | None], events: Queue[object], cancel: ProcessEvent, threads: int) -> None:
    """The worker process's main loop: one job at a time until it receives None or the GUI is gone.

    The process lives between jobs, so a model is loaded once (the registry caches it).  It also
    holds both ends of its queues, so a GUI that died without saying goodbye shows up only as a
    dead parent process, which it checks while idle.
    """
    limit_threads(threads)
    from lmarchive.errors import Terminated
    from lmarchive.safety import terminate_unwinds

    parent = multiprocessing.parent_process()
    # The GUI stops a worker that does not finish with SIGTERM, a closed terminal sends SIGHUP:
    # unwinding removes the running job's temporary file and lock, as a cancel would.
    try:
        with terminate_unwinds():
            while True:
                try:
                    request = requests.get(timeout=PARENT_CHECK_S)
                except queue.Empty:
                    if parent is not None and not parent.is_alive():
                        return
                    continue
                if request is None:
                    return

                def emit(event: Event, job_id: int = request.job_id) -> None:
                    events.put((job_id, event))

                outcome = run_request(request, emit, cancel)
                events.put(outcome)
    except Terminated as exc:
        sys.exit(128 + exc.signum)  # the shell's convention; SystemExit ends the process without a traceback
