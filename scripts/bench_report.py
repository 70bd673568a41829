"""Turn `lmarchive bench --json` output into the Markdown tables of README.md and the model card.

    python scripts/bench_report.py fast.json [default.json ...]

Files are matched by path across the JSON files; each model column is bits per byte through the
real archive path, next to the reference compressors of the first file.  The last rows give the
totals and each model's size relative to 7z-style PPMd, and the speeds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

REFERENCES = ("gzip", "xz", "brotli", "ppmd")
LABELS = {"gzip": "gzip -9", "xz": "xz -9e", "brotli": "brotli -q11", "ppmd": "PPMd"}


def _bpb(coded: int, size: int) -> str:
    return f"{coded * 8 / size:.3f}" if size else "-"


def report(results: list[dict[str, Any]]) -> str:
    # (model name, that run's files by path) for every model column, in order
    models = [(m, {f["path"]: f for f in r["files"]}) for r in results for m in r["models"]]
    first = results[0]
    refs = [m for m in REFERENCES if m in first["methods"]]
    names = [m for m, _ in models]
    head = ["file", "bytes", *names, *(LABELS[m] for m in refs)]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    totals = dict.fromkeys([*names, *refs], 0)
    size_total = 0
    worse = []
    for f in first["files"]:
        path, size = f["path"], f["bytes"]
        size_total += size
        cells = []
        for model, files in models:
            coded = files[path]["methods"][model]["bytes"]
            totals[model] += coded
            cells.append(_bpb(coded, size))
        for m in refs:
            totals[m] += f["methods"][m]["bytes"]
        ppmd = f["methods"].get("ppmd", {}).get("bytes")
        if ppmd and cells and float(cells[-1]) > ppmd * 8 / size:
            worse.append(Path(path).name)
        lines.append(
            f"| {Path(path).parent.name}/{Path(path).name} | {size:,} | "
            + " | ".join([*cells, *(_bpb(f["methods"][m]["bytes"], size) for m in refs)])
            + " |"
        )
    lines.append(
        f"| **total** | {size_total:,} | "
        + " | ".join(f"**{_bpb(totals[m], size_total)}**" for m in [*names, *refs])
        + " |"
    )
    out = ["\n".join(lines), ""]
    for m in names:
        for ref in refs:
            out.append(f"- {m}: {totals[m]:,} bytes, {totals[m] / totals[ref]:.3f} x {LABELS[ref]} ({totals[ref]:,})")
    if worse:
        out.append(f"- last model column worse than PPMd on: {', '.join(worse)}")
    for result in results:
        t = result["totals"]
        for m in result["models"]:
            s = t["methods"][m]
            out.append(
                f"- {m} speed: compress {t['bytes'] / 1e3 / s['compress_s']:.1f} KB/s, "
                f"extract {t['bytes'] / 1e3 / s['decompress_s']:.1f} KB/s (whole archive, this machine)"
            )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", nargs="+", type=Path)
    args = parser.parse_args()
    print(report([json.loads(p.read_text()) for p in args.json]))


if __name__ == "__main__":
    main()
