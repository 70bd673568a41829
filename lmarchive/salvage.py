"""Salvaging an archive whose directory is lost (a truncated download, a disk that filled up).

Every entry is also written as a recovery record right after its chunks (docs/FORMAT.md,
"Recovery records").  When the directory at the end cannot be read, a scan of the file for those
records finds every entry whose chunks and record survived, and a new archive is written from
them, its chunks copied byte for byte.  Chunks are then verified as usual when the salvaged
archive is tested or extracted (``extract --keep-going`` writes what is intact).
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from lmarchive.container import ChunkRecord, ContainerReader, ContainerWriter, EntryRecord, EntryType, Method, show
from lmarchive.container.format import (
    FORMAT_VERSION,
    HEADER_SIZE,
    MAX_RECOVERY_ENTRY,
    READ_VERSIONS,
    RECOVERY_HEAD,
    RECOVERY_MAGIC,
    parse_header,
    parse_recovery,
    recovery_length,
)
from lmarchive.errors import FormatError, LMArchiveError, OverwriteError
from lmarchive.files import open_regular
from lmarchive.locking import WriterLock
from lmarchive.safety import atomic_output

_BLOCK = 1 << 20


@dataclass(frozen=True)
class SalvageResult:
    """What a salvage found: the entries written to the new archive, and what could not be kept."""

    entries: tuple[EntryRecord, ...]
    directory_intact: bool
    """True when the archive opened normally: nothing was written (test it, or extract with keep-going)."""
    dropped: tuple[str, ...] = ()
    """Why records that were found were not kept (a duplicate name, overlapping chunks, ...)."""


def find_recovery_records(handle: BinaryIO, size: int) -> Iterator[tuple[int, EntryRecord]]:
    """``(offset, entry)`` of every sound recovery record in the file, in file order.

    Reads in blocks (bounded memory); a record whose checksum or contents fail is skipped, so a
    chance occurrence of the magic inside coded data is harmless.
    """
    overlap = len(RECOVERY_MAGIC) - 1
    start = HEADER_SIZE
    while start < size:
        handle.seek(start)
        block = handle.read(min(_BLOCK + overlap, size - start))
        at = block.find(RECOVERY_MAGIC)
        while at != -1:
            offset = start + at
            entry = _record_at(handle, offset, size)
            if entry is not None:
                yield offset, entry
            at = block.find(RECOVERY_MAGIC, at + 1)
        start += _BLOCK


def _record_at(handle: BinaryIO, offset: int, size: int) -> EntryRecord | None:
    handle.seek(offset)
    head = handle.read(RECOVERY_HEAD)
    if len(head) < RECOVERY_HEAD:
        return None
    length = recovery_length(head)
    if length > MAX_RECOVERY_ENTRY or offset + length > size:
        return None
    handle.seek(offset)
    try:
        return parse_recovery(handle.read(length), offset)
    except FormatError:
        return None


class _RawChunks:
    """Chunk bytes straight from a damaged file, for ContainerWriter.copy_chunk."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    def iter_chunk(self, chunk: ChunkRecord, block_size: int = _BLOCK) -> Iterator[bytes]:
        position, end = chunk.offset, chunk.offset + chunk.coded_len
        while position < end:
            self._handle.seek(position)
            data = self._handle.read(min(block_size, end - position))
            if not data:
                raise FormatError(f"chunk at offset {chunk.offset} is cut off")
            yield data
            position += len(data)


def _version_of(handle: BinaryIO) -> tuple[int, int]:
    """The version the damaged archive's header claims; 1.0 when the header is damaged too, whose
    decoding rules every chunk of a 1.1 archive also satisfies."""
    handle.seek(0)
    try:
        version = parse_header(handle.read(HEADER_SIZE))
    except FormatError:
        return (1, 0)
    return version if version in READ_VERSIONS else (1, 0)


def _keepable(entries: list[tuple[int, EntryRecord]]) -> tuple[list[EntryRecord], list[str]]:
    """The entries a valid archive can hold: the first of each name, no member inside a file, no chunk
    claimed twice (the records of one writer never conflict; a damaged file may hold stray ones)."""
    kept: list[EntryRecord] = []
    dropped: list[str] = []
    files: set[str] = set()
    names: list[str] = []  # sorted, to find members below a name
    spans: list[tuple[int, int]] = []  # sorted, disjoint
    for offset, entry in entries:
        parts = entry.name.split("/")
        below = bisect.bisect_left(names, entry.name + "/")
        conflict = (
            entry.name in files
            or any("/".join(parts[:i]) in files for i in range(1, len(parts)))
            or (entry.type == EntryType.FILE and below < len(names) and names[below].startswith(entry.name + "/"))
            or _name_taken(names, entry.name)
            or any(_overlaps(spans, c.offset, c.offset + c.coded_len) for c in entry.chunks)
        )
        if conflict:
            dropped.append(f"the record at offset {offset} for {show(entry.name)} conflicts with an earlier one")
            continue
        bisect.insort(names, entry.name)
        if entry.type == EntryType.FILE:
            files.add(entry.name)
        for chunk in entry.chunks:
            bisect.insort(spans, (chunk.offset, chunk.offset + chunk.coded_len))
        kept.append(entry)
    return kept, dropped


def _name_taken(names: list[str], name: str) -> bool:
    at = bisect.bisect_left(names, name)
    return at < len(names) and names[at] == name


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    """True if [start, end) meets any of the sorted, disjoint ``spans``."""
    at = bisect.bisect_left(spans, (start, end))
    return (at < len(spans) and spans[at][0] < end) or (at > 0 and spans[at - 1][1] > start)


def salvage(
    broken: str | os.PathLike[str], output: str | os.PathLike[str], *, overwrite: bool = False
) -> SalvageResult:
    """Write to ``output`` every member of ``broken`` that its recovery records describe.

    Does nothing when ``broken`` opens normally (its directory is intact): then ``test`` names
    what is damaged and ``extract --keep-going`` writes the rest.  Raises LMArchiveError when no
    recovery record is found (archives written before records existed have none).
    """
    broken, output = Path(broken), Path(output)
    try:
        ContainerReader(broken).close()
    except FormatError:
        pass
    else:
        return SalvageResult((), directory_intact=True)
    if broken.resolve() == output.resolve():
        raise OverwriteError(f"{output}: salvage writes a new archive, not over the damaged one")
    with open_regular(broken) as handle:
        size = handle.seek(0, os.SEEK_END)
        found = list(find_recovery_records(handle, size))
        if not found:
            raise LMArchiveError(
                f"{broken}: no recovery records found, so nothing can be salvaged "
                "(archives written before format 1.1 recovery records have none)"
            )
        entries, dropped = _keepable(found)
        version = _version_of(handle)
        if version < FORMAT_VERSION and not any(c.method == Method.MODEL for e in entries for c in e.chunks):
            version = FORMAT_VERSION
        source = _RawChunks(handle)
        with WriterLock(output), atomic_output(output, overwrite=overwrite) as out:
            writer = ContainerWriter(out, version)
            for entry in entries:
                copied = replace(entry, chunks=tuple(writer.copy_chunk(source, c) for c in entry.chunks))
                writer.write_recovery(copied)
                writer.add_entry(copied)
            writer.close()
            written = writer.entries
    return SalvageResult(written, directory_intact=False, dropped=tuple(dropped))
