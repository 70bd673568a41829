"""One-shot CUDA check (run it whenever a GPU machine is available; a few minutes).

1. golden vectors of the reference transformer on CUDA, parallel and incremental, against the
   hashes committed for the CPU (lmarchive/data/selftest/lm-golden.json);
2. a round-trip of a corpus file through the real archive path with --device cuda, checking that
   the archive made on CUDA is byte-identical to the one made on the CPU and extracts on both;
3. compress/extract throughput on CUDA and CPU for the same model and data.

Usage: python scripts/gpu_check.py [--model NAME] [--file PATH] [--bytes N]
Prints one report; exit status 1 if anything differs.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
import time
from pathlib import Path

import torch

from lmarchive.jobs import CreateJob, ExtractJob
from lmarchive.selftest import environment, lm_golden_checks


def timed_roundtrip(model: str, source: Path, workdir: Path, device: str) -> tuple[Path, float, float]:
    archive = workdir / f"{device}.lmz"
    start = time.monotonic()
    CreateJob(archive=archive, paths=[str(source)], model=model, device=device).run()
    middle = time.monotonic()
    ExtractJob(archive=archive, dest=workdir / f"out-{device}", device=device).run()
    return archive, middle - start, time.monotonic() - middle


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lm-test")
    parser.add_argument(
        "--file", type=Path, default=Path(__file__).resolve().parents[2] / "shared/corpus/canterbury/alice29.txt"
    )
    parser.add_argument("--bytes", type=int, default=1 << 20, help="use at most this many bytes of --file")
    args = parser.parse_args()
    for key, value in environment().items():
        print(f"{key}: {value}")
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check here")
        return 1
    failures = 0
    for check in lm_golden_checks("cuda"):
        print(("PASS " if check.ok else "FAIL ") + check.name + ("" if check.ok else f": {check.detail}"))
        failures += not check.ok
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        source = workdir / args.file.name
        source.write_bytes(args.file.read_bytes()[: args.bytes])
        size = source.stat().st_size
        results = {}
        for device in ("cuda", "cpu"):
            results[device] = timed_roundtrip(args.model, source, workdir, device)
            archive, enc, dec = results[device]
            same = filecmp.cmp(source, workdir / f"out-{device}" / source.name, shallow=False)
            print(
                f"{device}: {size:,} -> {archive.stat().st_size:,} bytes; compress {size / enc / 1e3:.1f} KB/s, "
                f"extract {size / dec / 1e3:.1f} KB/s; round-trip {'OK' if same else 'FAILED'}"
            )
            failures += not same
        identical = filecmp.cmp(results["cuda"][0], results["cpu"][0], shallow=False)
        print(f"archive made on CUDA {'is' if identical else 'is NOT'} byte-identical to the one made on the CPU")
        failures += not identical
        ExtractJob(archive=results["cuda"][0], dest=workdir / "cross", device="cpu").run()
        cross = filecmp.cmp(source, workdir / "cross" / source.name, shallow=False)
        print(f"CUDA archive extracted on the CPU: {'OK' if cross else 'FAILED'}")
        failures += not cross
    print("PASS" if not failures else f"FAIL: {failures} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
