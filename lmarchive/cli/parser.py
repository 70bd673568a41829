"""The command line's grammar: every command, its arguments, and the handler it runs."""

from __future__ import annotations

import argparse
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from lmarchive import bench
from lmarchive.cli.bench_report import cmd_bench, methods_arg, models_arg
from lmarchive.cli.commands import (
    cmd_add,
    cmd_create,
    cmd_delete,
    cmd_extract,
    cmd_models,
    cmd_salvage,
    cmd_selftest,
    cmd_test,
)
from lmarchive.cli.listing import cmd_list
from lmarchive.cli.text import PROG
from lmarchive.device import DEVICES
from lmarchive.models.registry import DEFAULT_MODEL

QUIET_HELP = "no progress bar, summaries or warnings (errors still go to stderr)"
VERBOSE_HELP = "print one line per entry as it finishes"
THREADS_HELP = "threads that code and decode (default: automatic, up to 4); the archive is the same whatever the count"


def program_version() -> str:
    try:
        return version(PROG)
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def threads_arg(text: str) -> int:
    """``--threads``'s value: a whole number, 0 for automatic; anything else is a usage error."""
    try:
        threads = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if threads < 0:
        raise argparse.ArgumentTypeError(f"cannot be negative: {threads}")
    return threads


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
    threads = argparse.ArgumentParser(add_help=False)
    threads.add_argument("--threads", type=threads_arg, default=0, metavar="N", help=THREADS_HELP)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, *parents: argparse.ArgumentParser, **extra: Any) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, description=help_text, parents=[output, *parents], **extra)

    sub = command("create", "make a new archive from files and folders (folders recurse)", model, device, threads)
    sub.add_argument("archive", metavar="ARCHIVE")
    sub.add_argument("paths", metavar="PATH", nargs="+")
    sub.add_argument("--force", action="store_true", help="replace ARCHIVE if it exists")
    sub.set_defaults(handler=cmd_create)

    sub = command("add", "add or replace members (creates ARCHIVE if missing)", model, device, threads)
    sub.add_argument("archive", metavar="ARCHIVE")
    sub.add_argument("paths", metavar="PATH", nargs="+")
    sub.set_defaults(handler=cmd_add)

    sub = command(
        "extract", "extract all members, or the named ones (a folder selects what is below it)", device, threads
    )
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

    sub = command("test", "decode every member and verify every checksum, writing nothing", device, threads)
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
