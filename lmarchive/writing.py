"""Building an archive: gather sources, code their chunks in batches across files, write entries.

Chunks of many files go through the model together, so a folder of small files codes as fast as
one big file.  The archive is written to a temporary file and renamed over the target only when
it is complete; entries carried over from an existing archive are copied without re-coding.
"""

from __future__ import annotations

import io
import os
import stat
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

from lmarchive import codec
from lmarchive.codec import ChunkPlan
from lmarchive.container import (
    BOUNDED_STREAMS,
    FORMAT_VERSION,
    ChunkRecord,
    ContainerReader,
    ContainerWriter,
    EntryRecord,
    EntryType,
    Method,
    name_problem,
    show,
    validate_name,
)
from lmarchive.errors import AccessError, LMArchiveError
from lmarchive.files import NotARegularFile, file_kind, open_regular
from lmarchive.models.base import Predictor
from lmarchive.models.registry import load_model
from lmarchive.safety import atomic_output

MAX_BATCH_CHUNKS = 64
MAX_BATCH_BYTES = 64 << 20


@dataclass(frozen=True)
class Source:
    """Something to put in the archive: a file or folder on disk, or bytes given directly."""

    arcname: str
    path: Path | None = None
    data: bytes | None = None
    is_dir: bool = False
    mtime_ns: int = 0
    mode: int = 0o644
    size: int = 0


def source_from_path(path: Path, arcname: str) -> Source:
    """A :class:`Source` for one file or folder (not recursing), with its metadata."""
    validate_name(arcname)
    st = path.stat()
    if stat.S_ISDIR(st.st_mode):
        return Source(arcname, path, is_dir=True, mtime_ns=st.st_mtime_ns, mode=stat.S_IMODE(st.st_mode))
    if not stat.S_ISREG(st.st_mode):
        raise NotARegularFile(str(path), file_kind(st.st_mode))
    return Source(arcname, path, mtime_ns=st.st_mtime_ns, mode=stat.S_IMODE(st.st_mode), size=st.st_size)


def _unstorable(path: Path, arcname: str) -> str | None:
    """Why an input found on disk is left out of the archive (a warning), or None to store it.

    Format 1.1 stores files and folders under UTF-8 names, as tar and 7-Zip users expect an
    archiver to skip what it cannot store (with a word) rather than give up on the whole tree.
    """
    if path.is_symlink():
        return f"skipped symbolic link {path} (links are not stored)"
    problem = name_problem(arcname)
    if problem is not None:
        return f"skipped {path}: the member name {show(arcname)} cannot be stored ({problem})"
    mode = path.stat().st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return f"skipped {path}: it is {file_kind(mode)}, not a regular file or folder"
    return None


def default_arcname(path: Path) -> str:
    """The member name for a path given on the command line: its last component."""
    name = path.resolve().name
    if not name:
        raise LMArchiveError(f"cannot name an archive member after {path}")
    return name


def collect_sources(paths: Iterable[str | os.PathLike[str]], skipped: list[str] | None = None) -> list[Source]:
    """Sources for ``paths`` given on a command line, each named after its last component."""
    sources: list[Source] = []
    for given in paths:
        path = Path(given)
        sources += collect_tree(path, default_arcname(path), skipped)
    seen: dict[str, Path | None] = {}
    for src in sources:
        if src.arcname in seen:
            raise LMArchiveError(f"{seen[src.arcname]} and {src.path} would both be stored as {src.arcname!r}")
        seen[src.arcname] = src.path
    return sources


def collect_tree(path: Path, top: str, skipped: list[str] | None = None, *, recursive: bool = True) -> list[Source]:
    """Sources for ``path`` named ``top``; a folder recurses (sorted) unless ``recursive`` is False.

    What cannot be stored (symbolic links, named pipes, sockets and devices, names that are not
    UTF-8 or not valid member names) is left out, with a warning appended to ``skipped``.
    """
    if not path.exists() and not path.is_symlink():
        raise LMArchiveError(f"{path}: no such file or folder")
    reason = _unstorable(path, top)
    if reason is not None:
        if skipped is not None:
            skipped.append(reason)
        return []
    sources = [source_from_path(path, top)]
    if not (recursive and path.is_dir()):
        return sources
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        here = Path(dirpath)
        rel = here.relative_to(path).as_posix()
        prefix = top if rel == "." else f"{top}/{rel}"
        for name in sorted(dirnames) + sorted(filenames):
            child, arcname = here / name, f"{prefix}/{name}"
            reason = _unstorable(child, arcname)
            if reason is not None:
                if skipped is not None:
                    skipped.append(reason)
                if name in dirnames:
                    dirnames.remove(name)  # nothing below a folder that is left out
                continue
            sources.append(source_from_path(child, arcname))
    return sources


@dataclass
class EntryResult:
    """What happened to one new entry, for progress reports and the listing."""

    record: EntryRecord
    seconds: float


@dataclass
class _Pending:
    """An entry whose chunks are still being coded."""

    index: int
    source: Source
    method: Method
    predictor: Predictor | None
    """What codes the entry's model chunks: the job's model, or the light one for compressed-looking data."""
    chunk_count: int
    started: float
    crc: int = 0
    gzip_size: int = 0
    size: int = 0
    chunks: list[ChunkRecord] = field(default_factory=list)


@dataclass
class WriteCallbacks:
    """Hooks the jobs layer uses for events; all optional."""

    entry_started: Callable[[Source], None] | None = None
    entry_finished: Callable[[EntryResult], None] | None = None
    progress: Callable[[int], None] | None = None
    """Original bytes coded; the one way to cancel, by raising CancelledError (it is also called
    with 0 between steps, so that a cancel is noticed there too)."""
    notice: Callable[[str], None] | None = None
    """Something the user should know that does not stop the job (a file that changed, say)."""


def _open_source(source: Source) -> BinaryIO:
    if source.data is not None:
        return io.BytesIO(source.data)
    assert source.path is not None
    try:
        return open_regular(source.path)
    except NotARegularFile as exc:  # it was a file when the tree was read
        raise LMArchiveError(f"{exc.path} changed while it was being archived: it is now {exc.kind}") from None
    except OSError as exc:  # gone or unreadable since the tree was read
        raise AccessError(exc.errno, exc.strerror, str(source.path)) from exc


def _read_pieces(handle: BinaryIO, size: int, head: bytes, limit: int) -> Iterator[bytes]:
    """Chunks of ``size`` bytes: ``head`` (already read) continued from ``handle``, ``limit`` bytes in all.

    The limit is the size the file had when it was listed: a file that grows meanwhile (a log being
    written) must not make the archive grow without end.
    """
    buffer, left = head, limit - len(head)
    while True:
        if len(buffer) < size and left > 0:
            more = handle.read(min(size - len(buffer), left))
            buffer += more
            left = left - len(more) if more else 0
        if not buffer:
            return
        yield buffer[:size]
        buffer = buffer[size:]


class _Batcher:
    """Collects chunks from successive entries and codes them together, in order."""

    def __init__(self, writer: ContainerWriter, callbacks: WriteCallbacks) -> None:
        self.writer, self.cb = writer, callbacks
        self.queue: list[tuple[_Pending, bytes]] = []
        self.queued_bytes = 0
        self.records: dict[int, EntryRecord] = {}

    def add(self, state: _Pending, chunk: bytes) -> None:
        self.queue.append((state, chunk))
        self.queued_bytes += len(chunk)
        if len(self.queue) >= MAX_BATCH_CHUNKS or self.queued_bytes >= MAX_BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.queue:
            return
        results: dict[int, codec.CodedChunk] = {}
        groups: dict[tuple[Method, int], list[int]] = {}  # by method, then by the predictor that codes them
        for i, (state, _) in enumerate(self.queue):
            groups.setdefault((state.method, id(state.predictor)), []).append(i)
        for (method, _), picked in sorted(groups.items(), key=lambda group: group[1][0]):
            coded = codec.encode_chunks(
                method,
                [self.queue[i][1] for i in picked],
                self.queue[picked[0]][0].predictor,
                progress=self.cb.progress,
            )
            results.update(zip(picked, coded, strict=True))
        for i, (state, _) in enumerate(self.queue):
            c = results[i]
            state.chunks.append(self.writer.write_chunk(c.data, c.orig_len, c.symbols, c.crc32, c.method))
            if len(state.chunks) == state.chunk_count:
                self.finish_entry(state)
        self.queue, self.queued_bytes = [], 0

    def finish_entry(self, state: _Pending) -> None:
        src = state.source
        model = state.predictor if state.method == Method.MODEL else None
        record = EntryRecord(
            name=src.arcname,
            type=EntryType.FILE,
            size=state.size,
            mtime_ns=src.mtime_ns,
            mode=src.mode,
            method=state.method,
            model=model.name if model is not None else "",
            fingerprint=model.fingerprint if model is not None else bytes(32),
            gzip_size=state.gzip_size,
            crc32=state.crc if state.size else 0,
            chunks=tuple(state.chunks),
        )
        self.done(state.index, record, time.monotonic() - state.started)

    def done(self, index: int, record: EntryRecord, seconds: float) -> None:
        """Keep a finished entry for the directory (written in source order) and report it; its
        recovery record goes right after its chunks, where a salvage of a truncated archive finds it."""
        self.writer.write_recovery(record)
        self.records[index] = record
        if self.cb.entry_finished is not None:
            self.cb.entry_finished(EntryResult(record, seconds))


def write_entries(
    writer: ContainerWriter,
    sources: Sequence[Source],
    predictor: Predictor | None,
    callbacks: WriteCallbacks,
    plan: ChunkPlan | None = None,
) -> None:
    """Code ``sources`` into ``writer``: directories at once, files through the batcher."""
    plan = plan or ChunkPlan.for_model(predictor)
    batcher = _Batcher(writer, callbacks)
    for index, src in enumerate(sources):
        codec.checkpoint(callbacks.progress)
        if callbacks.entry_started is not None:
            callbacks.entry_started(src)
        started = time.monotonic()
        if src.is_dir:
            batcher.done(index, EntryRecord(src.arcname, EntryType.DIRECTORY, 0, src.mtime_ns, src.mode), 0.0)
            continue
        size = len(src.data) if src.data is not None else src.size
        with _open_source(src) as handle:
            first = handle.read(min(plan.min_size, size))
            method, coder = codec.plan_method(predictor, first, _light_model)
            # Stored data gains nothing from many chunks; every chunk costs a 25-byte record.
            chunk_size = plan.max_size if method == Method.STORE else plan.size_for(size)
            pieces = _read_pieces(handle, chunk_size, first, size)
            state = _Pending(index, src, method, coder, -1, started)
            _queue_entry(batcher, state, pieces)
            changed = "grew" if handle.read(1) else "shrank" if state.size < size else None
        if changed is not None and callbacks.notice is not None:
            callbacks.notice(
                f"{src.path} {changed} while it was being archived: stored {state.size:,} bytes, "
                f"its size when the job started was {size:,}"
            )
    batcher.flush()
    for index in range(len(sources)):
        writer.add_entry(batcher.records[index])


def _light_model() -> Predictor:
    """The ``fast`` profile's model, which codes data that looks already compressed (see codec.plan_method)."""
    return load_model("fast")


def _queue_entry(batcher: _Batcher, state: _Pending, pieces: Iterator[bytes]) -> None:
    """Feed one file's chunks to the batcher, tracking CRC, size and the gzip -9 comparison."""
    gz = zlib.compressobj(9, zlib.DEFLATED, 31)
    count = 0
    piece = next(pieces, b"")
    while piece:
        state.crc = zlib.crc32(piece, state.crc)
        state.size += len(piece)
        state.gzip_size += len(gz.compress(piece))
        count += 1
        nxt = next(pieces, b"")
        if not nxt:
            state.gzip_size += len(gz.flush())
            state.chunk_count = count  # known before the last chunk is queued
        batcher.add(state, piece)
        piece = nxt
    if count == 0:
        state.gzip_size = len(gz.flush())
        state.chunk_count = 0
        state.method = Method.STORE
        batcher.finish_entry(state)


def write_archive(
    target: str | os.PathLike[str],
    sources: Sequence[Source],
    predictor: Predictor | None,
    callbacks: WriteCallbacks,
    *,
    base: ContainerReader | None = None,
    drop: set[str] | frozenset[str] = frozenset(),
    overwrite: bool = True,
    plan: ChunkPlan | None = None,
) -> list[EntryRecord]:
    """Write a complete archive to ``target`` atomically and return its entries.

    Entries of ``base`` are copied first, except names in ``drop`` and names that a new source
    replaces; then ``sources`` are coded.
    """
    replaced = {s.arcname for s in sources} | set(drop)
    kept = [] if base is None else [entry for entry in base.entries if entry.name not in replaced]
    with atomic_output(target, overwrite=overwrite) as handle:
        writer = ContainerWriter(handle, _version_for(base, kept))
        if base is not None:
            for entry in kept:
                codec.checkpoint(callbacks.progress)
                copied = replace(entry, chunks=tuple(writer.copy_chunk(base, c) for c in entry.chunks))
                writer.write_recovery(copied)
                writer.add_entry(copied)
        write_entries(writer, sources, predictor, callbacks, plan)
        writer.close()
        return list(writer.entries)


def _version_for(base: ContainerReader | None, kept: Sequence[EntryRecord]) -> tuple[int, int]:
    """The newest format, unless model chunks are copied from an archive that predates bounded streams.

    Copied chunks are not re-coded, so a 1.0 model chunk keeps its 1.0 ending (possibly unbounded)
    and the archive that carries it must keep saying 1.0.
    """
    copies_model_chunks = any(chunk.method == Method.MODEL for entry in kept for chunk in entry.chunks)
    if base is not None and base.version < BOUNDED_STREAMS and copies_model_chunks:
        return base.version
    return FORMAT_VERSION
