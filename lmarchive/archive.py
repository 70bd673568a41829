"""The Python API, shaped like zipfile/tarfile: ``lmarchive.open(path, mode)`` and friends.

Writing modes collect members and code them together when the archive is closed, because
the codec is fastest when it batches chunks of many files; nothing touches the target until
then, and the new archive replaces it atomically.  Leaving a ``with`` block by an exception
discards the pending changes, so a failed script never leaves a half-made archive.
"""

from __future__ import annotations

import io
import os
import shutil
import time
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Literal, Self

from lmarchive.container import MAGIC, ContainerReader, EntryRecord, validate_name
from lmarchive.errors import ChecksumError, LMArchiveError, MemberNotFoundError, OverwriteError
from lmarchive.extracting import extract_entries
from lmarchive.files import NotARegularFile, open_regular
from lmarchive.jobs import EventHandler, finished_event
from lmarchive.locking import WriterLock
from lmarchive.member import LMZInfo as LMZInfo  # the API's member type, re-exported
from lmarchive.models.registry import DEFAULT_MODEL, load_model
from lmarchive.reading import ReadCallbacks, iter_chunks, verify_entries
from lmarchive.writing import Source, WriteCallbacks, collect_tree, default_arcname, write_archive

Mode = Literal["r", "w", "x", "a"]


class _MemberStream(io.RawIOBase):
    """A member's content decoded chunk by chunk; the whole-entry CRC is checked at the end."""

    def __init__(self, reader: ContainerReader, entry: EntryRecord) -> None:
        self._entry = entry
        self._chunks = iter_chunks(reader, [entry])
        self._buffer = memoryview(b"")
        self._pos = 0
        self._crc = 0
        self._finished = not entry.chunks

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while self._pos == len(self._buffer) and not self._finished:
            try:
                _, _, data = next(self._chunks)
            except StopIteration:
                self._finished = True
                if self._crc != self._entry.crc32:
                    raise ChecksumError(f"{self._entry.name}: content failed its checksum") from None
                break
            self._crc = zlib.crc32(data, self._crc)
            self._buffer, self._pos = memoryview(data), 0
        # A position into the chunk, not a shorter copy of it per read: each byte is copied once.
        n = min(len(target), len(self._buffer) - self._pos)
        target[:n] = self._buffer[self._pos : self._pos + n]
        self._pos += n
        return n


class LMZFile:
    """An .lmz archive opened for reading ('r'), writing ('w', 'x') or appending ('a').

    A writing mode takes the archive's writer lock when it opens (before 'a' reads the archive
    it will rewrite) and keeps it until :meth:`close`, or the ``with`` block's end; another writer
    meanwhile, in this process or any other, gets :class:`~lmarchive.errors.ArchiveBusyError`.
    Reading takes no lock.
    """

    def __init__(
        self,
        file: str | os.PathLike[str],
        mode: Mode = "r",
        *,
        model: str | None = DEFAULT_MODEL,
        on_event: EventHandler | None = None,
    ) -> None:
        if mode not in ("r", "w", "x", "a"):
            raise ValueError(f"mode must be 'r', 'w', 'x' or 'a', not {mode!r}")
        self.path = Path(file)
        self.mode = mode
        self.model = model
        self.on_event = on_event
        self._reader: ContainerReader | None = None
        self._pending: dict[str, Source] = {}
        self._removed: set[str] = set()
        self._closed = False
        self._lock: WriterLock | None = None
        if model is not None and mode != "r":
            load_model(model)  # fail now, not at close, on an unknown model name
        try:
            if mode != "r":
                self._lock = WriterLock(self.path)
            if mode == "x" and self.path.exists():
                raise OverwriteError(f"{self.path} already exists")
            if mode == "r" or (mode == "a" and self.path.exists()):
                self._reader = ContainerReader(self.path)
        except BaseException:
            self._discard()
            raise

    # -- reading -------------------------------------------------------------------------
    def _entries(self) -> list[EntryRecord]:
        if self._reader is None:
            return []
        return [e for e in self._reader.entries if e.name not in self._removed and e.name not in self._pending]

    def _entry(self, name: str | LMZInfo) -> EntryRecord:
        """The stored member by name (zipfile's NameToInfo): one dict lookup, not a scan."""
        key = name.name if isinstance(name, LMZInfo) else name
        entry = self._reader.get(key) if self._reader is not None else None
        if entry is None or key in self._removed or key in self._pending:
            raise MemberNotFoundError(f"no member named {key!r} in {self.path}")
        return entry

    def _require_reader(self) -> ContainerReader:
        self._check_open()
        if self._reader is None:
            raise LMArchiveError("this archive has no stored members to read yet")
        return self._reader

    def namelist(self) -> list[str]:
        """Names of the stored members, in archive order."""
        return [e.name for e in self._entries()]

    def infolist(self) -> list[LMZInfo]:
        return [LMZInfo.from_record(e) for e in self._entries()]

    def getinfo(self, name: str) -> LMZInfo:
        return LMZInfo.from_record(self._entry(name))

    def open(self, name: str | LMZInfo) -> BinaryIO:
        """A binary stream of the member's content, decoded as it is read."""
        reader = self._require_reader()
        entry = self._entry(name)
        if entry.is_dir:
            raise LMArchiveError(f"{entry.name} is a folder")
        return io.BufferedReader(_MemberStream(reader, entry))

    def read(self, name: str | LMZInfo) -> bytes:
        with self.open(name) as stream:
            return stream.read()

    def _callbacks(self) -> ReadCallbacks:
        if self.on_event is None:
            return ReadCallbacks()
        handler = self.on_event
        return ReadCallbacks(entry_finished=lambda e, s: handler(finished_event(e, s)))

    def extract(
        self, member: str | LMZInfo, path: str | os.PathLike[str] | None = None, *, overwrite: bool = False
    ) -> str:
        """Extract one member (a folder: just the folder) under ``path``; returns the file's path."""
        reader = self._require_reader()
        targets = extract_entries(
            reader, [self._entry(member)], path or os.getcwd(), overwrite=overwrite, callbacks=self._callbacks()
        )
        return str(targets[0])

    def extractall(
        self,
        path: str | os.PathLike[str] | None = None,
        members: Iterable[str | LMZInfo] | None = None,
        *,
        overwrite: bool = False,
        keep_going: bool = False,
    ) -> None:
        """Extract all members, or ``members``; ``keep_going`` writes the intact ones of a damaged archive
        (damaged ones with their lost bytes as zeros) before raising DamagedArchiveError."""
        reader = self._require_reader()
        entries = self._entries() if members is None else [self._entry(m) for m in members]
        callbacks = self._callbacks()
        extract_entries(
            reader, entries, path or os.getcwd(), overwrite=overwrite, keep_going=keep_going, callbacks=callbacks
        )

    def test(self) -> None:
        """Decode every member and check every checksum; DamagedArchiveError names all that is damaged."""
        verify_entries(self._require_reader(), self._entries(), self._callbacks())

    # -- writing -------------------------------------------------------------------------
    def _check_writable(self) -> None:
        self._check_open()
        if self.mode == "r":
            raise LMArchiveError("archive opened for reading; use mode 'w', 'x' or 'a' to change it")

    def add(self, path: str | os.PathLike[str], arcname: str | None = None, *, recursive: bool = True) -> None:
        """Queue a file or folder (recursively, like tarfile) to be coded when the archive closes."""
        self._check_writable()
        path = Path(path)
        name = validate_name((arcname or default_arcname(path)).strip("/"))
        for source in collect_tree(path, name, recursive=recursive):
            self._queue(source)

    def write(self, filename: str | os.PathLike[str], arcname: str | None = None) -> None:
        """zipfile's spelling: add one file or folder entry, not recursing."""
        self.add(filename, arcname, recursive=False)

    def writestr(self, arcname: str, data: bytes | str, *, mtime_ns: int | None = None, mode: int = 0o644) -> None:
        """Queue a member with the given content."""
        self._check_writable()
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        stamp = time.time_ns() if mtime_ns is None else mtime_ns
        self._queue(Source(validate_name(arcname), data=payload, mtime_ns=stamp, mode=mode, size=len(payload)))

    def remove(self, name: str) -> None:
        """Drop a stored member when the archive is rewritten at close."""
        self._check_writable()
        self._entry(name)
        self._removed.add(name)

    def _queue(self, source: Source) -> None:
        if source.path is not None and source.path.resolve() == self.path.resolve():
            return  # an archive cannot contain itself
        self._pending[source.arcname] = source
        self._removed.discard(source.arcname)

    # -- lifetime ------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("I/O operation on a closed archive")

    def close(self) -> None:
        """For writing modes, code the queued members and replace the archive atomically."""
        if self._closed:
            return
        try:
            if self.mode != "r":
                self._commit()
        finally:
            self._discard()

    def _commit(self) -> None:
        if self.mode == "a" and not self._pending and not self._removed and self._reader is not None:
            return
        predictor = load_model(self.model) if self.model else None
        handler = self.on_event
        callbacks = WriteCallbacks()
        if handler is not None:
            callbacks.entry_finished = lambda r: handler(finished_event(r.record, r.seconds))
        write_archive(
            self.path,
            list(self._pending.values()),
            predictor,
            callbacks,
            base=self._reader,
            drop=self._removed,
            overwrite=self.mode != "x",
        )

    def _discard(self) -> None:
        self._closed = True
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._lock is not None:  # last: the archive is replaced (or left alone) by now
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._discard()

    def __iter__(self) -> Iterator[LMZInfo]:
        return iter(self.infolist())


def open(file: str | os.PathLike[str], mode: Mode = "r", *, model: str | None = DEFAULT_MODEL) -> LMZFile:
    """Open an .lmz archive; see :class:`LMZFile`."""
    return LMZFile(file, mode, model=model)


def is_lmzfile(file: str | os.PathLike[str]) -> bool:
    """True if ``file`` starts with the .lmz magic (cheap: reads 8 bytes)."""
    try:
        with open_regular(file) as handle:  # a named pipe must not block the caller
            return handle.read(len(MAGIC)) == MAGIC
    except (OSError, NotARegularFile):
        return False


def _make_archive(base_name: str, base_dir: str, root_dir: str | None = None, **_: object) -> str:
    """shutil.make_archive hook: archive ``base_dir`` with member names relative to ``root_dir``."""
    root = Path(root_dir or os.curdir)
    archive = base_name + ".lmz"
    with LMZFile(archive, "w") as lmz:
        top = root / base_dir
        if os.path.normpath(base_dir) != os.curdir:
            lmz.write(top, os.path.normpath(base_dir).replace(os.sep, "/"))
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                path = Path(dirpath) / name
                if path.is_symlink():
                    continue
                rel = os.path.normpath(os.path.relpath(path, root)).replace(os.sep, "/")
                lmz.write(path, rel)
    return archive


_make_archive.supports_root_dir = True  # type: ignore[attr-defined]


def _unpack_archive(filename: str, extract_dir: str, **_: object) -> None:
    """shutil.unpack_archive hook; extraction is always confined to ``extract_dir``."""
    with LMZFile(filename) as lmz:
        lmz.extractall(extract_dir)


def register_shutil_formats() -> None:
    """Make 'lmz' known to shutil.make_archive / unpack_archive (idempotent)."""
    if "lmz" not in {name for name, _ in shutil.get_archive_formats()}:
        shutil.register_archive_format("lmz", _make_archive, description="LM Archive (.lmz)")
    if "lmz" not in {name for name, _, _ in shutil.get_unpack_formats()}:
        shutil.register_unpack_format("lmz", [".lmz"], _unpack_archive, description="LM Archive (.lmz)")
