"""Damaged and hostile archives: whatever the bytes, only the library's own errors come out and nothing escapes.

A small valid archive holds every kind of member (cm2 and cmx entries with model, zstd and stored
chunks, zstd and store entries, folders, an empty file).  Seeded mutations of it are opened, listed,
extracted, tested and read (tests/fuzzing.py has the mutations and the checks): raw damage, which
mostly stops at a checksum, and CRC-fixed mutations of the directory's fields and bytes, the
header and footer, and the chunk data, re-serialized with valid container checksums so they reach
the deep code.  The default run keeps a seeded sample; the campaign of 20,000 CRC-fixed cases is
marked slow (``pytest -m slow tests/test_fuzz.py``, or scripts/fuzz_archives.py).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import zstandard
from conftest import snapshot
from fuzzing import (
    SEED,
    Base,
    Case,
    assemble,
    build_base,
    format_report,
    make_case,
    parse_layout,
    run_campaign,
    run_case,
)

import lmarchive
from lmarchive.container import ContainerReader, Method
from lmarchive.errors import FormatError

SAMPLE_CASES = 600
SAMPLE_CRC_FIXED_SHARE = 0.5
CAMPAIGN_CASES = 20_000
CAMPAIGN_SEED = SEED + 1  # other cases than the sample's
CASE_SECONDS_BOUND = 10.0
"""Every case is milliseconds of work; one that takes seconds decodes far more than its bytes hold."""
CASE_TIME_LIMIT = 3 * CASE_SECONDS_BOUND
"""A case still running then is interrupted and fails, so a decode-time bomb cannot stall the run."""


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    return build_base(tmp_path_factory.mktemp("base"))


def test_the_fuzz_archive_has_every_kind_of_member(base: Base, tmp_path: Path) -> None:
    archive = tmp_path / "base.lmz"
    archive.write_bytes(base.blob)
    with ContainerReader(archive) as reader:
        entries = {e.name: e for e in reader.entries}
    chunk_methods = {(e.method, e.model, c.method) for e in entries.values() for c in e.chunks}
    assert {(model, m) for _, model, m in chunk_methods if model} == {
        ("cm2", Method.MODEL),
        ("cm2", Method.ZSTD),  # zstd beat cm2 on this chunk
        ("cm2", Method.STORE),
        ("cmx", Method.MODEL),
        ("cmx", Method.STORE),
    }
    assert (Method.ZSTD, "", Method.ZSTD) in chunk_methods and (Method.ZSTD, "", Method.STORE) in chunk_methods
    assert (Method.STORE, "", Method.STORE) in chunk_methods
    assert all(len(e.chunks) > 1 for e in entries.values() if e.size > 128)
    assert entries["folder"].is_dir and entries["folder/sub"].is_dir and entries["folder/empty"].size == 0
    with lmarchive.open(archive) as lmz:
        lmz.extractall(tmp_path / "out")
    assert snapshot(tmp_path / "out") == {**base.tree, "cm2": None, "cmx": None}  # parents without entries


def test_the_fuzzer_writes_archives_exactly_as_the_library_does(base: Base) -> None:
    """The independent re-serializer reproduces the base byte for byte, so a CRC-fixed case differs
    from a valid archive only by its mutation."""
    assert assemble(parse_layout(base.blob)) == base.blob


def test_the_checks_catch_wrong_content(base: Base, tmp_path: Path) -> None:
    """A stored chunk rewritten with matching CRCs extracts as the new bytes; claiming the old content
    as expected must be reported, or the fuzzer could not see the library return wrong data."""
    number = next(n for n in range(1000) if make_case(base, SEED, n, 1.0).kind == "store-rewrite")
    case = make_case(base, SEED, number, 1.0)
    assert run_case(base, case, tmp_path / "honest").problems == []
    ((name, content),) = case.expected.items()
    lying = Case(case.number, case.kind, True, case.data, {name: base.tree[name] or b""})
    assert content != lying.expected[name]
    assert any("differs from the content it must have" in p for p in run_case(base, lying, tmp_path / "lying").problems)


def test_the_checks_catch_foreign_exceptions(base: Base, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(lmarchive.LMZFile, "test", broken)
    result = run_case(base, Case(0, "none", True, base.blob), tmp_path)
    assert result.unexpected == ["test: RuntimeError: boom"]


def _kind_of(line: str) -> str:
    """The kind in a report line 'case N (kind): ...'."""
    match = re.match(r"case \d+ \(([^)]*)\)", line)
    return match.group(1) if match else ""


SLOW_BY_DESIGN = ("length-bomb", "multi")
"""Kinds whose case may run past the bound: a model chunk that claims up to 16 MiB is decoded in full
when nothing bounds it before decoding — in a 1.0 archive (unbounded stream ends), or by a model
that bounds neither its confidence nor so the symbols per coded byte (cm2; LMs alone).  A legitimate
chunk of that many coded bytes can take as long; FORMAT.md, "Range coder", says what is bounded."""


def check_campaign(base: Base, seed: int, cases: int, share: float, root: Path, *, strict_time: bool = True) -> None:
    """``strict_time`` False (the long campaign): cases of SLOW_BY_DESIGN kinds may be interrupted."""
    report = run_campaign(base, seed, range(cases), share, root, CASE_TIME_LIMIT)
    print("\n" + format_report(report, seed))
    excused = () if strict_time else SLOW_BY_DESIGN
    over = [f"case {n} ({kind}): {t:.1f} s" for t, n, kind in report.slowest if t >= CASE_SECONDS_BOUND]
    assert not [o for o in over if _kind_of(o) not in excused], f"seed {seed}, slowest cases: {over}"
    assert not report.unexpected, "\n".join(report.unexpected[:20])
    problems = [p for p in report.problems if not (_kind_of(p) in excused and "): interrupted after " in p)]
    assert not problems, "\n".join(problems[:20])
    # The CRC-fixed cases reach past the container's checksums, into decoding and extraction.
    assert report.container_crc_failures == 0
    assert report.outcome_total("extract-failed") > report.crc_fixed // 10
    assert report.outcome_total("extracted") > report.crc_fixed // 10
    assert any(e.startswith("extract ") for e in report.errors)
    if share < 1:
        assert report.outcome_total("rejected", crc_fixed=False) > (report.cases - report.crc_fixed) // 2


def test_fuzz_sample(base: Base, tmp_path: Path) -> None:
    check_campaign(base, SEED, SAMPLE_CASES, SAMPLE_CRC_FIXED_SHARE, tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(6 * 3600)
def test_fuzz_campaign(base: Base, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if "slow" not in request.config.getoption("markexpr"):
        pytest.skip("the 20,000-case campaign runs with -m slow")
    check_campaign(base, CAMPAIGN_SEED, CAMPAIGN_CASES, 1.0, tmp_path, strict_time=False)


def test_damaged_zstd_frame_size_is_a_library_error(base: Base, tmp_path: Path) -> None:
    archive = tmp_path / "base.lmz"
    layout = parse_layout(base.blob)
    (chunk, *_) = (c for e in layout.entries if e.name == b"zstd.txt" for c in e.chunks)
    at = chunk.offset - 16 + 4
    descriptor = layout.data[at]
    assert descriptor & 0xC0 != 0xC0
    layout.data[at] = descriptor | 0xC0  # two bit flips: the frame now declares an 8-byte content size
    assert zstandard.frame_content_size(bytes(layout.data[chunk.offset - 16 :])) > 1 << 40
    archive.write_bytes(assemble(layout))
    with lmarchive.open(archive) as lmz:
        with pytest.raises(FormatError):
            lmz.extractall(tmp_path / "out")
        with pytest.raises(FormatError):
            lmz.read("zstd.txt")
    assert not (tmp_path / "out").exists()


def test_cases_are_reproducible(base: Base) -> None:
    """A case depends only on (seed, number): the script's --case reruns exactly what a campaign ran."""
    picked = random.Random(1).sample(range(CAMPAIGN_CASES), 20)
    forward = {n: make_case(base, SEED, n, 0.5).data for n in picked}
    assert {n: make_case(base, SEED, n, 0.5).data for n in reversed(picked)} == forward
    assert make_case(base, SEED, picked[0], 1.0).data != make_case(base, SEED + 1, picked[0], 1.0).data
