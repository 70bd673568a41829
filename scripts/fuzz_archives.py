"""Fuzz the archive reader: seeded, mostly CRC-fixed mutations of a small archive, on one or more processes.

    .venv/bin/python scripts/fuzz_archives.py --cases 20000 --seed 20240612 --crc-fixed-share 1 --jobs 2
    .venv/bin/python scripts/fuzz_archives.py --seed 20240612 --case 1234 --keep /tmp/case1234.lmz

Prints counts per mutation kind and outcome, per error type, every unexpected exception and other
failure (with its case number: rerun one case with --case), and the slowest cases.  Exits 1 when
any case failed or ran longer than --bound seconds; a case still running after --limit seconds is
interrupted (and fails), so a decode-time bomb cannot stall the campaign.  The mutations and the
checks are in tests/fuzzing.py, shared with tests/test_fuzz.py (whose slow campaign is the first
example).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
os.environ.update({name: os.environ.get(name, "") for name in ("LMARCHIVE_DEFAULT_LM", "LMARCHIVE_LM")})  # as in tests

import fuzzing

SHARD = 250


def _shard(job: tuple[bytes, dict[str, bytes | None], int, list[int], float, float]) -> fuzzing.Report:
    """Run some cases in a worker, in a folder of its own."""
    blob, tree, seed, numbers, share, limit = job
    base = fuzzing.Base.from_blob(blob, tree)
    with tempfile.TemporaryDirectory(prefix="lmz-fuzz-") as folder:
        return fuzzing.run_campaign(base, seed, numbers, share, Path(folder), limit)


def campaign(base: fuzzing.Base, args: argparse.Namespace) -> fuzzing.Report:
    numbers = list(range(args.first, args.first + args.cases))
    jobs = [
        (base.blob, base.tree, args.seed, numbers[i : i + SHARD], args.crc_fixed_share, args.limit)
        for i in range(0, len(numbers), SHARD)
    ]
    report = fuzzing.Report()
    started = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for part in pool.imap_unordered(_shard, jobs):
            report.merge(part)
            failures = len(report.unexpected) + len(report.problems)
            print(
                f"  {report.cases}/{args.cases} cases, {failures} failures, {time.monotonic() - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    return report


def one_case(base: fuzzing.Base, args: argparse.Namespace) -> fuzzing.Report:
    case = fuzzing.make_case(base, args.seed, args.case, args.crc_fixed_share)
    if args.keep:
        Path(args.keep).write_bytes(case.data)
        print(f"case {case.number} ({case.kind}): {len(case.data)} bytes written to {args.keep}")
    with tempfile.TemporaryDirectory(prefix="lmz-fuzz-") as folder:
        result = fuzzing.run_case(base, case, Path(folder), args.limit)
    print(f"case {case.number} ({case.kind}): {result.outcome} in {result.seconds:.3f} s; errors {result.errors}")
    report = fuzzing.Report()
    report.add(result)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000, help="number of cases (default 20000)")
    parser.add_argument("--first", type=int, default=0, help="number of the first case (default 0)")
    parser.add_argument("--seed", type=int, default=fuzzing.SEED, help=f"campaign seed (default {fuzzing.SEED})")
    parser.add_argument(
        "--crc-fixed-share", type=float, default=1.0, help="share of CRC-fixed cases, the rest raw (default 1)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--bound", type=float, default=10.0, help="seconds a case may take (default 10)")
    parser.add_argument(
        "--limit", type=float, default=60.0, help="interrupt a case after this many seconds (default 60; POSIX only)"
    )
    parser.add_argument("--case", type=int, help="run only this case, and say what it did")
    parser.add_argument("--keep", help="with --case: write the case's archive to this file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lmz-fuzz-base-") as folder:
        base = fuzzing.build_base(Path(folder))
    report = one_case(base, args) if args.case is not None else campaign(base, args)
    print(fuzzing.format_report(report, args.seed))
    slow = [(s, n, k) for s, n, k in report.slowest if s > args.bound]
    if slow:
        print(f"cases over the {args.bound} s bound: {slow}")
    return 1 if report.unexpected or report.problems or slow else 0


if __name__ == "__main__":
    sys.exit(main())
