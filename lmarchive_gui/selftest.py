"""The About dialog's selftest: the core's checks plus a round trip with the chosen model.

``lmarchive.selftest`` proves that this machine computes the reference tables (golden vectors of
cm2, of the mixing model and of the reference transformer: its compiled step, and torch's passes
where PyTorch is installed); on top of that this creates an archive of
varied sample files with the model the user chose, tests it, extracts it and compares byte for
byte, all through the same jobs the window uses.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmarchive.container import ContainerReader, Method
from lmarchive.errors import LMArchiveError
from lmarchive.jobs import CancelFlag, CreateJob, ExtractJob, TestJob
from lmarchive.models.registry import resolve
from lmarchive.selftest import run_selftest as core_selftest

_PROSE = (
    "Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing "
    "to do: once or twice she had peeped into the book her sister was reading, but it had no pictures or "
    "conversations in it, 'and what is the use of a book,' thought Alice 'without pictures or conversations?'\n"
)
_CODE = (
    "def ratio(packed: int, size: int) -> float:\n"
    '    """Coded size as a share of the original."""\n'
    "    return packed / size if size else 0.0\n\n"
)
SAMPLES: dict[str, bytes] = {
    "prose.txt": (_PROSE * 6).encode(),
    "code.py": (_CODE * 8).encode(),
    "crlf.txt": (_PROSE * 2).replace("\n", "\r\n").encode(),
    "binary.bin": bytes(range(256)) * 4,
    "empty.txt": b"",
    "folder/nested.txt": "Ünïcödé text — with accents, em dashes and 漢字.\n".encode() * 10,
}
"""Prose, code, Windows line endings, binary, an empty file and non-ASCII text in a subfolder."""


@dataclass(frozen=True)
class SelftestResult:
    ok: bool
    report: str
    """One line: 'PASS: ...' or 'FAIL: what differed'."""
    seconds: float


def _differences(expected: dict[str, bytes], root: Path) -> list[str]:
    found = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    problems = [f"{name} is missing" for name in expected if name not in found]
    problems += [f"{name} was not expected" for name in found if name not in expected]
    for name, data in expected.items():
        got = found.get(name)
        if got is not None and got != data:
            at = next((i for i, (a, b) in enumerate(zip(data, got, strict=False)) if a != b), min(len(data), len(got)))
            problems.append(f"{name} differs from byte {at} ({len(got)} bytes instead of {len(data)})")
    return problems


def run_selftest(
    model: str, device: str = "cpu", workdir: str | None = None, cancel_flag: CancelFlag | None = None
) -> SelftestResult:
    """Create, test, extract and compare on ``device``; never raises for an archive problem, it reports it."""
    started = time.monotonic()
    options: dict[str, Any] = {"device": device}
    if cancel_flag is not None:
        options["cancel_flag"] = cancel_flag
    with tempfile.TemporaryDirectory(prefix="lmarchive-selftest-", dir=workdir) as tmp:
        source, archive, out = Path(tmp, "sample"), Path(tmp, "selftest.lmz"), Path(tmp, "out")
        for name, data in SAMPLES.items():
            path = source / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        try:
            CreateJob(archive=archive, paths=[source], model=model, **options).run()
            with ContainerReader(archive) as reader:
                by_model = [e.name for e in reader.entries if e.method == Method.MODEL and e.model == resolve(model)]
            TestJob(archive=archive, **options).run()
            ExtractJob(archive=archive, dest=out, **options).run()
        except LMArchiveError as exc:
            return SelftestResult(False, f"FAIL: {exc}", time.monotonic() - started)
        problems = _differences({f"sample/{k}": v for k, v in SAMPLES.items()}, out)
        core = core_selftest(device)
        problems += [f"{check.name}: {check.detail}" for check in core if not check.ok]
        if not by_model:
            problems.append(f"no entry was coded by the model {model!r}, so it was not exercised")
        seconds = time.monotonic() - started
        if problems:
            return SelftestResult(False, "FAIL: " + "; ".join(problems), seconds)
        size = sum(len(v) for v in SAMPLES.values())
        report = (
            f"PASS: {len(core)} reference checks, and {len(SAMPLES)} sample files ({size:,} bytes, "
            f"{len(by_model)} coded by {model}) created, tested and extracted byte-identical on "
            f"{device.upper()} in {seconds:.1f} s"
        )
        return SelftestResult(True, report, seconds)
