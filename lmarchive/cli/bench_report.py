"""The ``bench`` command: its list arguments, its run, and the tables it prints."""

from __future__ import annotations

import argparse
import json

from lmarchive import bench
from lmarchive.cli.commands import check_model
from lmarchive.cli.console import Console
from lmarchive.cli.text import bpb, format_table, printable, tail
from lmarchive.device import resolve_device


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


def format_bench(result: bench.BenchResult) -> str:
    """Bits per byte per file and method (models first, with a totals row), then total speeds per method."""
    labels = [result.label(m) for m in result.methods]
    total = result.total_size
    rows = [["file", "bytes", *labels]]
    for f in result.files:
        cells = [_bpb_cell(f.methods[m].coded, f.size) for m in result.methods]
        rows.append([tail(printable(f.path), 48), f"{f.size:,}", *cells])
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
