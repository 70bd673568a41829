"""One archive member as every front end sees it: the API, ``list``, the jobs' events and the app.

The container's :class:`~lmarchive.container.EntryRecord` says where a member's chunks lie;
:class:`LMZInfo` is the member as it is listed, built from a record in one place, so the names of
methods and entry types, and the member's time, are spelt once (zipfile has ZipInfo likewise).
It holds plain values only, so a job's event carrying one crosses a process boundary cheaply.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lmarchive.container import EntryRecord, EntryType, Method

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class LMZInfo:
    """One member as listed: sizes, how it was coded, and the gzip -9 size for comparison."""

    name: str
    kind: EntryType
    size: int
    packed: int
    gzip_size: int
    coding: Method
    model: str
    """The model id for method model, else ''."""
    fingerprint: str | None
    """The model's fingerprint in hex for method model, else None."""
    mtime_ns: int
    mode: int
    crc32: int
    chunks: int
    """How many coded chunks the member has (their places stay in the archive's directory)."""

    @classmethod
    def from_record(cls, entry: EntryRecord) -> LMZInfo:
        """The member a directory record describes; the only place an LMZInfo is made."""
        return cls(
            entry.name,
            entry.type,
            entry.size,
            entry.packed,
            entry.gzip_size,
            entry.method,
            entry.model,
            entry.fingerprint.hex() if entry.model else None,
            entry.mtime_ns,
            entry.mode,
            entry.crc32,
            len(entry.chunks),
        )

    @property
    def method(self) -> str:
        """'store', 'zstd' or 'model': the method's name in every listing."""
        return self.coding.name.lower()

    @property
    def type(self) -> str:
        """'file' or 'dir', as ``list --json`` spells it."""
        return "dir" if self.kind == EntryType.DIRECTORY else "file"

    def is_dir(self) -> bool:
        return self.kind == EntryType.DIRECTORY

    @property
    def modified(self) -> dt.datetime:
        """The mtime in UTC, to the microsecond below it: exact for every int64 mtime the format
        allows (years 1677..2262), where fromtimestamp's float seconds would round."""
        return _EPOCH + dt.timedelta(microseconds=self.mtime_ns // 1000)

    @property
    def filename(self) -> str:
        """zipfile's name for :attr:`name`."""
        return self.name

    @property
    def file_size(self) -> int:
        """zipfile's name for :attr:`size`."""
        return self.size

    @property
    def compress_size(self) -> int:
        """zipfile's name for :attr:`packed`."""
        return self.packed
