"""One writer at a time per archive: an exclusive lock on a hidden file beside it.

Every writer (the create, add and delete jobs, and :class:`lmarchive.LMZFile` in a writing mode)
takes the lock before it reads the archive it will replace and keeps it until the new archive
has been renamed into place, so two writers can never both start from the same old archive and
lose one's changes.  Readers take no lock: they see the old archive or the new one, whole.

The archive itself is replaced by a rename, so the lock lives on a separate file,
``.lmz-lock-<archive name>`` in the same folder: ``fcntl.flock`` on POSIX, ``msvcrt.locking``
on Windows.  It is not waited for: writes take seconds to minutes, so a second writer fails at
once with :class:`ArchiveBusyError` and the user or script retries when the first is done.

The lock file is removed on release, so it never clutters the folder; one left by a killed
writer is harmless (the system released its lock when it died) and goes with the next write.
Removing it while someone else has just opened it is safe: on POSIX the holder removes it before
unlocking, and whoever then locks it checks that the file is still the one at the path (and
starts again if not); on Windows a file another process has open cannot be removed at all.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import Self

from lmarchive.errors import ArchiveBusyError
from lmarchive.safety import helper_name, remove_stale_partials

LOCK_PREFIX = ".lmz-lock-"
ATTEMPTS = 20
"""Opens of the lock file before giving up when each one was removed under us (someone is busy)."""

if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        """Lock the first byte (beyond the end is allowed); False if another handle holds it."""
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    _NO_LOCKING = {errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP}
    """flock errors meaning the file system has no locks (some network mounts): write unlocked, as before."""

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno in _NO_LOCKING:
                return True
            raise
        return True


def lock_path(archive: str | os.PathLike[str]) -> Path:
    """The lock file of ``archive``: hidden, in its folder, named after it."""
    archive = Path(archive)
    return archive.parent / f"{LOCK_PREFIX}{helper_name(archive)}"


class WriterLock:
    """The archive's writer lock, held from construction until :meth:`release` (or the ``with`` block's end).

    Raises :class:`ArchiveBusyError` when another writer holds it.  Once held, it removes the
    temporary files that killed writers of this archive left behind: no live writer of it can
    exist, so they are provably stale.
    """

    def __init__(self, archive: str | os.PathLike[str]) -> None:
        self.archive = Path(archive)
        self.path = lock_path(os.path.abspath(archive))  # still the right file if the caller changes folder
        self._fd: int | None = self._acquire()
        try:
            remove_stale_partials(self.archive)
        except BaseException:
            self.release()
            raise

    def _acquire(self) -> int:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        flags |= getattr(os, "O_BINARY", 0) | getattr(os, "O_NOINHERIT", 0)
        for _ in range(ATTEMPTS):
            try:
                fd = os.open(self.path, flags, 0o666)
            except OSError as exc:  # name the archive: the lock file is an implementation detail
                raise OSError(exc.errno, exc.strerror, str(self.archive)) from exc
            try:
                if not _try_lock(fd):
                    raise self._busy()
                if self._still_at_path(fd):
                    return fd
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # the previous holder removed the file we opened: open the new one
        raise self._busy()  # every try lost that race: writers keep coming and going

    def _busy(self) -> ArchiveBusyError:
        return ArchiveBusyError(f"{self.archive} is busy: another program is changing it")

    def _still_at_path(self, fd: int) -> bool:
        if sys.platform == "win32":
            return True  # an open file cannot be removed there, so the one we locked is at the path
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path, follow_symlinks=False))
        except FileNotFoundError:
            return False

    def release(self) -> None:
        """Unlock and remove the lock file (idempotent)."""
        fd, self._fd = getattr(self, "_fd", None), None  # None too when __init__ failed before locking
        if fd is None:
            return
        if sys.platform == "win32":
            os.close(fd)  # first: Windows cannot remove an open file; fails harmlessly if another opened it
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            return
        try:
            with contextlib.suppress(OSError):
                os.unlink(self.path)  # while still locked, so nobody can lock the file and then lose it
        finally:
            os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

    def __del__(self) -> None:  # an LMZFile never closed: do not keep others out until the process ends
        self.release()
