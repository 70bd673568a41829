"""Acceptance benchmark: every corpus file through create/extract, sizes next to gzip -9.

Usage: python scripts/corpus_roundtrip.py [CORPUS_DIR] [--model NAME] [--no-extract]
CORPUS_DIR defaults to ../shared/corpus (next to this repository); it is only read.
Each corpus folder becomes one archive (files coded together, as `lmarchive create` does),
is extracted to a temporary folder and compared byte for byte (unless --no-extract). Prints bits
per byte per corpus for our archive (whole .lmz file, headers included) and for gzip -9 from
baselines.csv, and every entry whose coded size exceeds its own gzip -9 size (the archive records
both), which must be none.
"""

from __future__ import annotations

import argparse
import csv
import filecmp
import sys
import tempfile
import time
from pathlib import Path

import lmarchive
from lmarchive.jobs import CreateJob, ExtractJob
from lmarchive.models import DEFAULT_MODEL

DEFAULT_CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def gzip_baseline(corpus: Path) -> dict[tuple[str, str], int]:
    sizes: dict[tuple[str, str], int] = {}
    with (corpus / "baselines.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["method"] == "gzip-9":
                sizes[(row["corpus"], row["file"])] = int(row["compressed_bytes"])
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--no-extract", action="store_true", help="sizes only: no extraction, no comparison")
    args = parser.parse_args()
    gzip = gzip_baseline(args.corpus)
    # Smallest first, so a slow model reports most folders early.
    folders = sorted(
        (p for p in args.corpus.iterdir() if p.is_dir()), key=lambda p: sum(f.stat().st_size for f in p.iterdir())
    )
    head = ("corpus", "files", "bytes", "archive", "bpb", "gzip-9", "KB/s in", "KB/s out")
    print("{:18} {:>5} {:>11} {:>10} {:>6} {:>6} {:>8} {:>8}".format(*head))
    totals = [0, 0, 0]
    ok = True
    entries, worse = 0, []
    for folder in folders:
        files = sorted(p for p in folder.iterdir() if p.is_file())
        size = sum(p.stat().st_size for p in files)
        gz = sum(gzip[(folder.name, p.name)] for p in files)
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / f"{folder.name}.lmz"
            t0 = time.monotonic()
            CreateJob(archive=archive, paths=[str(p) for p in files], model=args.model).run()
            t1 = time.monotonic()
            with lmarchive.open(archive) as lmz:
                for info in lmz.infolist():
                    entries += 1
                    if info.packed > info.gzip_size:
                        worse.append(f"{folder.name}/{info.name}: {info.packed:,} > gzip -9 {info.gzip_size:,}")
            if not args.no_extract:
                ExtractJob(archive=archive, dest=Path(tmp) / "out").run()
            t2 = time.monotonic()
            packed = archive.stat().st_size
            for p in files if not args.no_extract else []:
                if not filecmp.cmp(p, Path(tmp) / "out" / p.name, shallow=False):
                    print(f"MISMATCH: {p}", file=sys.stderr)
                    ok = False
        totals[0] += size
        totals[1] += packed
        totals[2] += gz
        print(
            f"{folder.name:18} {len(files):5} {size:11,} {packed:10,} {8 * packed / size:6.3f} {8 * gz / size:6.3f}"
            f" {size / 1e3 / (t1 - t0):8.1f} {size / 1e3 / (t2 - t1) if not args.no_extract else 0:8.1f}",
            flush=True,
        )
    size, packed, gz = totals
    print(f"{'total':18} {'':5} {size:11,} {packed:10,} {8 * packed / size:6.3f} {8 * gz / size:6.3f}")
    print(f"entries coded larger than gzip -9 makes them: {len(worse)} of {entries}", *worse, sep="\n  ")
    if not args.no_extract:
        print("all files round-tripped byte-exactly" if ok else "ROUND-TRIP FAILURES (see above)")
    return 0 if ok and not worse else 1


if __name__ == "__main__":
    sys.exit(main())
