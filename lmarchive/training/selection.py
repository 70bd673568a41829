"""Which files of an unpacked package enter the training corpus, and which never may.

The benchmark (``../shared/corpus``) and the original texts behind it must stay out whatever a
package ships: files named like benchmark files and Project Gutenberg editions of the benchmark's
titles are dropped (:data:`EXCLUSION_RULE` says so in every manifest).  Of the rest, a source
takes the files its globs match, text or binary as its category says, each content once, up to
its cap.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from lmarchive.training.data import SNIFF_BYTES

if TYPE_CHECKING:
    from lmarchive.training.source_list import Source

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
