"""The library's own exception types: every user-facing failure is one of these."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lmarchive.reading import Damage


class LMArchiveError(Exception):
    """Base class: callers catch this one type to report any archive problem in one line."""


class FormatError(LMArchiveError):
    """The archive is not an .lmz file, or it is corrupt, truncated or hostile."""


class ChecksumError(FormatError):
    """Stored data fails an integrity check: its checksum, or a coded stream that ends before its data."""


class DamagedArchiveError(ChecksumError):
    """Some members could not be decoded whole; ``damage`` says which bytes of which, and why.

    Raised after everything else was decoded (and, extracting with keep-going, written out).
    """

    def __init__(self, message: str, damage: Sequence[Damage]) -> None:
        super().__init__(message)
        self.damage = tuple(damage)


class UnsafePathError(LMArchiveError):
    """A member name or an extraction target would escape the destination folder."""


class ModelError(LMArchiveError):
    """A model is missing, unknown or does not match the one an archive was made with."""


class MemberNotFoundError(LMArchiveError, KeyError):
    """A member name asked for is not in the archive."""

    def __str__(self) -> str:  # KeyError would add quotes around the message
        return str(self.args[0]) if self.args else ""


class OverwriteError(LMArchiveError):
    """A target file exists and overwriting was not allowed."""


class AccessError(LMArchiveError, OSError):
    """An archive or input file cannot be opened or read: the system's reason and the path.

    Also an OSError, so ``strerror`` and ``filename`` are there, as for any file error.
    """


class ExtractError(LMArchiveError):
    """A member could not be written out (a name too long for the file system, no space, no permission)."""


class CancelledError(LMArchiveError):
    """The operation was cancelled by the caller; nothing partial was left behind."""


class ArchiveBusyError(LMArchiveError):
    """Another writer holds the archive's lock; nothing was changed, try again when it is done."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived (see :func:`lmarchive.safety.terminate_unwinds`).

    Like KeyboardInterrupt for Ctrl-C it unwinds the stack, so temporary files are removed on the
    way out; it is not an LMArchiveError, because nothing failed and no error handler may keep it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def describe_error(exc: BaseException) -> str:
    """An OSError as 'reason: file' (no errno noise); anything else as its own message."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc)


def one_line(text: str) -> str:
    """Error messages are exactly one line, whatever the exception text holds."""
    return " ".join(text.splitlines()) or "unknown error"
