"""The handlers of the commands that run a job, and of ``models`` and ``selftest``.

Each takes the parsed arguments and the :class:`~lmarchive.cli.console.Console`, and returns the
exit status; errors propagate to :func:`lmarchive.cli.main`, which reports them.  ``list`` and
``bench`` format output of their own and live in :mod:`lmarchive.cli.listing` and
:mod:`lmarchive.cli.bench_report`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lmarchive import jobs
from lmarchive.cli.console import Console
from lmarchive.cli.text import PROG, count_text, sizes_text
from lmarchive.container import ContainerReader
from lmarchive.device import resolve_device
from lmarchive.errors import ModelError, OverwriteError
from lmarchive.jobs import AddJob, CreateJob, DeleteJob, ExtractJob, TestJob
from lmarchive.models.registry import DEFAULT_MODEL, PROFILES, available_models, resolve


def check_model(name: str) -> None:
    """Refuse an unknown ``--model`` before any work starts (loading a model can be slow).

    A profile always passes: if the model it stands for is missing, loading it says which one.
    """
    if name not in PROFILES and name not in available_models():
        raise ModelError(f"unknown model {name!r}; available: {', '.join(available_models())} (see '{PROG} models')")


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
    from lmarchive.models.compiling import compile_notices

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

    with compile_notices(compiling):
        results = selftest.run_selftest(device, report)
    failed = [c for c in results if not c.ok]
    if failed:
        print(f"FAIL: {len(failed)} of {len(results)} checks failed; archives made elsewhere may not decode here")
        return 1
    print(f"PASS: all {len(results)} checks passed")
    return 0
