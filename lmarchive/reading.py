"""Reading an archive back: decode entries in batches across files, and verify them (extracting.py writes them out)."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from lmarchive import codec
from lmarchive.container import BOUNDED_STREAMS, ChunkRecord, ContainerReader, EntryRecord, Method
from lmarchive.container.records import show
from lmarchive.errors import ChecksumError, DamagedArchiveError, FormatError, LMArchiveError
from lmarchive.models.base import Predictor
from lmarchive.models.registry import model_for

MAX_BATCH_CHUNKS = 64
MAX_BATCH_BYTES = 64 << 20


@dataclass
class ReadCallbacks:
    """Hooks the jobs layer uses for events; all optional."""

    entry_started: Callable[[EntryRecord], None] | None = None
    entry_finished: Callable[[EntryRecord, float], None] | None = None
    progress: Callable[[int], None] | None = None
    """Original bytes decoded; the one way to cancel, by raising CancelledError (it is also called
    with 0 between steps, so that a cancel is noticed there too)."""
    entry_failed: Callable[[EntryRecord, str], None] | None = None
    """A member found damaged (the message names the ranges lost); decoding goes on where it can."""


def _predictor_of(entry: EntryRecord, device: str) -> Predictor | None:
    return model_for(entry.model, entry.fingerprint, device) if entry.method == Method.MODEL else None


def _named(entry: EntryRecord, exc: LMArchiveError) -> LMArchiveError:
    """The same error type, with the member's name in the message."""
    return type(exc)(f"{show(entry.name)}: {exc}")


@dataclass(frozen=True)
class Damage:
    """Bytes ``start`` to ``end`` (exclusive) of member ``name`` could not be recovered, and why."""

    name: str
    start: int
    end: int
    reason: str
    chunk: int | None = None
    """The chunk that held them, or None when the whole member is in question (its own checksum)."""

    def describe(self) -> str:
        """'name': bytes 0-65,535 (chunk 1): reason."""
        where = f"bytes {self.start:,}-{self.end - 1:,}" if self.end > self.start else "its content"
        chunk = f" (chunk {self.chunk + 1})" if self.chunk is not None else ""
        return f"{show(self.name)}: {where}{chunk}: {self.reason}"


Decoded = tuple[EntryRecord, int, "bytes | Damage"]


def _chunk_start(entry: EntryRecord, index: int) -> int:
    return sum(chunk.orig_len for chunk in entry.chunks[:index])


def _damage(entry: EntryRecord, index: int, reason: str) -> Damage:
    start = _chunk_start(entry, index)
    return Damage(entry.name, start, start + entry.chunks[index].orig_len, reason, index)


def iter_chunks(
    reader: ContainerReader,
    entries: Sequence[EntryRecord],
    callbacks: ReadCallbacks | None = None,
    *,
    device: str = "cpu",
) -> Iterator[tuple[EntryRecord, int, bytes]]:
    """Yield ``(entry, chunk index, original bytes)`` in order, decoding many chunks in lock-step,
    with models on ``device`` (the tables, and so the bytes, are the same on every device).

    Each chunk is verified against its CRC32 (the caller checks the whole entry's CRC32); the first
    chunk that cannot be decoded raises, naming its member and where it lies.
    """
    for entry, index, data in _decode(reader, entries, callbacks, device, salvage=False):
        assert isinstance(data, bytes)  # without salvage, damage raises instead
        yield entry, index, data


def iter_salvaged_chunks(
    reader: ContainerReader,
    entries: Sequence[EntryRecord],
    callbacks: ReadCallbacks | None = None,
    *,
    device: str = "cpu",
) -> Iterator[Decoded]:
    """Like :func:`iter_chunks`, but a chunk that cannot be decoded comes as a :class:`Damage` in its
    place, and decoding goes on: chunks are independent, so one damaged chunk costs only its bytes.
    A missing model or a cancel still raises."""
    return _decode(reader, entries, callbacks, device, salvage=True)


def _decode(
    reader: ContainerReader,
    entries: Sequence[EntryRecord],
    callbacks: ReadCallbacks | None,
    device: str,
    *,
    salvage: bool,
) -> Iterator[Decoded]:
    """Every record is checked against the decoding limits first, so a hostile length is refused
    before any chunk is read; a batch stops growing once it holds MAX_BATCH_BYTES of coded or of
    decoded bytes.  A batch that fails is decoded again chunk by chunk, to tell which one is damaged."""
    cb = callbacks or ReadCallbacks()
    bounded = reader.version >= BOUNDED_STREAMS
    refused: dict[tuple[str, int], str] = {}
    for entry in entries:
        for index, chunk in enumerate(entry.chunks):
            problem = codec.chunk_limit_problem(chunk)
            if problem is not None:
                if not salvage:
                    raise FormatError(_damage(entry, index, problem).describe())
                refused[entry.name, index] = problem
    batch: list[tuple[EntryRecord, int, ChunkRecord]] = []
    batch_model: Predictor | None = None
    batch_bytes = batch_coded = 0

    def stop_only(_done: int) -> None:
        """The progress handler's cancel without its count (for bytes already counted)."""
        codec.checkpoint(cb.progress)

    def flush() -> Iterator[Decoded]:
        coded = [(chunk, reader.read_chunk(chunk)) for _, _, chunk in batch]
        try:
            decoded = codec.decode_chunks(coded, batch_model, progress=cb.progress, bounded=bounded)
        except FormatError:
            decoded = None
        if decoded is not None:
            for (entry, index, _), data in zip(batch, decoded, strict=True):
                yield entry, index, data
            return
        for (entry, index, _), one in zip(batch, coded, strict=True):  # progress was counted: not again
            try:
                (data,) = codec.decode_chunks([one], batch_model, progress=stop_only, bounded=bounded)
            except FormatError as exc:
                damage = _damage(entry, index, str(exc))
                if not salvage:
                    raise type(exc)(damage.describe()) from None
                yield entry, index, damage
                continue
            yield entry, index, data

    for entry in entries:
        codec.checkpoint(cb.progress)
        # A missing model is no damage: it is reported as itself, even when salvaging (unless every
        # chunk that needs it is refused anyway).
        decodable = [(entry.name, i) not in refused for i in range(len(entry.chunks))]
        try:
            predictor = _predictor_of(entry, device) if not entry.chunks or any(decodable) else None
        except LMArchiveError as exc:
            raise _named(entry, exc) from None
        for index, chunk in enumerate(entry.chunks):
            uses_model = chunk.method == Method.MODEL
            problem = refused.get((entry.name, index))
            full = len(batch) >= MAX_BATCH_CHUNKS or max(batch_bytes, batch_coded) >= MAX_BATCH_BYTES
            if batch and (full or problem or (uses_model and batch_model is not None and predictor is not batch_model)):
                yield from flush()
                batch, batch_model, batch_bytes, batch_coded = [], None, 0, 0
            if problem is not None:  # only in salvage: in order, between the chunks around it
                yield entry, index, _damage(entry, index, problem)
                continue
            if uses_model:
                batch_model = predictor
            batch.append((entry, index, chunk))
            batch_bytes += chunk.orig_len
            batch_coded += chunk.coded_len
    if batch:
        yield from flush()


def verify_entry(entry: EntryRecord, crc: int) -> None:
    """Raise ChecksumError unless ``crc`` (of the decoded content) is the entry's."""
    if crc != entry.crc32:
        raise ChecksumError(f"{entry.name}: content failed its checksum")


def damaged_error(damage: Sequence[Damage], members: int) -> DamagedArchiveError:
    """One error for everything found damaged, naming the first few members and ranges."""
    names = list(dict.fromkeys(d.name for d in damage))
    shown = "; ".join(d.describe() for d in damage[:3])
    more = f"; and {len(damage) - 3} more damaged ranges" if len(damage) > 3 else ""
    head = "" if len(names) == 1 else f"{len(names)} of {members} members are damaged: "
    return DamagedArchiveError(head + shown + more, damage)


def verify_entries(
    reader: ContainerReader,
    entries: Sequence[EntryRecord],
    callbacks: ReadCallbacks | None = None,
    *,
    device: str = "cpu",
) -> None:
    """Decode everything and verify every checksum, writing nothing.

    Decoding goes on past damage, so the error at the end, a :class:`DamagedArchiveError`, names
    every damaged member and the byte ranges lost in it.
    """
    cb = callbacks or ReadCallbacks()
    crcs: dict[str, int] = {}
    hurt: dict[str, list[Damage]] = {}
    found: list[Damage] = []
    started = time.monotonic()
    for entry in entries:
        if not entry.chunks:  # nothing to decode (the container rules make its CRC 0)
            if cb.entry_started is not None:
                cb.entry_started(entry)
            if cb.entry_finished is not None:
                cb.entry_finished(entry, 0.0)
    for entry, index, data in iter_salvaged_chunks(reader, entries, cb, device=device):
        if index == 0 and cb.entry_started is not None:
            cb.entry_started(entry)
        if isinstance(data, Damage):
            hurt.setdefault(entry.name, []).append(data)
        else:
            crcs[entry.name] = zlib.crc32(data, crcs.get(entry.name, 0))
        if index < len(entry.chunks) - 1:
            continue
        damage = entry_damage(entry, crcs.pop(entry.name, 0), hurt.pop(entry.name, []))
        if damage:
            found += damage
            if cb.entry_failed is not None:
                cb.entry_failed(entry, "; ".join(d.describe() for d in damage))
        elif cb.entry_finished is not None:
            cb.entry_finished(entry, time.monotonic() - started)
        started = time.monotonic()
    if found:
        raise damaged_error(found, len(entries))


def entry_damage(entry: EntryRecord, crc: int, chunk_damage: list[Damage]) -> list[Damage]:
    """What is lost of a member: its damaged chunks, or, when every chunk passed its own check but the
    member's checksum fails (chunks of another member, say), the whole member."""
    if chunk_damage or crc == entry.crc32:
        return chunk_damage
    return [Damage(entry.name, 0, entry.size, "content failed its checksum")]
