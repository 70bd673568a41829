"""The library's own exception types: every user-facing failure is one of these."""

from __future__ import annotations


class LMArchiveError(Exception):
    """Base class: callers catch this one type to report any archive problem in one line."""


class FormatError(LMArchiveError):
    """The archive is not an .lmz file, or it is corrupt, truncated or hostile."""


class ChecksumError(FormatError):
    """Stored data does not match its checksum."""


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


class CancelledError(LMArchiveError):
    """The operation was cancelled by the caller; nothing partial was left behind."""


def describe_error(exc: BaseException) -> str:
    """An OSError as 'reason: file' (no errno noise); anything else as its own message."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc)


def one_line(text: str) -> str:
    """Error messages are exactly one line, whatever the exception text holds."""
    return " ".join(text.splitlines()) or "unknown error"
