"""Long operations (create, add, extract, test, delete) as cancellable jobs that emit events.

The CLI turns the events into a progress bar, the GUI into signals, tests just collect them.
Events are small frozen dataclasses holding plain numbers and strings (EntryFinished holds the
member's :class:`~lmarchive.member.LMZInfo`, made of the same), so they cross thread and process
boundaries unchanged.  Nothing here knows about Qt.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Protocol

from lmarchive.codec import MAX_CHUNK_SIZE, ChunkPlan
from lmarchive.container import ContainerReader, EntryRecord
from lmarchive.errors import (
    CancelledError,
    DamagedArchiveError,
    LMArchiveError,
    MemberNotFoundError,
    OverwriteError,
    describe_error,
)
from lmarchive.extracting import Resolution, extract_entries
from lmarchive.locking import WriterLock
from lmarchive.member import LMZInfo
from lmarchive.models.base import Predictor
from lmarchive.models.compiling import compile_notices
from lmarchive.models.registry import DEFAULT_MODEL, load_model, model_for
from lmarchive.reading import ReadCallbacks, verify_entries
from lmarchive.writing import Source, WriteCallbacks, collect_sources, write_archive

PROGRESS_INTERVAL = 0.04
"""Seconds between progress events (about 25 per second)."""
COMPILING = "compiling the model for this computer (once; up to a minute)"
"""The Preparing step when numba compiles: the package's shipped code does not fit this CPU or version."""
SMALLEST_MAX_CHUNK = 64 << 10
"""Lowest largest-chunk size a job accepts: shorter chunks leave adaptive models too little to learn from."""
_HANDLES = ("on_event", "cancel_flag")
"""A job's fields that belong to whoever runs it, not to the description of its work."""


@dataclass(frozen=True)
class Preparing:
    """Work that no byte count can show: loading a model before the first byte is coded, or numba
    compiling one (seconds to a minute, only where the package's compiled code does not fit)."""

    step: str


@dataclass(frozen=True)
class JobStarted:
    kind: str
    archive: str
    entries: int
    total_bytes: int
    device: str = "CPU"


@dataclass(frozen=True)
class EntryStarted:
    name: str
    size: int


@dataclass(frozen=True)
class Progress:
    """Bytes done of the job, and of the entry the count has reached (``entry``), in coding order.

    Chunks of many entries are coded at once and only the batch's total is known, so the count is
    laid over the entries in order: ``entry`` is the oldest one not finished, ``entry_done`` of its
    ``entry_total`` bytes done (both 0 when the job has no such layout).
    """

    done_bytes: int
    total_bytes: int
    entry: str | None
    entry_done: int = 0
    entry_total: int = 0


@dataclass(frozen=True)
class EntryFinished:
    """A member coded, extracted or verified, as the archive lists it, and the seconds it took."""

    info: LMZInfo
    seconds: float


@dataclass(frozen=True)
class EntryFailed:
    name: str
    error: str


@dataclass(frozen=True)
class Notice:
    """Something the user should know that did not stop the job (a skipped link, say)."""

    message: str


@dataclass(frozen=True)
class JobFinished:
    ok: bool
    cancelled: bool
    entries: int
    size: int
    packed: int
    gzip_size: int
    seconds: float
    error: str | None = None


Event = Preparing | JobStarted | EntryStarted | Progress | EntryFinished | EntryFailed | Notice | JobFinished
EventHandler = Callable[[Event], None]


class CancelFlag(Protocol):
    def is_set(self) -> bool: ...


def finished_event(entry: EntryRecord, seconds: float) -> EntryFinished:
    """The event for an entry as the directory describes it."""
    return EntryFinished(LMZInfo.from_record(entry), seconds)


@dataclass
class Job:
    """Base of all jobs: event delivery, progress throttling, cancel, and the final summary.

    A job pickles as the description of its work (see :meth:`__reduce__`), so that one process can
    build it and another run it.
    """

    on_event: EventHandler | None = None
    cancel_flag: CancelFlag = field(default_factory=threading.Event)
    device: str = "cpu"
    """Where models run ('cpu' or 'cuda'; see lmarchive.device.resolve_device)."""
    kind: str = field(default="job", init=False)
    archive: str | os.PathLike[str] = ""
    """The archive the job reads or writes."""

    def __post_init__(self) -> None:
        self._done = 0
        self._total = 0
        self._current: str | None = None
        self._names: list[str] = []
        self._ends: list[int] = []
        """Entries with content in coding order, and where each ends in the job's byte count."""
        self._last_progress = 0.0
        self._results: list[EntryFinished] = []
        self._compile_noticed = False

    def __reduce__(self) -> tuple[Callable[[], Job], tuple[()]]:
        """Pickle the work, not the runner's handles: ``on_event`` and ``cancel_flag`` (a threading.Event
        does not pickle) stay behind, and so does the state of a run.  The copy is built afresh, checks
        included; whoever runs it attaches its own handles with :func:`dataclasses.replace`."""
        work = {f.name: getattr(self, f.name) for f in fields(self) if f.init and f.name not in _HANDLES}
        return partial(type(self), **work), ()

    # -- plumbing shared by every job ---------------------------------------------------
    def cancel(self) -> None:
        """Ask the job to stop; it raises CancelledError at its next check and cleans up."""
        if isinstance(self.cancel_flag, threading.Event):
            self.cancel_flag.set()
        else:
            raise TypeError("this job's cancel flag is owned by its creator; set it there")

    def cancelled(self) -> bool:
        return self.cancel_flag.is_set()

    def emit(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def _progress(self, delta: int) -> None:
        """Count ``delta`` more bytes done, and stop here if the job was cancelled: the layers below
        report progress often (and with 0 between steps), so this is where every cancel is noticed."""
        self._check_cancel()
        self._done += delta
        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_INTERVAL or self._done >= self._total:
            self._last_progress = now
            self.emit(self._progress_event())

    def _progress_event(self) -> Progress:
        done = min(self._done, self._total)
        if not self._ends:
            return Progress(done, self._total, self._current)
        at = min(bisect.bisect_right(self._ends, done), len(self._ends) - 1)
        start = self._ends[at - 1] if at else 0
        return Progress(done, self._total, self._names[at], min(done, self._ends[at]) - start, self._ends[at] - start)

    def _lay_out(self, entries: Sequence[tuple[str, int]]) -> None:
        """Set the job's total and the order its entries' bytes are counted in (see :class:`Progress`)."""
        self._names, self._ends = [], []
        for name, size in entries:
            if size:
                self._names.append(name)
                self._ends.append(size + (self._ends[-1] if self._ends else 0))
        self._total = self._ends[-1] if self._ends else 0

    def _prepare_models(self, entries: Sequence[EntryRecord]) -> None:
        """Load the models the entries need before decoding starts, so that the wait shows as such."""
        needed = {(e.model, e.fingerprint) for e in entries if e.model}
        for name, fingerprint in sorted(needed):
            self.emit(Preparing(f"loading the model {name}"))
            try:
                predictor = model_for(name, fingerprint, self.device)
            except LMArchiveError:  # a missing or different model is reported by the decoder, naming its entry
                continue
            self._warm_up(predictor)

    def _warm_up(self, predictor: Predictor) -> None:
        """Code one byte aside (no archive sees it), so that a first run compiles the model here,
        shown as preparation, rather than as a bar stuck at 0% once the job has started."""
        self.emit(Preparing("starting the model"))
        predictor.encode_streams([predictor.tokenize(b"\n")], lambda _done: self._check_cancel())

    def _compiling(self) -> None:
        """numba compiles a kernel (not shipped for this CPU, not in the cache yet): say so, once per job."""
        if not self._compile_noticed:
            self._compile_noticed = True
            self.emit(Preparing(COMPILING))

    def _check_cancel(self) -> None:
        if self.cancelled():
            raise CancelledError("cancelled")

    def _entry_started(self, name: str, size: int) -> None:
        self._current = name
        self.emit(EntryStarted(name, size))

    def _entry_finished(self, event: EntryFinished) -> None:
        self._results.append(event)
        self.emit(event)

    @property
    def results(self) -> list[EntryFinished]:
        """Per-entry results so far (in the order they finished)."""
        return list(self._results)

    def run(self) -> JobFinished:
        """Run to the end; emits JobFinished, then returns it or raises the job's error."""
        started = time.monotonic()
        try:
            with compile_notices(self._compiling):
                self._run()
        except CancelledError:
            self.emit(self._summary(started, ok=False, cancelled=True))
            raise
        except LMArchiveError as exc:
            if self._current is not None and not isinstance(exc, DamagedArchiveError):  # those came one by one
                self.emit(EntryFailed(self._current, str(exc)))
            self.emit(self._summary(started, ok=False, error=str(exc)))
            raise
        except OSError as exc:
            error = LMArchiveError(describe_error(exc))
            self.emit(self._summary(started, ok=False, error=str(error)))
            raise error from exc
        summary = self._summary(started, ok=True)
        self.emit(summary)
        return summary

    def _summary(self, started: float, *, ok: bool, cancelled: bool = False, error: str | None = None) -> JobFinished:
        files = [r.info for r in self._results if not r.info.is_dir()]
        return JobFinished(
            ok,
            cancelled,
            len(self._results),
            sum(f.size for f in files),
            sum(f.packed for f in files),
            sum(f.gzip_size for f in files),
            time.monotonic() - started,
            error,
        )

    def _run(self) -> None:
        raise NotImplementedError

    def _read_callbacks(self) -> ReadCallbacks:
        return ReadCallbacks(
            entry_started=lambda e: self._entry_started(e.name, e.size),
            entry_finished=lambda e, s: self._entry_finished(finished_event(e, s)),
            progress=self._progress,
            entry_failed=lambda e, message: self.emit(EntryFailed(e.name, message)),
        )

    def _write_callbacks(self) -> WriteCallbacks:
        return WriteCallbacks(
            entry_started=lambda s: self._entry_started(s.arcname, s.size),
            entry_finished=lambda r: self._entry_finished(finished_event(r.record, r.seconds)),
            progress=self._progress,
            notice=lambda message: self.emit(Notice(message)),
        )


def device_name(device: str) -> str:
    """'CPU', or 'CUDA (the GPU's name)', for progress displays."""
    if device == "cuda":
        import torch

        return f"CUDA ({torch.cuda.get_device_name(0)})"
    return device.upper()


def _check_plan(plan: ChunkPlan) -> None:
    """Refuse a plan up front, before any file is touched, rather than fail mid-archive."""
    if not SMALLEST_MAX_CHUNK <= plan.max_size <= MAX_CHUNK_SIZE:
        raise LMArchiveError(
            f"largest chunk must be between {SMALLEST_MAX_CHUNK >> 10} KiB and {MAX_CHUNK_SIZE >> 20} MiB, "
            f"not {plan.max_size} bytes"
        )
    if not 0 < plan.min_size <= plan.max_size:
        raise LMArchiveError(f"smallest chunk must be between 1 byte and {plan.max_size} bytes, not {plan.min_size}")


def _select(reader: ContainerReader, members: Sequence[str] | None) -> list[EntryRecord]:
    """Entries named by ``members`` (a folder name selects everything below it); all if None."""
    if not members:
        return list(reader.entries)
    chosen: dict[str, EntryRecord] = {}
    for member in members:
        name = member.strip("/")
        hits = [e for e in reader.entries if e.name == name or e.name.startswith(name + "/")]
        if not hits:
            raise MemberNotFoundError(f"no member named {member!r} in the archive")
        chosen.update((e.name, e) for e in hits)
    return [e for e in reader.entries if e.name in chosen]


@dataclass
class _WritingJob(Job):
    """Shared by create and add: collect sources, then write a new archive atomically."""

    paths: Sequence[str | os.PathLike[str]] = ()
    model: str | None = DEFAULT_MODEL
    sources: Sequence[Source] | None = None
    plan: ChunkPlan | None = None
    """How entries are cut into chunks; None for the core's default."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.plan is not None:
            _check_plan(self.plan)

    def _sources(self) -> list[Source]:
        if self.sources is not None:
            return list(self.sources)
        skipped: list[str] = []
        sources = collect_sources(self.paths, skipped)
        for message in skipped:
            self.emit(Notice(message))
        archive = Path(self.archive).resolve()
        kept = [s for s in sources if s.path is None or s.path.resolve() != archive]
        if len(kept) != len(sources):
            self.emit(Notice(f"skipped {archive}: an archive cannot contain itself"))
        return kept

    def _write(self, base: ContainerReader | None, overwrite: bool) -> None:
        sources = self._sources()
        self._lay_out([(s.arcname, s.size if s.data is None else len(s.data)) for s in sources])
        self.emit(JobStarted(self.kind, str(self.archive), len(sources), self._total, device_name(self.device)))
        if self.model:
            self.emit(Preparing(f"loading the model {self.model}"))
        predictor = load_model(self.model, self.device) if self.model else None
        if predictor is not None and self._total:
            self._warm_up(predictor)
        write_archive(
            self.archive, sources, predictor, self._write_callbacks(), base=base, overwrite=overwrite, plan=self.plan
        )


@dataclass
class CreateJob(_WritingJob):
    """Make a new archive from files and folders; refuses to replace one unless ``overwrite``."""

    overwrite: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kind = "create"

    def _run(self) -> None:
        with WriterLock(self.archive):  # a second create of the same new path is busy, or finds it made
            if not self.overwrite and Path(self.archive).exists():
                raise OverwriteError(f"{self.archive} already exists (use add, or allow overwriting)")
            self._write(None, overwrite=self.overwrite)


@dataclass
class AddJob(_WritingJob):
    """Add (or replace) members; writes a new archive and renames it over the old one."""

    keep: Collection[str] = ()
    """Members left as they are although ``paths`` hold items of those names (a user who chose Skip)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kind = "add"

    def _sources(self) -> list[Source]:
        keep = frozenset(self.keep)
        return [source for source in super()._sources() if source.arcname not in keep]

    def _run(self) -> None:
        with WriterLock(self.archive):  # before reading the base: nobody may replace it until we have
            if not Path(self.archive).exists():
                self._write(None, overwrite=True)
                return
            with ContainerReader(self.archive) as base:
                self._write(base, overwrite=True)


@dataclass
class ExtractJob(Job):
    """Extract all or some members into a folder (never outside it, never overwriting unasked)."""

    dest: str | os.PathLike[str] = "."
    members: Sequence[str] | None = None
    overwrite: bool = False
    keep_going: bool = False
    """Write every intact member of a damaged archive (see :func:`lmarchive.extracting.extract_entries`)."""
    resolutions: Mapping[str, Resolution] = field(default_factory=dict)
    """Per member whose target exists: "replace", "skip" or "rename" (keep both)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kind = "extract"

    def _run(self) -> None:
        with ContainerReader(self.archive) as reader:
            entries = [e for e in _select(reader, self.members) if self.resolutions.get(e.name) != "skip"]
            self._lay_out([(e.name, e.size) for e in entries])
            self.emit(JobStarted(self.kind, str(self.archive), len(entries), self._total, device_name(self.device)))
            self._prepare_models(entries)
            extract_entries(
                reader,
                entries,
                self.dest,
                overwrite=self.overwrite,
                keep_going=self.keep_going,
                resolutions=self.resolutions,
                callbacks=self._read_callbacks(),
                device=self.device,
            )


@dataclass
class TestJob(Job):
    """Decode every member and verify every checksum without writing anything."""

    __test__ = False  # not a pytest test class
    members: Sequence[str] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kind = "test"

    def _run(self) -> None:
        with ContainerReader(self.archive) as reader:
            entries = _select(reader, self.members)
            self._lay_out([(e.name, e.size) for e in entries])
            self.emit(JobStarted(self.kind, str(self.archive), len(entries), self._total, device_name(self.device)))
            self._prepare_models(entries)
            verify_entries(reader, entries, self._read_callbacks(), device=self.device)


@dataclass
class DeleteJob(Job):
    """Remove members (a folder name removes everything below it) by rewriting the archive."""

    members: Sequence[str] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kind = "delete"

    def _run(self) -> None:
        if not self.members:
            raise LMArchiveError("name at least one member to delete")
        with WriterLock(self.archive), ContainerReader(self.archive) as reader:
            doomed = {e.name for e in _select(reader, self.members)}
            self.emit(JobStarted(self.kind, str(self.archive), len(doomed), 0))
            write_archive(self.archive, [], None, self._write_callbacks(), base=reader, drop=doomed)
