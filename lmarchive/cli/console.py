"""What a running command shows: the progress bar, warnings, the -v lines and summaries."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, Self, TextIO

from tqdm import tqdm

from lmarchive import jobs
from lmarchive.cli.text import PROG, message_line, printable, ratio, tail
from lmarchive.jobs import EntryFinished, EntryStarted, Event, JobFinished, JobStarted, Notice, Preparing, Progress
from lmarchive.member import LMZInfo

_POSTFIX_WIDTH = 40


def entry_line(info: LMZInfo) -> str:
    """The -v line for one finished entry."""
    name = printable(info.name)
    if info.is_dir():
        return f"{name}/"
    if not info.size:
        return f"{name}: empty"
    gzip_part = f"; gzip -9: {ratio(info.gzip_size, info.size)}" if info.gzip_size else ""
    return f"{name}: {info.size:,} -> {info.packed:,} ({ratio(info.packed, info.size)}{gzip_part}) {info.method}"


class Console:
    """Progress bar on stderr, warnings, -v lines and summaries; -q keeps only what is essential.

    The bar follows tqdm's default of showing itself only on a terminal, so captured or piped
    output never contains it.
    """

    def __init__(self, *, quiet: bool = False, verbose: bool = False) -> None:
        self.quiet, self.verbose = quiet, verbose
        self.bar: tqdm[Any] | None = None
        self.done = 0
        self.started: JobStarted | None = None
        self.pending: dict[str, None] = {}
        """Entries started but not finished, oldest first: the writer batches many files at once."""
        self.current: str | None = None
        """The entry the byte count has reached (from Progress), when the job tells."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def open(self, desc: str, total: int) -> None:
        self.close()
        self.done = 0
        self.bar = tqdm(
            total=total,
            desc=desc,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=sys.stderr,
            disable=True if self.quiet else None,
            leave=False,
            dynamic_ncols=True,
        )

    def prepare(self, step: str) -> None:
        """Say what the bar, still at 0, waits for (a model loading, compiling); the first entry's name replaces it."""
        self.label(step)
        if self.bar is not None:
            self.bar.refresh()

    def show_pending(self) -> None:
        """Name the entry being coded (the oldest unfinished one unless Progress said), and how many wait behind it."""
        first = self.current or next(iter(self.pending), None)
        if first is not None:
            more = len(self.pending) - 1 if first in self.pending else 0
            self.label(f"{first} (+{more})" if more > 0 else first)

    def label(self, text: str) -> None:
        """Show what is being worked on (an entry's name, a bench stage) after the bar."""
        if self.bar is not None:
            self.bar.set_postfix_str(tail(printable(text), _POSTFIX_WIDTH), refresh=False)

    def step(self, label: str, delta: int) -> None:
        """Progress of a bench: ``delta`` more bytes done in stage ``label``."""
        self.label(label)
        self.advance(delta)

    def advance(self, delta: int) -> None:
        if self.bar is not None:
            self.done += delta
            self.bar.update(delta)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def write(self, line: str, file: TextIO) -> None:
        """Print without tearing the bar (tqdm clears and redraws it around the line)."""
        tqdm.write(line, file=file)

    def say(self, line: str) -> None:
        """Non-essential output on stdout: summaries and -v lines."""
        if not self.quiet:
            self.write(line, sys.stdout)

    def warn_line(self, line: str) -> None:
        """A line on stderr unless quiet."""
        if not self.quiet:
            self.write(line, sys.stderr)

    def warn(self, message: str) -> None:
        self.warn_line(f"{PROG}: warning: {message_line(message)}")

    def on_event(self, event: Event) -> None:
        """The jobs' event handler."""
        match event:
            case Preparing(step=jobs.COMPILING):  # a long wait deserves a line of its own, bar or not
                self.warn_line(f"{PROG}: {jobs.COMPILING}...")
                self.prepare(event.step)
            case Preparing():
                self.prepare(event.step)
            case JobStarted():
                self.started, self.current = event, None
                if event.total_bytes:
                    self.open(event.kind, event.total_bytes)
            case EntryStarted():
                self.pending[event.name] = None
                self.show_pending()
            case Progress():
                self.advance(event.done_bytes - self.done)
                if event.entry_total and event.entry != self.current:
                    self.current = event.entry
                    self.show_pending()
            case EntryFinished():
                self.pending.pop(event.info.name, None)
                self.show_pending()
                if self.verbose:
                    self.say(entry_line(event.info))
            case Notice():
                self.warn(event.message)
            case JobFinished():
                self.close()
