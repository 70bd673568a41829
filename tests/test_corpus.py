"""The training-corpus builder and the synthetic generator, offline: fake unpacked packages only."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import make_tree

from lmarchive.training import corpus, synthetic
from lmarchive.training.data import read_index
from lmarchive.training.fetching import Fetched
from lmarchive.training.selection import is_benchmark_name, is_benchmark_text, matches, select
from lmarchive.training.shards import ShardWriter
from lmarchive.training.source_list import CATEGORIES, Source, load_sources, parse_sources

GOOD = """
exclude_everywhere = ["usr/share/doc/*/copyright"]

[[source]]
name = "docs"
kind = "deb"
package = "some-doc"
category = "prose"
cap = 1000
include = ["usr/share/doc/**"]
exclude = ["**/*.png"]
license = "GPL-2+"
reason = "prose"

[[source]]
name = "models"
kind = "pypi"
package = "botocore"
version = "1.35.0"
dist = "wheel"
category = "structured"
cap = 2000
license = "Apache-2.0"
reason = "json"
"""


def src(**kw: Any) -> Source:
    base = {"name": "t", "kind": "deb", "category": "prose", "cap": 10**6, "license": "x", "reason": "test"}
    return Source(**{"package": "p", **base, **kw})


def test_parse_sources() -> None:
    docs, models = parse_sources(GOOD)
    assert docs.include == ("usr/share/doc/**",)
    assert docs.exclude == ("**/*.png", "usr/share/doc/*/copyright")
    assert (models.kind, models.version, models.dist, models.include) == ("pypi", "1.35.0", "wheel", ("**",))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('category = "prose"', 'category = "poetry"'), "category"),
        (('kind = "deb"', 'kind = "rpm"'), "kind"),
        (('version = "1.35.0"\n', ""), "version pin"),
        (('license = "GPL-2+"\n', ""), "missing"),
        (("cap = 1000", "cap = -1"), "cap"),
        (('name = "models"', 'name = "docs"'), "duplicate"),
        (('reason = "json"', 'reason = "json"\nlicence = "typo"'), "unknown keys"),
        (('include = ["usr/share/doc/**"]', 'include = "usr/share/doc/**"'), "list of glob"),
    ],
)
def test_parse_sources_rejects(edit: tuple[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_sources(GOOD.replace(*edit, 1))


def test_shipped_source_list_is_valid() -> None:
    sources = load_sources()
    names = {s.name for s in sources}
    assert {"fortunes", "tzdata", "libpython3.11-stdlib", "synthetic", "manpages", "botocore", "coreutils"} <= names
    assert {s.category for s in sources} == set(CATEGORIES)
    binary = sum(s.cap for s in sources if s.category == "binary")
    assert 0 < binary < 0.05 * sum(s.cap for s in sources)


@pytest.mark.parametrize(
    ("pattern", "path", "hit"),
    [
        ("**", "a/b/c.txt", True),
        ("**/*.py", "x.py", True),
        ("**/*.py", "a/b/x.py", True),
        ("usr/*.txt", "usr/a/b.txt", False),
        ("usr/**/b.txt", "usr/b.txt", True),
        ("**/asic_reg/**", "drivers/gpu/asic_reg/x.h", True),
        ("re2-exhaustive*", "re2-exhaustive.txt.bz2", True),
        ("a?c", "a/c", False),
    ],
)
def test_glob(pattern: str, path: str, hit: bool) -> None:
    assert matches(path, [pattern]) is hit


def test_select_filters_excludes_benchmarks_and_dedups(tmp_path: Path) -> None:
    gutenberg = b"The Project Gutenberg EBook of The Complete Works of William Shakespeare\n" + b"x\n" * 100
    root = make_tree(
        tmp_path,
        {
            "usr/share/doc/p/guide.txt": b"a guide\n",
            "usr/share/doc/p/copy.txt": b"a guide\n",  # same bytes: dropped
            "usr/share/doc/p/pic.png": b"\x89PNG\0\0",  # excluded by glob
            "usr/share/doc/p/alice29.txt": b"benchmark by name\n",
            "usr/share/doc/p/BOOK1.gz": gzip.compress(b"benchmark by name, compressed\n"),
            "usr/share/doc/p/plays.txt": gutenberg,
            "usr/share/doc/p/blob.txt": b"\0binary",
            "usr/share/doc/p/big.txt": b"y" * 1001,
            "usr/share/doc/p/page.1.gz": gzip.compress(b".TH PAGE 1\n"),
            "usr/bin/tool": b"outside include\n",
        },
    )
    (root / "usr/share/doc/p/link.txt").symlink_to("/etc/hostname")
    seen: set[bytes] = set()
    sel = select(root, src(include=("usr/share/doc/**",), exclude=("**/*.png",), max_file_bytes=1000), 10**6, seen)
    (kept_guide, guide), page = sel.files  # one of the two identical guides, whichever came first
    assert kept_guide in ("usr/share/doc/p/copy.txt", "usr/share/doc/p/guide.txt") and guide == b"a guide\n"
    assert page == ("usr/share/doc/p/page.1.gz", b".TH PAGE 1\n")  # stored decompressed
    assert sel.skipped == {"not_included": 2, "benchmark": 3, "binary": 1, "too_big": 1, "duplicate": 1}
    again = select(root, src(include=("usr/share/doc/**",), exclude=("**/*.png",)), 10**6, seen)
    assert again.files == [("usr/share/doc/p/big.txt", b"y" * 1001)]  # the rest was seen before


def test_benchmark_rules() -> None:
    for name in ("x/alice29.txt", "y/paper3", "z/Dickens", "w/bible.txt.bz2", "v/enwik8"):
        assert is_benchmark_name(name), name
    assert not is_benchmark_name("x/paper7") and not is_benchmark_name("x/book1.html")
    pg = b"*** START OF THE PROJECT GUTENBERG EBOOK ALICE'S ADVENTURES IN WONDERLAND ***\n"
    assert is_benchmark_text(pg) and is_benchmark_text(b"text\n" * 50000 + pg)
    assert not is_benchmark_text(b"Project Gutenberg edition of Moby Dick\n")
    assert not is_benchmark_text(b"Shakespeare wrote plays\n")


def test_cap_cuts_at_line_end_and_binary_category(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t", {f"f{i}.txt": f"line {i}\n".encode() * 20 for i in range(5)})
    sel = select(root, src(), 300, set())
    assert 0 < sum(len(d) for _, d in sel.files) <= 300 and sel.truncated == 1
    assert all(d.endswith(b"\n") for _, d in sel.files)
    assert sel.files == sorted(sel.files)
    root = make_tree(tmp_path / "b", {"bin/a": b"\x7fELF\0" * 10, "bin/b": b"text only\n"})
    sel = select(root, src(category="binary"), 10**6, set())
    assert [p for p, _ in sel.files] == ["bin/a"] and sel.skipped == {"not_binary": 1}


def test_shards_and_index_round_trip(tmp_path: Path) -> None:
    files = [("s1", f"dir/f{i}", bytes([65 + i]) * (10 + i)) for i in range(6)] + [("s2", "x/y z", b"")]
    writer = ShardWriter(tmp_path, shard_bytes=40)
    for source, path, data in files:
        writer.add(source, path, data)
    shards = writer.close()
    assert [s["name"] for s in shards] == ["shard-00000.bin", "shard-00001.bin", "shard-00002.bin"]
    rows = read_index(tmp_path)
    assert [(r[3], r[4]) for r in rows] == [(s, p) for s, p, _ in files]
    for (shard, offset, length, _, _), (_, _, data) in zip(rows, files, strict=True):
        assert (tmp_path / shard).read_bytes()[offset : offset + length] == data
    for s in shards:
        assert (tmp_path / s["name"]).stat().st_size == s["bytes"] <= 40


def fake_fetch(packages: dict[str, dict[str, bytes]]) -> Callable[[Source, Path], Fetched]:
    """A stand-in for ``corpus.fetch`` that unpacks prepared trees instead of downloading."""

    def fetch(s: Source, work: Path) -> Fetched:
        root = make_tree(work / "root", packages[s.name])
        return Fetched(root, "1.0-1", f"{s.package}_1.0-1_all.deb", "ab" * 32)

    return fetch


PACKAGES = {
    "docs": {
        "usr/share/doc/some-doc/copyright": b"Files: *\nLicense: GPL-2+\n",
        "usr/share/doc/some-doc/a.txt": b"alpha\n",
        "usr/share/doc/some-doc/b.txt": b"beta\n",
    },
    "models": {"botocore/data/s3.json": b'{"a": 1}\n', "botocore/data/dup.json": b"alpha\n"},
}


def test_build_manifest_and_determinism(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corpus, "fetch", fake_fetch(PACKAGES))
    sources = parse_sources(GOOD)
    outputs = []
    for out in (tmp_path / "one", tmp_path / "two"):
        manifest = corpus.build(out, sources, log=lambda _: None)
        outputs.append({p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.name != "manifest.json"})
    assert outputs[0] == outputs[1] and set(outputs[0]) == {"shard-00000.bin", "files.tsv", "TRAINING_DATA.md"}
    assert outputs[0]["shard-00000.bin"] == b'alpha\n\nbeta\n\n{"a": 1}\n'
    docs, models = manifest["sources"]
    expected = {
        "name": "docs",
        "kind": "deb",
        "package": "some-doc",
        "version": "1.0-1",
        "artifact": "some-doc_1.0-1_all.deb",
        "sha256": "ab" * 32,
        "license": "GPL-2+",
        "license_found": ["GPL-2+"],
        "category": "prose",
        "reason": "prose",
        "files": 2,
        "bytes": 11,
        "truncated": 0,
        "skipped": {"not_included": 1},
    }
    assert {k: docs[k] for k in expected} == expected
    assert models["skipped"] == {"duplicate": 1} and models["files"] == 1
    assert manifest["totals"]["all"] == {"files": 3, "bytes": 20}
    assert manifest["totals"]["structured"] == {"files": 1, "bytes": 9}
    assert {"built", "excluded", "shards", "benchmark_names"} <= set(manifest)
    md = (tmp_path / "one" / "TRAINING_DATA.md").read_text()
    assert "../shared/corpus" in md and "| docs | prose | some-doc | 1.0-1 | GPL-2+ |" in md


def test_total_and_per_source_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corpus, "fetch", fake_fetch(PACKAGES))
    manifest = corpus.build(tmp_path, parse_sources(GOOD), max_bytes_per_source=6, total_max=8, log=print)
    docs, models = manifest["sources"]
    assert docs["cap"] == 6 and 0 < docs["bytes"] <= 6
    assert models["cap"] == 8 - docs["bytes"] and models["bytes"] <= models["cap"]


def test_refuses_benchmark_paths(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="benchmark"):
        corpus.build(Path("/work/shared/corpus/out"), [], log=print)
    with pytest.raises(ValueError, match="benchmark"):
        load_sources(Path("../shared/corpus/sources.toml"))
    with pytest.raises(SystemExit):
        corpus.main(["build", "--out", str(tmp_path), "--only", "no-such-source"])


def test_synthetic_deterministic_and_varied() -> None:
    one, two = synthetic.generate(7, 200_000), synthetic.generate(7, 200_000)
    assert one == two
    assert synthetic.generate(8, 200_000) != one
    assert 150_000 < sum(map(len, one.values())) <= 200_000
    assert {name.split("-")[0] for name in one} == {"table", "events", "syslog", "access", "app"}
    assert len({data[:200] for data in one.values()}) == len(one)
    for name, data in one.items():
        text = data.decode()
        assert text.endswith("\n") and "\0" not in text
        if name.endswith(".jsonl"):
            assert all(isinstance(json.loads(line), dict) for line in text.splitlines())
        if name.endswith(".csv"):
            rows = list(csv.reader(io.StringIO(text), delimiter=";" if ";" in text.split("\n")[0] else ","))
            assert len({len(r) for r in rows}) == 1 and len(rows) > 10
    logs = b"".join(d for n, d in one.items() if n.startswith("app"))
    assert b"Traceback (most recent call last):" in logs and b"\tat com.example." in logs
    assert b'"GET /' in b"".join(d for n, d in one.items() if n.startswith("access"))
