"""The job protocol and what runs inside the worker process: requests in, the jobs' own events out.

No Qt here, and nothing heavy at import time: the worker process imports this module first, and
the thread limits it sets for the numeric libraries must be in the environment before numpy (or
torch) loads.

Protocol, over two multiprocessing queues and one multiprocessing.Event:

- requests: :class:`JobRequest` objects, or None to make the process exit.
- events: ``(job_id, event)`` for every core event of a running job except JobFinished (the
  frozen dataclasses of :mod:`lmarchive.jobs`, pickled as they are), then exactly one
  :class:`JobOutcome` per request, which carries the JobFinished.
- cancel: the job's ``cancel_flag``; the parent clears it before each request and sets it to
  cancel.  The core then stops at its next check and removes its temporary files.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Event as ProcessEvent

    from lmarchive.codec import ChunkPlan
    from lmarchive.extracting import Resolution
    from lmarchive.jobs import CancelFlag, Event, Job, JobFinished
    from lmarchive.reading import Damage

CREATE, ADD, EXTRACT, TEST, DELETE = "create", "add", "extract", "test", "delete"
SELFTEST = "selftest"
INSPECT = "inspect"
"""Not a core job: report the device and the model's fingerprint (loading both is the worker's business)."""
SALVAGE = "salvage"
"""Rebuild an archive whose directory is lost: ``paths[0]`` is the damaged one, ``archive`` the one written."""
WRITING_KINDS = (CREATE, ADD, DELETE, SALVAGE)
"""Jobs that write the archive file (through a ``.lmz-partial-*`` file beside it)."""
PARENT_CHECK_S = 1.0
"""How often an idle worker checks that the GUI process is still alive."""
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass(frozen=True)
class JobRequest:
    """One job for the worker; plain strings so it pickles across the process boundary."""

    job_id: int
    kind: str
    archive: str
    model: str
    device: str = "auto"
    paths: tuple[str, ...] = ()
    members: tuple[str, ...] | None = None
    dest: str = ""
    """Extraction folder; for the selftest, a scratch folder the GUI removes at exit."""
    overwrite: bool = False
    keep_going: bool = False
    """For extract: write every intact member of a damaged archive, then report the damaged ones."""
    resolutions: tuple[tuple[str, Resolution], ...] = ()
    """For extract: (member, "replace" | "skip" | "rename") for members whose targets exist."""
    chunk_kib: int = 0
    """Largest chunk for create and add, in KiB (the Settings choice)."""
    keep: tuple[str, ...] = ()
    """For add: members left as they are although ``paths`` hold items of those names (the user chose Skip)."""


@dataclass(frozen=True)
class JobOutcome:
    """How a request ended: the JobFinished summary plus what the GUI needs to react to it."""

    job_id: int
    finished: JobFinished
    error_type: str | None = None
    """Class name of the exception that ended the job ('OverwriteError', ...), None on success."""
    detail: str | None = None
    """The selftest's report."""
    facts: tuple[tuple[str, str], ...] = ()
    """An inspect request's (label, value) pairs."""
    damage: tuple[Damage, ...] = ()
    """A test or extract that found damage: every damaged range of every member (DamagedArchiveError's)."""
    traceback: str | None = None
    """For the log file only, when something other than an archive error stopped the job."""


def _failed(message: str, *, cancelled: bool = False) -> JobFinished:
    from lmarchive.jobs import JobFinished

    return JobFinished(False, cancelled, 0, 0, 0, 0, 0.0, message)


def chunk_plan(request: JobRequest) -> ChunkPlan | None:
    """The request's largest chunk as a core plan (None: the model's own); the smallest stays at the
    core's floor unless that is larger."""
    from lmarchive.codec import ChunkPlan
    from lmarchive.jobs import SMALLEST_MAX_CHUNK

    if not request.chunk_kib:
        return None
    largest = request.chunk_kib * 1024
    return ChunkPlan(min_size=min(SMALLEST_MAX_CHUNK, largest), max_size=largest)


def build_job(request: JobRequest, device: str, on_event: Callable[[Event], None], cancel_flag: CancelFlag) -> Job:
    """The core job a request names, on the resolved ``device``; the GUI never does archive work itself."""
    from lmarchive import jobs

    common: dict[str, Any] = {
        "on_event": on_event,
        "cancel_flag": cancel_flag,
        "archive": request.archive,
        "device": device,
    }
    members = list(request.members) if request.members is not None else None
    match request.kind:
        case "create":
            return jobs.CreateJob(
                **common,
                paths=list(request.paths),
                model=request.model,
                overwrite=request.overwrite,
                plan=chunk_plan(request),
            )
        case "add":
            return jobs.AddJob(
                **common, paths=list(request.paths), model=request.model, plan=chunk_plan(request), keep=request.keep
            )
        case "extract":
            return jobs.ExtractJob(
                **common,
                dest=request.dest,
                members=members,
                overwrite=request.overwrite,
                keep_going=request.keep_going,
                resolutions=dict(request.resolutions),
            )
        case "test":
            return jobs.TestJob(**common, members=members)
        case "delete":
            return jobs.DeleteJob(**common, members=members or ())
    raise ValueError(f"unknown job kind {request.kind!r}")


def inspect(request: JobRequest, device: str) -> JobOutcome:
    """The facts the About dialog shows that need the model loaded (which only the worker does)."""
    from lmarchive.jobs import JobFinished, device_name
    from lmarchive.models.registry import load_model

    model = load_model(request.model, device)
    facts = (("Model", model.name), ("Fingerprint", model.fingerprint.hex()), ("Device", device_name(device)))
    return JobOutcome(request.job_id, JobFinished(True, False, 0, 0, 0, 0, 0.0), facts=facts)


def salvage(request: JobRequest) -> JobOutcome:
    """Write what the recovery records of ``paths[0]`` describe to ``archive``; ``detail`` lists what was dropped."""
    import time

    from lmarchive.jobs import JobFinished
    from lmarchive.salvage import salvage as salvage_archive

    started = time.monotonic()
    result = salvage_archive(request.paths[0], request.archive, overwrite=request.overwrite)
    files = [e for e in result.entries if not e.is_dir]
    finished = JobFinished(
        True, False, len(result.entries), sum(e.size for e in files), 0, 0, time.monotonic() - started
    )
    return JobOutcome(request.job_id, finished, detail="\n".join(result.dropped))


def selftest(request: JobRequest, device: str, cancel_flag: CancelFlag) -> JobOutcome:
    from lmarchive.jobs import JobFinished
    from lmarchive_gui.selftest import run_selftest

    result = run_selftest(request.model, device, request.dest, cancel_flag)
    finished = JobFinished(result.ok, False, 0, 0, 0, 0, result.seconds, None if result.ok else result.report)
    return JobOutcome(request.job_id, finished, None if result.ok else "SelftestFailed", result.report)


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

    try:
        device = resolve_device(request.device)
        if request.kind == INSPECT:
            return inspect(request, device)
        if request.kind == SELFTEST:
            return selftest(request, device, cancel_flag)
        if request.kind == SALVAGE:
            return salvage(request)
        finished = build_job(request, device, on_event, cancel_flag).run()
        return JobOutcome(request.job_id, finished)
    except LMArchiveError as exc:
        cancelled = isinstance(exc, CancelledError)
        finished = summaries[-1] if summaries else _failed(str(exc), cancelled=cancelled)
        damage = exc.damage if isinstance(exc, DamagedArchiveError) else ()
        return JobOutcome(request.job_id, finished, type(exc).__name__, damage=damage)
    except Exception as exc:  # a bug, not a user error: one line for the dialog, the traceback for the log
        return JobOutcome(
            request.job_id,
            _failed(f"internal error: {exc}"),
            type(exc).__name__,
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
