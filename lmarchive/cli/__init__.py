"""The ``lmarchive`` command: argument parsing, progress display and one-line errors around the jobs.

Everything here is presentation.  The work happens in :mod:`lmarchive.jobs` (and
:mod:`lmarchive.bench`), so a GUI driving the same jobs behaves the same way.  Scripts depend on
the exit status: 0 success, 1 a user-facing error (one line on stderr; 'ARCHIVE is busy' when
another writer holds its lock), 2 bad usage, 130 Ctrl-C, 128 + the signal's number for SIGTERM
(143) and SIGHUP (129).  Interrupted or not, a command leaves no temporary file behind.

:func:`main` runs one command and turns its outcome into that status.  The grammar is in
:mod:`~lmarchive.cli.parser`, the handlers in :mod:`~lmarchive.cli.commands`,
:mod:`~lmarchive.cli.listing` and :mod:`~lmarchive.cli.bench_report`, the progress display in
:mod:`~lmarchive.cli.console` and the formatting in :mod:`~lmarchive.cli.text`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

from lmarchive.cli.console import Console
from lmarchive.cli.parser import build_parser, split_leftovers
from lmarchive.cli.text import PROG, count_text, message_line
from lmarchive.errors import DamagedArchiveError, LMArchiveError, Terminated, describe_error
from lmarchive.models.threads import set_coding_threads
from lmarchive.safety import terminate_unwinds

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (the console script passes it to sys.exit)."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if args.command == "extract":
            names, extra = split_leftovers(extra)
            args.members += names
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # --help, --version (0) and usage errors (2)
        return int(exc.code or 0)
    try:
        # --threads, on the commands that code or decode; 0 (automatic) for the others and when absent.
        set_coding_threads(getattr(args, "threads", 0))
        with terminate_unwinds(), Console(quiet=args.quiet, verbose=args.verbose) as console:
            return args.handler(args, console)
    except KeyboardInterrupt:
        print(f"{PROG}: cancelled", file=sys.stderr)
        return 130
    except Terminated as exc:  # unwound like Ctrl-C: temporary files are gone, the archive is as it was
        print(f"{PROG}: cancelled by {signal.Signals(exc.signum).name}", file=sys.stderr)
        return 128 + exc.signum
    except BrokenPipeError:
        # The reader went away (`lmarchive list x | head`): stop quietly, and point stdout at devnull
        # so the interpreter's final flush does not complain either.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (LMArchiveError, OSError) as exc:
        report_error(exc)
        return 1


def report_error(exc: BaseException) -> None:
    """The error line on stderr; where several ranges are damaged, a 'damaged:' line for each before it."""
    damage = exc.damage if isinstance(exc, DamagedArchiveError) else ()
    message = describe_error(exc)
    if len(damage) > 1:
        for item in damage:
            print(f"{PROG}: damaged: {message_line(item.describe())}", file=sys.stderr)
        members = count_text(len({item.name for item in damage}), "member", "members")
        message = f"{len(damage)} damaged ranges in {members}; everything else is intact"
    print(f"{PROG}: error: {message_line(message)}", file=sys.stderr)
