"""Reading an archive back: decode entries in batches across files, verify, and extract safely."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lmarchive import codec
from lmarchive.codec import CancelFn
from lmarchive.container import ChunkRecord, ContainerReader, EntryRecord, Method
from lmarchive.errors import CancelledError, ChecksumError, FormatError, LMArchiveError, OverwriteError
from lmarchive.models.base import Predictor
from lmarchive.models.registry import model_for
from lmarchive.safety import TEMP_PREFIX, confined_path

MAX_BATCH_CHUNKS = 64
MAX_BATCH_BYTES = 64 << 20


@dataclass
class ReadCallbacks:
    """Hooks the jobs layer uses for events; all optional."""

    entry_started: Callable[[EntryRecord], None] | None = None
    entry_finished: Callable[[EntryRecord, float], None] | None = None
    progress: Callable[[int], None] | None = None
    cancel: CancelFn | None = None
    device: str = "cpu"
    """Where models run; the tables, and so the result, are the same on every device."""


def _predictor_of(entry: EntryRecord, device: str) -> Predictor | None:
    return model_for(entry.model, entry.fingerprint, device) if entry.method == Method.MODEL else None


def _named(entry: EntryRecord, exc: LMArchiveError) -> LMArchiveError:
    """The same error type, with the member's name in the message."""
    return type(exc)(f"{entry.name}: {exc}")


def iter_chunks(
    reader: ContainerReader, entries: Sequence[EntryRecord], callbacks: ReadCallbacks | None = None
) -> Iterator[tuple[EntryRecord, int, bytes]]:
    """Yield ``(entry, chunk index, original bytes)`` in order, decoding many chunks in lock-step.

    Each chunk is verified against its CRC32; the caller checks the whole entry's CRC32.
    """
    cb = callbacks or ReadCallbacks()
    batch: list[tuple[EntryRecord, int, ChunkRecord]] = []
    batch_model: Predictor | None = None
    batch_bytes = 0

    def flush() -> Iterator[tuple[EntryRecord, int, bytes]]:
        items = [(chunk, reader.read_chunk(chunk)) for _, _, chunk in batch]
        try:
            decoded = codec.decode_chunks(items, batch_model, cancel=cb.cancel, progress=cb.progress)
        except FormatError as exc:
            names = sorted({entry.name for entry, _, _ in batch})
            raise type(exc)(f"{', '.join(names)[:200]}: {exc}") from None
        for (entry, index, _), data in zip(batch, decoded, strict=True):
            yield entry, index, data

    for entry in entries:
        if cb.cancel is not None and cb.cancel():
            raise CancelledError("cancelled")
        try:
            predictor = _predictor_of(entry, cb.device)
        except LMArchiveError as exc:
            raise _named(entry, exc) from None
        for index, chunk in enumerate(entry.chunks):
            uses_model = chunk.method == Method.MODEL
            full = len(batch) >= MAX_BATCH_CHUNKS or batch_bytes >= MAX_BATCH_BYTES
            if batch and (full or (uses_model and batch_model is not None and predictor is not batch_model)):
                yield from flush()
                batch, batch_model, batch_bytes = [], None, 0
            if uses_model:
                batch_model = predictor
            batch.append((entry, index, chunk))
            batch_bytes += chunk.orig_len
    if batch:
        yield from flush()


def _verify_entry(entry: EntryRecord, crc: int) -> None:
    if crc != entry.crc32:
        raise ChecksumError(f"{entry.name}: content failed its checksum")


def verify_entries(
    reader: ContainerReader, entries: Sequence[EntryRecord], callbacks: ReadCallbacks | None = None
) -> None:
    """Decode everything and verify every checksum, writing nothing; raises on the first failure."""
    cb = callbacks or ReadCallbacks()
    crcs: dict[str, int] = {}
    started = time.monotonic()
    for entry in entries:
        if not entry.chunks:
            if cb.entry_started is not None:
                cb.entry_started(entry)
            _verify_entry(entry, 0)
            if cb.entry_finished is not None:
                cb.entry_finished(entry, 0.0)
    for entry, index, data in iter_chunks(reader, entries, cb):
        if index == 0 and cb.entry_started is not None:
            cb.entry_started(entry)
        crcs[entry.name] = zlib.crc32(data, crcs.get(entry.name, 0))
        if index == len(entry.chunks) - 1:
            _verify_entry(entry, crcs.pop(entry.name))
            if cb.entry_finished is not None:
                cb.entry_finished(entry, time.monotonic() - started)
            started = time.monotonic()


def plan_extraction(root: Path, entries: Sequence[EntryRecord], *, overwrite: bool) -> list[tuple[EntryRecord, Path]]:
    """Check every target before anything is written: confinement, and conflicts with files."""
    plan = []
    for entry in entries:
        target = confined_path(root, entry.name)
        if entry.is_dir:
            if target.exists() and not target.is_dir():
                raise OverwriteError(f"{target} exists and is not a folder")
        elif target.exists():
            if target.is_dir():
                raise OverwriteError(f"{target} exists and is a folder")
            if not overwrite:
                raise OverwriteError(f"{target} already exists (allow overwriting to replace it)")
        plan.append((entry, target))
    return plan


def _apply_metadata(path: Path, entry: EntryRecord) -> None:
    with contextlib.suppress(OSError):
        os.chmod(path, entry.mode & 0o777 or (0o755 if entry.is_dir else 0o644))
    with contextlib.suppress(OSError, OverflowError, ValueError):
        os.utime(path, ns=(entry.mtime_ns, entry.mtime_ns))


class _Extraction:
    """Tracks what one extraction created, so a cancel or failure can take it back."""

    def __init__(self) -> None:
        self.created_files: list[Path] = []
        self.created_dirs: list[Path] = []
        self.temp: Path | None = None
        self.handle = None

    def make_dirs(self, path: Path) -> None:
        missing = []
        for parent in [path, *path.parents]:
            if parent.exists():
                break
            missing.append(parent)
        for folder in reversed(missing):
            folder.mkdir()
            self.created_dirs.append(folder)

    def open_temp(self, target: Path) -> None:
        self.make_dirs(target.parent)
        fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
        self.temp, self.handle = Path(name), os.fdopen(fd, "wb")

    def commit(self, target: Path, entry: EntryRecord) -> None:
        assert self.handle is not None and self.temp is not None
        self.handle.close()
        existed = target.exists()
        os.replace(self.temp, target)
        self.temp, self.handle = None, None
        if not existed:
            self.created_files.append(target)
        _apply_metadata(target, entry)

    def rollback(self) -> None:
        if self.handle is not None:
            self.handle.close()
        if self.temp is not None:
            with contextlib.suppress(OSError):
                self.temp.unlink()
        for path in reversed(self.created_files):
            with contextlib.suppress(OSError):
                path.unlink()
        for folder in reversed(self.created_dirs):
            with contextlib.suppress(OSError):
                folder.rmdir()


def extract_entries(
    reader: ContainerReader,
    entries: Sequence[EntryRecord],
    dest: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    callbacks: ReadCallbacks | None = None,
) -> list[Path]:
    """Extract ``entries`` under ``dest``; on any failure or cancel, remove what this call created.

    Each file is decoded into a temporary file beside its target and renamed into place only
    after its checksums pass, so no partial file ever carries a member's name.
    """
    cb = callbacks or ReadCallbacks()
    root = Path(dest).resolve()
    state = _Extraction()
    try:
        state.make_dirs(root)
        plan = plan_extraction(root, entries, overwrite=overwrite)
        targets = {entry.name: target for entry, target in plan}
        for entry, target in plan:
            if entry.chunks:
                continue
            if cb.entry_started is not None:
                cb.entry_started(entry)
            if entry.is_dir:
                state.make_dirs(target)
            else:
                state.open_temp(target)
                state.commit(target, entry)
            if cb.entry_finished is not None:
                cb.entry_finished(entry, 0.0)
        crc, started = 0, time.monotonic()
        for entry, index, data in iter_chunks(reader, entries, cb):
            target = targets[entry.name]
            if index == 0:
                if cb.entry_started is not None:
                    cb.entry_started(entry)
                state.open_temp(target)
                crc, started = 0, time.monotonic()
            assert state.handle is not None
            state.handle.write(data)
            crc = zlib.crc32(data, crc)
            if index == len(entry.chunks) - 1:
                _verify_entry(entry, crc)
                state.commit(target, entry)
                if cb.entry_finished is not None:
                    cb.entry_finished(entry, time.monotonic() - started)
        for entry, target in reversed(plan):
            if entry.is_dir:
                _apply_metadata(target, entry)
    except BaseException:
        state.rollback()
        raise
    return [target for _, target in plan]
