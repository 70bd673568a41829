"""Filesystem safety: atomic replacement of outputs, and extraction confined to its folder."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import BinaryIO

from lmarchive.container.records import show
from lmarchive.errors import OverwriteError, Terminated, UnsafePathError

TEMP_PREFIX = ".lmz-partial-"
BACKUP_PREFIX = ".lmz-original-"
"""An original file that an overwriting extraction moved aside until it succeeds.  Never deleted by
any cleanup: after a kill it is the user's only copy (see lmarchive.extracting)."""
PARTIAL_SUFFIX = ".tmp"
"""An archive's temporary file is ``.lmz-partial-<archive name>.<random>.tmp``: the name says whose it is."""
NAME_KEEP = 100
"""Longest archive name (in bytes) its helper files repeat whole; longer ones are cut and hashed."""
TERMINATING_SIGNALS = ("SIGTERM", "SIGHUP", "SIGBREAK")
"""Signals that end a process politely (SIGBREAK: Windows' Ctrl+Break and console close); those present count."""


def helper_name(target: Path) -> str:
    """``target``'s file name as its lock and temporary files spell it, short enough for any file system."""
    raw = os.fsencode(target.name)
    if len(raw) <= NAME_KEEP:
        return target.name
    return f"{target.name[: NAME_KEEP // 4]}~{hashlib.sha256(raw).hexdigest()[:16]}"  # <= 4 bytes a character


def _partial_prefix(target: Path) -> str:
    return f"{TEMP_PREFIX}{helper_name(target)}."


@contextlib.contextmanager
def atomic_output(target: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[BinaryIO]:
    """Write a file under a temporary name in the target's folder; rename it into place on success.

    On an exception (a cancel, Ctrl-C and :class:`Terminated` included) the temporary file is
    removed and ``target`` is exactly as it was.  A kill leaves at most a hidden
    ``.lmz-partial-<target name>.*.tmp`` file next to it, never a partial ``target``; the next
    writer of ``target`` removes it (:func:`remove_stale_partials`).
    """
    target = Path(target)
    if not overwrite and target.exists():
        raise OverwriteError(f"{target} already exists")
    fd, tmp = tempfile.mkstemp(prefix=_partial_prefix(target), suffix=PARTIAL_SUFFIX, dir=target.parent or ".")
    try:
        os.chmod(tmp, _mode_for(target))  # mkstemp makes 0o600; the user expects their usual mode
        with os.fdopen(fd, "w+b") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if not overwrite and target.exists():
            raise OverwriteError(f"{target} already exists")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def remove_stale_partials(target: str | os.PathLike[str]) -> None:
    """Remove the temporary files that killed writers of ``target`` left beside it.

    Call only while holding ``target``'s writer lock (:mod:`lmarchive.locking`): then no live
    writer of it exists, so every file named as its partial is stale.  Nothing else is touched:
    not other archives' partials (their writers may be running), not extraction temporaries
    (named ``.lmz-partial-<random>``, no archive name, no suffix).
    """
    target = Path(target)
    prefix = _partial_prefix(target)
    with contextlib.suppress(OSError), os.scandir(target.parent) as entries:
        for entry in entries:
            name = entry.name
            middle = name[len(prefix) : -len(PARTIAL_SUFFIX)]
            # mkstemp's random part has no dot, so 'a.lmz.x's partials never pass for a.lmz's.
            mine = name.startswith(prefix) and name.endswith(PARTIAL_SUFFIX) and middle and "." not in middle
            if mine and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


@contextlib.contextmanager
def terminate_unwinds() -> Iterator[None]:
    """While active, SIGTERM and SIGHUP raise :class:`Terminated`, so they clean up as Ctrl-C does.

    The exception unwinds through :func:`atomic_output` (its temporary file goes) and releases
    the writer lock.  A second signal while unwinding is ignored, so the cleanup finishes (SIGKILL
    still ends the process at once).  Previous handlers come back at the end.  Off the main
    thread, which alone may handle signals, this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def handler(signum: int, _frame: FrameType | None) -> None:
        nonlocal raised
        if not raised:
            raised = True
            raise Terminated(signum)

    numbers = [getattr(signal, name) for name in TERMINATING_SIGNALS if hasattr(signal, name)]
    previous = {number: signal.signal(number, handler) for number in numbers}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, signal.SIG_DFL if old is None else old)  # None: set outside Python


def _mode_for(target: Path) -> int:
    """The replaced file's permissions, or what a new file would get under the current umask."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


#: Whether names can be resolved relative to an open folder without following links (POSIX).  Where
#: they cannot (Windows has no dir_fd), each folder is re-checked by path with lstat right before it
#: is used, which leaves a window between the check and the use that descriptors close.
NOFOLLOW_DIRS = (
    hasattr(os, "O_NOFOLLOW")
    and hasattr(os, "O_DIRECTORY")
    and {os.open, os.mkdir, os.rmdir, os.stat, os.unlink, os.rename, os.link} <= os.supports_dir_fd
)
_OPEN_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_JUNCTION = getattr(stat, "IO_REPARSE_TAG_MOUNT_POINT", -1)  # only Windows has it, and st_reparse_tag


def is_link(st: os.stat_result) -> bool:
    """A symbolic link, or on Windows a junction (which lstat reports as a folder)."""
    return stat.S_ISLNK(st.st_mode) or getattr(st, "st_reparse_tag", 0) == _JUNCTION


class Folder:
    """A folder at or below an extraction root, reached without following any link.

    With ``NOFOLLOW_DIRS`` it holds a descriptor and every name is resolved relative to it, so a
    folder swapped for a link after it was opened cannot redirect what is done in it; otherwise
    ``fd`` is None and names are joined to ``path``.  Pass ``at(name)`` and ``dir_fd=fd`` to the os
    functions.
    """

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path = path
        self.fd = fd
        self._open = True

    def at(self, name: str) -> str:
        return name if self.fd is not None else str(self.path / name)

    def lstat(self, name: str) -> os.stat_result | None:
        """What is at ``name`` in this folder, not following a link; None if nothing is."""
        try:
            return os.stat(self.at(name), dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def identity(self) -> tuple[int, int]:
        """(device, inode): the same folder found again has the same identity."""
        st = os.stat(self.fd) if self.fd is not None else os.lstat(self.path)
        return st.st_dev, st.st_ino

    def close(self) -> None:
        if self._open and self.fd is not None:
            os.close(self.fd)
        self._open = False

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_root(root: Path) -> Folder:
    """The extraction root (an existing, resolved folder chosen by the user, so links to it are fine)."""
    if not NOFOLLOW_DIRS:
        return Folder(root, None)
    return Folder(root, os.open(root, _OPEN_DIR))


def confined_folder(
    root: Folder, member: str, parts: Sequence[str], *, made: Callable[[str, tuple[int, int]], None] | None = None
) -> Folder | None:
    """Open the folder ``parts`` (leading components of ``member``) below ``root``, never through a link.

    A link or a non-folder on the way raises UnsafePathError.  A missing folder is made when ``made``
    is given (it is told each one's '/'-joined path and identity); otherwise a missing one gives None.
    The caller closes the folder returned.
    """
    folder = Folder(root.path, None if root.fd is None else os.dup(root.fd))
    try:
        for depth, part in enumerate(parts):
            child = _child(folder, part, member, "/".join(parts[: depth + 1]), made)
            folder.close()
            if child is None:
                return None
            folder = child
    except BaseException:
        folder.close()
        raise
    return folder


def _child(
    folder: Folder, part: str, member: str, rel: str, made: Callable[[str, tuple[int, int]], None] | None
) -> Folder | None:
    """Open (or make) one folder inside ``folder``; ``rel`` is its path below the root, for messages."""
    created = False
    while True:
        try:
            child = _open_dir(folder, part, member, rel)
        except FileNotFoundError:
            if made is None:
                return None
            with contextlib.suppress(FileExistsError):  # something appeared meanwhile: look again
                os.mkdir(folder.at(part), dir_fd=folder.fd)
                created = True
            continue
        if created and made is not None:  # only a caller that passed made has folders created
            made(rel, child.identity())
        return child


def _open_dir(folder: Folder, part: str, member: str, rel: str) -> Folder:
    path = folder.path / part
    if folder.fd is not None:
        try:
            return Folder(path, os.open(part, _OPEN_DIR | _NOFOLLOW, dir_fd=folder.fd))
        except FileNotFoundError:
            raise
        except OSError:
            st = folder.lstat(part)  # say why: a link, or not a folder
            if st is None:
                raise FileNotFoundError(part) from None
            _refuse_unless_folder(st, member, rel)
            raise
    st = folder.lstat(part)
    if st is None:
        raise FileNotFoundError(part)
    _refuse_unless_folder(st, member, rel)
    return Folder(path, None)


def _refuse_unless_folder(st: os.stat_result, member: str, rel: str) -> None:
    if is_link(st):
        raise UnsafePathError(f"refusing to extract {show(member)}: {show(rel)} is a link")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(f"refusing to extract {show(member)}: {show(rel)} is not a folder")
