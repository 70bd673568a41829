"""The declared sources of the training corpus: ``sources.toml``, parsed and checked.

Every package (or generator) the corpus may take files from is declared there with a category, a
cap, a license and a reason; :mod:`lmarchive.training.corpus` builds from nothing else.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from lmarchive.training.data import MAX_FILE_BYTES, check_allowed

SOURCES_FILE = Path(__file__).with_name("sources.toml")
KINDS = ("deb", "pypi", "synthetic")
CATEGORIES = ("prose", "code", "structured", "other-language", "binary")


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
