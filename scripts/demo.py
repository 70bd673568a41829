"""Command-line demo, what ``./run.sh [PATH...]`` runs without a display: the app's two uses, in text.

scripts/demo.py              archive this repository's text, show ratios next to gzip, extract, verify
scripts/demo.py ARCHIVE      list an .lmz archive and test it (what opening it in the app shows)
scripts/demo.py PATH...      the first demo on these files and folders (what dropping them does)
"""

from __future__ import annotations

import filecmp
import os
import sys
import tempfile
from pathlib import Path

import lmarchive
from lmarchive.cli import main as cli

ROOT = Path(__file__).resolve().parent.parent


def run(argv: list[str]) -> int:
    print(f"$ lmarchive {' '.join(argv)}")
    status = cli([*argv, "--quiet"] if argv[0] == "extract" else argv)
    print()
    return status


def regular_files(path: Path) -> list[Path]:
    """The regular files at or under ``path``, relative to its parent: what the archive holds of it."""
    if path.is_file() and not path.is_symlink():
        return [Path(path.name)]
    found: list[Path] = []
    for dirpath, _dirnames, filenames in os.walk(path):
        for name in filenames:
            file = Path(dirpath, name)
            if file.is_file() and not file.is_symlink():
                found.append(file.relative_to(path.parent))
    return found


def round_trip(sources: list[Path]) -> int:
    """Archive ``sources``, list, extract and test the archive, and compare every file byte for byte."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "demo.lmz"
        out = Path(tmp) / "out"
        print(f"lmarchive {lmarchive.__version__}: archiving {', '.join(p.name for p in sources)}\n")
        for argv in (
            ["create", str(archive), *map(str, sources)],
            ["list", str(archive)],
            ["extract", str(archive), "-o", str(out)],
            ["test", str(archive)],
        ):
            if status := run(argv):
                return status
        files = [(source.parent / rel, out / rel) for source in sources for rel in regular_files(source)]
        differ = [str(a) for a, b in files if not filecmp.cmp(a, b, shallow=False)]
        print(f"extracted files byte-identical to the originals: {len(files) - len(differ)} of {len(files)}")
        for name in differ:
            print(f"  differs: {name}")
        return 1 if differ else 0


def main(argv: list[str]) -> int:
    if not argv:
        return round_trip([ROOT / "lmarchive", ROOT / "docs", ROOT / "README.md"])
    paths = [Path(p).absolute() for p in argv]
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f"demo: no such file or folder: {missing[0]}", file=sys.stderr)
        return 1
    one = paths[0]
    if len(paths) == 1 and one.is_file() and (one.suffix.lower() == ".lmz" or lmarchive.is_lmzfile(one)):
        print(f"No display, so no window: listing and testing {one.name} instead.\n")
        return run(["list", str(one)]) or run(["test", str(one)])
    return round_trip(paths)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
