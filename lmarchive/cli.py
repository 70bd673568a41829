"""The ``lmarchive`` command: argument parsing, progress display and one-line errors around the jobs.

Everything here is presentation.  The work happens in :mod:`lmarchive.jobs` (and
:mod:`lmarchive.bench`), so a GUI driving the same jobs behaves the same way.  Scripts depend on
the exit status: 0 success, 1 a user-facing error (one line on stderr; 'ARCHIVE is busy' when
another writer holds its lock), 2 bad usage, 130 Ctrl-C, 128 + the signal's number for SIGTERM
(143) and SIGHUP (129).  Interrupted or not, a command leaves no temporary file behind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TextIO

from tqdm import tqdm

from lmarchive import bench, jobs
from lmarchive.container import ContainerReader, EntryRecord, Method
from lmarchive.device import DEVICES, resolve_device
from lmarchive.errors import (
    DamagedArchiveError,
    LMArchiveError,
    ModelError,
    OverwriteError,
    Terminated,
    describe_error,
    one_line,
)
from lmarchive.jobs import (
    AddJob,
    CreateJob,
    DeleteJob,
    EntryFinished,
    EntryStarted,
    Event,
    ExtractJob,
    JobFinished,
    JobStarted,
    Notice,
    Preparing,
    Progress,
    TestJob,
)
from lmarchive.models.registry import DEFAULT_MODEL, PROFILES, available_models, resolve
from lmarchive.safety import terminate_unwinds

PROG = "lmarchive"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_POSTFIX_WIDTH = 40
QUIET_HELP = "no progress bar, summaries or warnings (errors still go to stderr)"
VERBOSE_HELP = "print one line per entry as it finishes"


def check_model(name: str) -> None:
    """Refuse an unknown ``--model`` before any work starts (loading a model can be slow).

    A profile always passes: if the model it stands for is missing, loading it says which one.
    """
    if name not in PROFILES and name not in available_models():
        raise ModelError(f"unknown model {name!r}; available: {', '.join(available_models())} (see '{PROG} models')")


# -- text helpers ---------------------------------------------------------------------------
def printable(text: str) -> str:
    """Escape control characters, so a hostile member name cannot drive the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def message_line(text: str) -> str:
    """An error or warning as one line with control characters escaped: messages quote paths and
    member names, which may hold terminal escapes."""
    return printable(one_line(text))


def bpb(coded: int, size: int) -> str:
    """Bits per byte, the unit compression papers use; ``size`` must be positive."""
    return f"{coded * 8 / size:.3f}"


def ratio(coded: int, size: int) -> str:
    """Coded size as a percentage of the original; '-' for empty entries."""
    return f"{coded / size:.1%}" if size else "-"


def sizes_text(size: int, packed: int, gzip_size: int) -> str:
    """'3,251,493 -> 1,022,975 bytes (2.517 bpb; gzip -9: 2.608 bpb)'; gzip only where it was measured."""
    text = f"{size:,} -> {packed:,} bytes"
    if size:
        gzip_part = f"; gzip -9: {bpb(gzip_size, size)} bpb" if gzip_size else ""
        text += f" ({bpb(packed, size)} bpb{gzip_part})"
    return text


def count_text(count: int, one: str = "entry", many: str = "entries") -> str:
    """'1 entry', '19 entries'."""
    return f"{count:,} {one if count == 1 else many}"


def entry_line(event: EntryFinished) -> str:
    """The -v line for one finished entry."""
    name = printable(event.name)
    if event.is_dir:
        return f"{name}/"
    if not event.size:
        return f"{name}: empty"
    gzip_part = f"; gzip -9: {ratio(event.gzip_size, event.size)}" if event.gzip_size else ""
    return f"{name}: {event.size:,} -> {event.packed:,} ({ratio(event.packed, event.size)}{gzip_part}) {event.method}"


def mtime_utc(mtime_ns: int) -> datetime:
    """Exact for every int64 mtime the format allows (years 1677..2262), unlike fromtimestamp."""
    return _EPOCH + timedelta(microseconds=mtime_ns // 1000)


def mtime_local_text(mtime_ns: int) -> str:
    """Local time for the human listing (JSON gives UTC)."""
    moment = mtime_utc(mtime_ns)
    with contextlib.suppress(OverflowError, OSError, ValueError):  # some platforms reject far dates
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M")


# -- console output -------------------------------------------------------------------------
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
            self.bar.set_postfix_str(_tail(printable(text), _POSTFIX_WIDTH), refresh=False)

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
                self.pending.pop(event.name, None)
                self.show_pending()
                if self.verbose:
                    self.say(entry_line(event))
            case Notice():
                self.warn(event.message)
            case JobFinished():
                self.close()


# -- commands -------------------------------------------------------------------------------
def cmd_create(args: argparse.Namespace, console: Console) -> int:
    check_model(args.model)
    device = resolve_device(args.device)
    if not args.force and Path(args.archive).exists():
        raise OverwriteError(f"{args.archive} already exists (use --force to replace it, or '{PROG} add')")
    done = CreateJob(
        on_event=console.on_event,
        archive=args.archive,
        paths=args.paths,
        model=args.model,
        overwrite=args.force,
        device=device,
    ).run()
    console.say(
        f"created {args.archive}: {count_text(done.entries)}, {sizes_text(done.size, done.packed, done.gzip_size)}"
    )
    return 0


def cmd_add(args: argparse.Namespace, console: Console) -> int:
    check_model(args.model)
    device = resolve_device(args.device)
    done = AddJob(
        on_event=console.on_event, archive=args.archive, paths=args.paths, model=args.model, device=device
    ).run()
    console.say(
        f"added to {args.archive}: {count_text(done.entries)}, {sizes_text(done.size, done.packed, done.gzip_size)}"
    )
    return 0


def cmd_extract(args: argparse.Namespace, console: Console) -> int:
    from lmarchive.extracting import Resolution, existing_targets

    existing: Resolution = "replace" if args.overwrite else args.existing
    resolutions: dict[str, Resolution] = {}
    if existing in ("skip", "rename"):  # members that are not being extracted are not looked up by the job
        with ContainerReader(args.archive) as reader:
            resolutions = {entry.name: existing for entry, _ in existing_targets(reader.entries, args.output)}
    done = ExtractJob(
        on_event=console.on_event,
        device=resolve_device(args.device),
        archive=args.archive,
        dest=args.output,
        members=args.members or None,
        overwrite=existing == "replace",
        keep_going=args.keep_going,
        resolutions=resolutions,
    ).run()
    console.say(f"extracted {count_text(done.entries)} ({done.size:,} bytes) to {args.output}")
    return 0


def cmd_test(args: argparse.Namespace, console: Console) -> int:
    done = TestJob(on_event=console.on_event, archive=args.archive, device=resolve_device(args.device)).run()
    console.say(f"OK: {done.entries:,} entries verified")
    return 0


def cmd_salvage(args: argparse.Namespace, console: Console) -> int:
    from lmarchive.salvage import salvage

    source = Path(args.archive)
    output = Path(args.output) if args.output else source.with_name(f"{source.stem}-salvaged.lmz")
    result = salvage(source, output, overwrite=args.force)
    if result.directory_intact:
        console.say(
            f"{args.archive}: its directory is intact, nothing to salvage; '{PROG} test' names what is damaged "
            f"and '{PROG} extract --keep-going' writes the rest"
        )
        return 0
    for reason in result.dropped:
        console.warn(reason)
    files = [e for e in result.entries if not e.is_dir]
    console.say(
        f"salvaged {count_text(len(result.entries))} ({sum(e.size for e in files):,} bytes) into {output}; "
        f"'{PROG} test {output}' checks them"
    )
    return 0


def cmd_delete(args: argparse.Namespace, console: Console) -> int:
    DeleteJob(on_event=console.on_event, archive=args.archive, members=args.members).run()
    removed = console.started.entries if console.started is not None else 0
    console.say(f"deleted {count_text(removed)} from {args.archive}")
    return 0


def entry_json(entry: EntryRecord) -> dict[str, Any]:
    """One member for ``list --json``; field names are part of the command's contract."""
    is_model = entry.method == Method.MODEL
    return {
        "name": entry.name,
        "type": "dir" if entry.is_dir else "file",
        "size": entry.size,
        "packed": entry.packed,
        "method": entry.method.name.lower(),
        "model": entry.model if is_model else None,
        "gzip_size": entry.gzip_size,
        "mtime": mtime_utc(entry.mtime_ns).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "mtime_ns": entry.mtime_ns,
        "mode": entry.mode,
        "crc32": entry.crc32,
        "chunks": len(entry.chunks),
        "fingerprint": entry.fingerprint.hex() if is_model else None,
    }


def write_json_list(out: TextIO, entries: list[EntryRecord]) -> None:
    """``json.dumps([entry_json(e) ...], indent=2)`` plus a newline, written one entry at a time.

    A big archive's listing is never held as one list of dicts and one string.  The values are
    scalars and JSON escapes newlines inside strings, so indenting each entry's lines is exact.
    """
    if not entries:
        out.write("[]\n")
        return
    for number, entry in enumerate(entries):
        text = json.dumps(entry_json(entry), indent=2).replace("\n", "\n  ")
        out.write(("[\n  " if number == 0 else ",\n  ") + text)
    out.write("\n]\n")


def format_table(rows: list[list[str]], left: set[int]) -> list[str]:
    """Columns padded to their widest cell (first row: the header); numbers right, ``left`` columns left."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(w) if i in left else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    with ContainerReader(args.archive) as reader:
        entries = list(reader.entries)
    if args.json:
        write_json_list(sys.stdout, entries)
        return 0
    rows = [["Modified", "Size", "Packed", "Ratio", "Gzip", "Method", "Model", "Name"]]
    for e in entries:
        when = mtime_local_text(e.mtime_ns)
        if e.is_dir:
            rows.append([when, "-", "-", "-", "-", "-", "-", printable(e.name) + "/"])
            continue
        gzip_ratio = ratio(e.gzip_size, e.size) if e.gzip_size else "-"
        sizes = [f"{e.size:,}", f"{e.packed:,}", ratio(e.packed, e.size), gzip_ratio]
        rows.append([when, *sizes, e.method.name.lower(), e.model or "-", printable(e.name)])
    for line in format_table(rows, left={0, 5, 6, 7}):
        print(line)
    files = [e for e in entries if not e.is_dir]
    folders = len(entries) - len(files)
    totals = sizes_text(sum(e.size for e in files), sum(e.packed for e in files), sum(e.gzip_size for e in files))
    parts = f"{count_text(len(files), 'file', 'files')}, {count_text(folders, 'folder', 'folders')}"
    print(f"{count_text(len(entries))} ({parts}): {totals}")
    return 0


def cmd_models(args: argparse.Namespace, console: Console) -> int:
    """Profiles (with what they do and the model they stand for), then every model by name."""
    for name in available_models():
        if name in PROFILES:
            mark = ", the default" if name == DEFAULT_MODEL else ""
            print(f"{name} (profile{mark}: {PROFILES[name]}; model {resolve(name)})")
        else:
            print(name)
    return 0


def cmd_selftest(args: argparse.Namespace, console: Console) -> int:
    from lmarchive import selftest
    from lmarchive.models import jit

    device = resolve_device(args.device)
    for key, value in selftest.environment().items():
        console.say(f"{key}: {value}")

    def report(check: selftest.Check) -> None:
        print(f"PASS  {check.name}" if check.ok else f"FAIL  {check.name}: {check.detail}", flush=True)

    noticed: list[bool] = []

    def compiling() -> None:
        if not noticed:
            noticed.append(True)
            console.warn_line(f"{PROG}: {jobs.COMPILING}...")

    with jit.compile_notices(compiling):
        results = selftest.run_selftest(device, report)
    failed = [c for c in results if not c.ok]
    if failed:
        print(f"FAIL: {len(failed)} of {len(results)} checks failed; archives made elsewhere may not decode here")
        return 1
    print(f"PASS: all {len(results)} checks passed")
    return 0


def cmd_bench(args: argparse.Namespace, console: Console) -> int:
    # Models the user named must all exist; of the default profiles, a missing one is skipped.
    explicit = args.model is not None
    if explicit:
        for name in args.model:
            check_model(name)
    models = args.model if explicit else bench.DEFAULT_BENCH_MODELS
    resolve_device(args.device)
    callbacks = bench.BenchCallbacks(started=lambda total: console.open("bench", total), progress=console.step)
    result = bench.run_bench(
        args.paths, models=models, methods=args.methods, callbacks=callbacks, skip_missing=not explicit
    )
    console.close()
    for message in result.notices:
        console.warn(message)
    for message in result.skipped:
        console.warn(message)
    if args.json:
        print(json.dumps(bench.to_json(result), indent=2))
    else:
        print(format_bench(result))
    return 0


def _bpb_cell(coded: int, size: int) -> str:
    return bpb(coded, size) if size else "-"


def _speed_cell(size: int, seconds: float | None) -> str:
    return f"{size / 1e6 / seconds:.2f}" if seconds else "-"


def _tail(text: str, width: int) -> str:
    """The end of a long path or name, which is the part that tells files apart."""
    return text if len(text) <= width else "..." + text[-(width - 3) :]


def format_bench(result: bench.BenchResult) -> str:
    """Bits per byte per file and method (models first, with a totals row), then total speeds per method."""
    labels = [result.label(m) for m in result.methods]
    total = result.total_size
    rows = [["file", "bytes", *labels]]
    for f in result.files:
        cells = [_bpb_cell(f.methods[m].coded, f.size) for m in result.methods]
        rows.append([_tail(printable(f.path), 48), f"{f.size:,}", *cells])
    rows.append(["total", f"{total:,}", *(_bpb_cell(result.totals[m].coded, total) for m in result.methods)])
    lines = ["bits per byte (lower is better)", *format_table(rows, left={0})]
    if result.models:
        lines.append("models: coded chunk bytes of each entry; whole archives, header and directory included:")
        for name in result.models:
            size = result.archive_bytes[name]
            lines.append(f"  {result.label(name)}: {size:,} bytes ({_bpb_cell(size, total)} bpb)")
    speeds = [["method", "compress MB/s", "decompress MB/s"]]
    for method, label in zip(result.methods, labels, strict=True):
        measure = result.totals[method]
        speeds.append([label, _speed_cell(total, measure.compress_s), _speed_cell(total, measure.decompress_s)])
    lines += ["", "speed over all files (MB = 10**6 bytes)", *format_table(speeds, left={0})]
    if result.models:
        lines.append("models: all files in one archive per model, timed as a whole (create, then decode)")
    return "\n".join(lines)


# -- parser ---------------------------------------------------------------------------------
def methods_arg(text: str) -> tuple[str, ...]:
    """``--methods gzip,model`` -> the chosen methods in the table's order (model first)."""
    chosen = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(chosen - set(bench.ALL_METHODS))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown method(s) {', '.join(unknown) or '(none given)'}; choose from {','.join(bench.ALL_METHODS)}"
        )
    return tuple(m for m in bench.ALL_METHODS if m in chosen)


def models_arg(text: str) -> tuple[str, ...]:
    """``--model fast,cm2`` -> the names in the order given (repeats are the bench's to drop)."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise argparse.ArgumentTypeError("no model given")
    return names


def program_version() -> str:
    try:
        return version(PROG)
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; -q/-v work before or after the command name."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Lossless archiver whose entries are coded by integer models driving a range coder.",
        epilog=f"Exit status: 0 success, 1 error, 2 bad usage, 130 interrupted, 143 SIGTERM, 129 SIGHUP. "
        f"'{PROG} COMMAND --help' for details.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {program_version()}")
    output = argparse.ArgumentParser(add_help=False)
    for owner, default in ((parser, False), (output, argparse.SUPPRESS)):
        # SUPPRESS: a command's parser must not reset a flag given before the command name.
        owner.add_argument("-q", "--quiet", action="store_true", default=default, help=QUIET_HELP)
        owner.add_argument("-v", "--verbose", action="store_true", default=default, help=VERBOSE_HELP)
    model = argparse.ArgumentParser(add_help=False)
    model.add_argument(
        "--model",
        metavar="NAME",
        default=DEFAULT_MODEL,
        help=f"model to code with (default: {DEFAULT_MODEL}; '{PROG} models' lists them)",
    )
    device = argparse.ArgumentParser(add_help=False)
    device.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where LM models run (default: auto = CUDA when available; results are identical on every device)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, *parents: argparse.ArgumentParser, **extra: Any) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, description=help_text, parents=[output, *parents], **extra)

    sub = command("create", "make a new archive from files and folders (folders recurse)", model, device)
    sub.add_argument("archive", metavar="ARCHIVE")
    sub.add_argument("paths", metavar="PATH", nargs="+")
    sub.add_argument("--force", action="store_true", help="replace ARCHIVE if it exists")
    sub.set_defaults(handler=cmd_create)

    sub = command("add", "add or replace members (creates ARCHIVE if missing)", model, device)
    sub.add_argument("archive", metavar="ARCHIVE")
    sub.add_argument("paths", metavar="PATH", nargs="+")
    sub.set_defaults(handler=cmd_add)

    sub = command("extract", "extract all members, or the named ones (a folder selects what is below it)", device)
    sub.add_argument("archive", metavar="ARCHIVE")
    sub.add_argument("members", metavar="MEMBER", nargs="*")
    sub.add_argument("-o", "--output", metavar="DIR", default=".", help="folder to extract into (default: current)")
    sub.add_argument("--overwrite", action="store_true", help="replace existing files (as --existing replace)")
    sub.add_argument(
        "--existing",
        choices=("error", "replace", "skip", "rename"),
        default="error",
        help="when a file to extract exists: stop with an error (default), replace it, skip the member, "
        "or rename the member to 'name (2).ext'",
    )
    sub.add_argument(
        "--keep-going",
        action="store_true",
        help="from a damaged archive, extract every intact member (and damaged ones with their lost bytes as zeros); "
        "without it, nothing is extracted",
    )
    sub.set_defaults(handler=cmd_extract)

    sub = command("list", "list members with sizes, ratios and methods")
    sub.add_argument("archive", metavar="ARCHIVE")
    sub.add_argument("--json", action="store_true", help="print one JSON array of member objects")
    sub.set_defaults(handler=cmd_list)

    sub = command("test", "decode every member and verify every checksum, writing nothing", device)
    sub.add_argument("archive", metavar="ARCHIVE")
    sub.set_defaults(handler=cmd_test)

    sub = command("delete", "remove members (a folder removes everything below it)")
    sub.add_argument("archive", metavar="ARCHIVE")
    sub.add_argument("members", metavar="MEMBER", nargs="+")
    sub.set_defaults(handler=cmd_delete)

    sub = command(
        "salvage",
        "rebuild an archive whose directory is lost (truncated, say) from the copies of its entries it holds",
    )
    sub.add_argument("archive", metavar="ARCHIVE")
    sub.add_argument("-o", "--output", metavar="NEW", help="archive to write (default: NAME-salvaged.lmz beside it)")
    sub.add_argument("--force", action="store_true", help="replace NEW if it exists")
    sub.set_defaults(handler=cmd_salvage)

    sub = command("models", "list the available models (the default is marked)")
    sub.set_defaults(handler=cmd_models)

    sub = command("selftest", "check that this machine computes the reference tables (run on a new machine)", device)
    sub.set_defaults(handler=cmd_selftest)

    sub = command(
        "bench",
        "compare models side by side with gzip, bzip2, xz, zstd, brotli and PPMd",
        device,
        epilog=bench.HELP_NOTES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument("paths", metavar="PATH", nargs="+", help="files or folders (folders recurse)")
    sub.add_argument(
        "--model",
        type=models_arg,
        metavar="LIST",
        help=f"comma-separated models or profiles to compare (default: all profiles, "
        f"{','.join(bench.DEFAULT_BENCH_MODELS)}; '{PROG} models' lists them)",
    )
    sub.add_argument(
        "--methods",
        type=methods_arg,
        default=bench.ALL_METHODS,
        metavar="LIST",
        help=f"comma-separated subset of {','.join(bench.ALL_METHODS)} (default: all)",
    )
    sub.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    sub.set_defaults(handler=cmd_bench)
    return parser


def split_leftovers(extra: list[str]) -> tuple[list[str], list[str]]:
    """Member names argparse left over, and the truly unknown options.

    On Python 3.11 argparse leaves extract's MEMBER... empty when an option comes between it and
    ARCHIVE ('extract a.lmz -o out m1'), so those names arrive as leftovers; after '--' every
    leftover is a name, even one starting with '-'.
    """
    cut = extra.index("--") if "--" in extra else len(extra)
    names = [item for item in extra[:cut] if not item.startswith("-")] + extra[cut + 1 :]
    return names, [item for item in extra[:cut] if item.startswith("-")]


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
