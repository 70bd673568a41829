"""Opening a path that must be a regular file, without ever blocking on a pipe or a device."""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from lmarchive.errors import LMArchiveError


class NotARegularFile(LMArchiveError):
    """The path is a folder, a named pipe, a socket or a device; ``kind`` says which, in words."""

    def __init__(self, path: str, kind: str) -> None:
        super().__init__(f"{path} is {kind}")
        self.path, self.kind = path, kind


def file_kind(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words ('a regular file', 'a named pipe', ...)."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open ``path`` for binary reading; NotARegularFile unless it is a regular file.

    O_NONBLOCK makes opening a named pipe return at once (a plain open waits for a writer
    forever); checking the opened descriptor, not the path, leaves no window for a swap.
    """
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(os.fsdecode(path), file_kind(mode))
        return os.fdopen(fd, "rb")  # O_NONBLOCK does nothing to a regular file's reads
    except BaseException:
        os.close(fd)
        raise
