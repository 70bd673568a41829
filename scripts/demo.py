"""Command-line demo: archive this repository's text, show ratios next to gzip, extract, verify."""

from __future__ import annotations

import filecmp
import sys
import tempfile
from pathlib import Path

import lmarchive
from lmarchive.cli import main as cli

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    sources = [ROOT / "lmarchive", ROOT / "docs", ROOT / "README.md"]
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "demo.lmz"
        print(f"lmarchive {lmarchive.__version__}: archiving {', '.join(p.name for p in sources)}\n")
        steps = [
            ["create", str(archive), *map(str, sources)],
            ["list", str(archive)],
            ["extract", str(archive), "-o", str(Path(tmp) / "out")],
            ["test", str(archive)],
        ]
        for argv in steps:
            print(f"$ lmarchive {' '.join(argv)}")
            status = cli([*argv, "--quiet"] if argv[0] in ("extract",) else argv)
            if status:
                return status
            print()
        same = filecmp.cmp(ROOT / "README.md", Path(tmp) / "out" / "README.md", shallow=False)
        print("extracted README.md is byte-identical:", same)
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
