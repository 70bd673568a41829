"""Compare models (by default every profile) with standard compressors on the same files, side by side.

Every output is checked by decoding it.  Each model goes through the real archive path: all
files are written as one .lmz archive (the codec batches chunks across files, so coding them one
by one would misstate its speed) and that archive is decoded again.  Its per-file size is the
entry's coded chunk bytes; the archive's header and directory are reported separately.  Its
times cover the whole archive, so per-file model times are None (null in JSON) rather than an
invented split.  The other methods compress each file on its own, and their totals are sums over
files.
"""

from __future__ import annotations

import bz2
import lzma
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import brotli
import pyppmd
import zstandard

from lmarchive.codec import gzip9
from lmarchive.container import ContainerReader
from lmarchive.errors import LMArchiveError, ModelError
from lmarchive.models.base import Predictor
from lmarchive.models.registry import PROFILES, load_model, resolve
from lmarchive.reading import ReadCallbacks, iter_chunks
from lmarchive.writing import Source, WriteCallbacks, collect_sources, write_archive

MODEL = "model"
"""The method name that stands for the chosen models, each coded through an archive."""
DEFAULT_BENCH_MODELS: tuple[str, ...] = tuple(PROFILES)
"""Every profile, so one run shows the choices a user has."""

PPMD_ORDER = 32
PPMD_MAX_MEM = 192 << 20


def ppmd_mem_size(size: int) -> int:
    """7-Zip's PPMd memory for -mx=9 (PpmdEncoder.cpp, CEncProps::Normalize), so results match ``7z``.

    192 MB, lowered for small inputs to the smallest power of two from 64 KiB up that is at least
    16 times the input; here the input is one file, as if each were its own 7z archive.
    """
    for bits in range(16, 32):
        if size <= (1 << bits) // 16:
            return min(PPMD_MAX_MEM, 1 << bits)
    return PPMD_MAX_MEM


def _ppmd(data: bytes) -> bytes:
    # PPMd var. H with 7-Zip's -mx=9 settings; like 7z, no end mark (the size is known to the decoder).
    encoder = pyppmd.Ppmd7Encoder(PPMD_ORDER, ppmd_mem_size(len(data)))
    return encoder.encode(data) + encoder.flush(endmark=False)


def _unppmd(blob: bytes, size: int) -> bytes:
    return pyppmd.Ppmd7Decoder(PPMD_ORDER, ppmd_mem_size(size)).decode(blob, size)


@dataclass(frozen=True)
class Codec:
    """A reference compressor: its table label and a one-shot compress/decompress pair."""

    label: str
    compress: Callable[[bytes], bytes]
    decompress: Callable[[bytes, int], bytes]
    """Takes the compressed bytes and the original size (PPMd needs it, as 7z stores it)."""


CODECS: dict[str, Codec] = {
    "gzip": Codec("gzip -9", gzip9, lambda blob, _: zlib.decompress(blob, 31)),
    "bzip2": Codec("bzip2 -9", lambda data: bz2.compress(data, 9), lambda blob, _: bz2.decompress(blob)),
    "xz": Codec(
        "xz -9e",
        lambda data: lzma.compress(data, preset=9 | lzma.PRESET_EXTREME),
        lambda blob, _: lzma.decompress(blob),
    ),
    "zstd": Codec(
        "zstd -19",
        lambda data: zstandard.ZstdCompressor(level=19).compress(data),
        lambda blob, _: zstandard.ZstdDecompressor().decompress(blob),
    ),
    "brotli": Codec(
        "brotli -q11",
        lambda data: brotli.compress(data, quality=11, lgwin=24),
        lambda blob, _: brotli.decompress(blob),
    ),
    "ppmd": Codec("PPMd o32", _ppmd, _unppmd),
}

ALL_METHODS: tuple[str, ...] = (MODEL, *CODECS)

HELP_NOTES = f"""\
methods: {MODEL} = each --model through a real .lmz archive; gzip -9 (zlib, gzip wrapper); bzip2 -9;
  xz -9e; zstd -19; brotli -q 11 (window 2**24); PPMd var. H, order 32, memory as 7-Zip -mx=9.
Every output is decoded and compared with its input; a mismatch is an error (exit 1).
Profiles that stand for the same model are run once, under the first name; a default profile
whose model is not installed is skipped with a warning.
A model's sizes are its entries' coded chunk bytes (archive header and directory excluded,
reported separately).  Its times cover its whole archive, because the codec batches all files
together (they include the archiver's own zstd and gzip trials); per-file model times are null
in --json.  Other methods run file by file; their total times are sums."""


@dataclass(frozen=True)
class Measure:
    """One method on one file, or on all of them: coded bytes and seconds (None: not timed)."""

    coded: int
    compress_s: float | None
    decompress_s: float | None


@dataclass
class FileResult:
    """One input file and what each method made of it."""

    path: str
    size: int
    methods: dict[str, Measure] = field(default_factory=dict)


@dataclass
class BenchResult:
    """Everything a report needs, so the tables and the JSON come from the same numbers."""

    models: tuple[str, ...]
    """The models run, as named (profiles included); each is also a key of ``methods``."""
    resolved: dict[str, str]
    """Model name -> the concrete model it ran (differs for profiles)."""
    methods: tuple[str, ...]
    """Column keys: the models, then the reference codecs."""
    files: list[FileResult]
    totals: dict[str, Measure]
    archive_bytes: dict[str, int]
    """Size of each model's whole .lmz file."""
    skipped: list[str]
    """Warnings for the inputs left out (symbolic links, named pipes and the like)."""
    notices: list[str]
    """Models not run (duplicates, or default profiles whose model is missing), for the user to see."""

    @property
    def total_size(self) -> int:
        """Input bytes over all files: the denominator of every total."""
        return sum(f.size for f in self.files)

    def label(self, method: str) -> str:
        """Column heading: 'fast (cmx)' for a profile, a model's own name, or a compressor with its settings."""
        if method in self.resolved:
            return f"{method} ({self.resolved[method]})" if method in PROFILES else method
        return CODECS[method].label


@dataclass
class BenchCallbacks:
    """Progress hooks: ``started(total work in bytes)``, then ``progress(stage label, bytes done)``."""

    started: Callable[[int], None] | None = None
    progress: Callable[[str, int], None] | None = None


def choose_models(names: Sequence[str], *, skip_missing: bool) -> tuple[dict[str, Predictor], list[str]]:
    """Load each model once, before any work starts, so a missing one fails (or is skipped) early.

    Returns name -> predictor in the order given, and notices for the names left out: a repeat of
    a model already chosen, or, with ``skip_missing``, a model that is not installed.
    """
    chosen: dict[str, Predictor] = {}
    first: dict[str, str] = {}
    notices: list[str] = []
    for name in dict.fromkeys(names):  # a name given twice says nothing new
        concrete = resolve(name)
        if concrete in first:
            notices.append(f"{name} is the same model as {first[concrete]} ({concrete}); run once")
            continue
        try:
            chosen[name] = load_model(name)
        except ModelError as exc:
            if not skip_missing:
                raise
            notices.append(f"skipped {name}: {exc}")
            continue
        first[concrete] = name
    return chosen, notices


def run_bench(
    paths: Sequence[str | Path],
    *,
    models: Sequence[str] = DEFAULT_BENCH_MODELS,
    methods: Sequence[str] = ALL_METHODS,
    callbacks: BenchCallbacks | None = None,
    skip_missing: bool = True,
) -> BenchResult:
    """Measure ``methods`` on every file under ``paths``, ``model`` standing for each of ``models``.

    ``skip_missing`` leaves out a model that is not installed (listed in ``notices``) instead of
    raising ModelError, so the default profiles work on an installation without the LM.  Raises
    LMArchiveError on any round-trip failure.
    """
    cb = callbacks or BenchCallbacks()
    predictors, notices = choose_models(models, skip_missing=skip_missing) if MODEL in methods else ({}, [])
    codecs = [m for m in methods if m != MODEL]
    skipped: list[str] = []
    found = [s.path for s in collect_sources(paths, skipped) if not s.is_dir and s.path is not None]
    if not found:
        raise LMArchiveError("no files to benchmark")
    contents = [path.read_bytes() for path in found]
    files = [FileResult(str(path), len(data)) for path, data in zip(found, contents, strict=True)]
    passes = len(codecs) + 2 * len(predictors)  # a model's decoding is as slow as its coding
    if cb.started is not None:
        cb.started(sum(f.size for f in files) * passes)

    def report(stage: str) -> Callable[[int], None]:
        def advance(delta: int) -> None:
            if cb.progress is not None:
                cb.progress(stage, delta)

        return advance

    totals: dict[str, Measure] = {}
    archive_bytes: dict[str, int] = {}
    for name, predictor in predictors.items():
        totals[name], archive_bytes[name] = _bench_model(name, predictor, files, contents, report)
    for method in codecs:
        totals[method] = _bench_codec(method, files, contents, report(CODECS[method].label))
    return BenchResult(
        models=tuple(predictors),
        resolved={name: predictor.name for name, predictor in predictors.items()},
        methods=(*predictors, *codecs),
        files=files,
        totals=totals,
        archive_bytes=archive_bytes,
        skipped=skipped,
        notices=notices,
    )


def _bench_codec(method: str, files: list[FileResult], contents: list[bytes], report: Callable[[int], None]) -> Measure:
    """Each file on its own; the totals are sums over files."""
    codec = CODECS[method]
    compress_s = decompress_s = 0.0
    for file, data in zip(files, contents, strict=True):
        started = time.perf_counter()
        blob = codec.compress(data)
        middle = time.perf_counter()
        try:
            back = codec.decompress(blob, len(data))
        except Exception as exc:  # any decoder complaint is a failed round trip
            raise LMArchiveError(f"{method} round trip failed on {file.path}: {exc}") from exc
        ended = time.perf_counter()
        if back != data:
            raise LMArchiveError(f"{method} round trip failed on {file.path}: output differs from input")
        file.methods[method] = Measure(len(blob), middle - started, ended - middle)
        compress_s += middle - started
        decompress_s += ended - middle
        report(len(data))
    return Measure(sum(f.methods[method].coded for f in files), compress_s, decompress_s)


def _bench_model(
    name: str,
    predictor: Predictor,
    files: list[FileResult],
    contents: list[bytes],
    report: Callable[[str], Callable[[int], None]],
) -> tuple[Measure, int]:
    """Write every file into one archive and decode it back; returns the totals and the archive's size."""
    sources = [Source(f"f{index}", data=data) for index, data in enumerate(contents)]
    with tempfile.TemporaryDirectory(prefix="lmarchive-bench-") as folder:
        archive = Path(folder) / "bench.lmz"
        started = time.perf_counter()
        records = write_archive(archive, sources, predictor, WriteCallbacks(progress=report(f"{name} coding")))
        compress_s = time.perf_counter() - started
        archive_bytes = archive.stat().st_size
        by_name = {record.name: record for record in records}
        entries = [by_name[source.arcname] for source in sources]
        pieces: dict[str, list[bytes]] = {entry.name: [] for entry in entries}
        started = time.perf_counter()
        try:
            with ContainerReader(archive) as reader:
                for entry, _, piece in iter_chunks(reader, entries, ReadCallbacks(progress=report(f"{name} decoding"))):
                    pieces[entry.name].append(piece)
        except LMArchiveError as exc:
            raise LMArchiveError(f"{MODEL} {name} round trip failed: {exc}") from exc
        decompress_s = time.perf_counter() - started
    for file, data, entry in zip(files, contents, entries, strict=True):
        if b"".join(pieces[entry.name]) != data:
            raise LMArchiveError(f"{MODEL} {name} round trip failed on {file.path}: output differs from input")
        file.methods[name] = Measure(entry.packed, None, None)
    return Measure(sum(e.packed for e in entries), compress_s, decompress_s), archive_bytes


# -- output ---------------------------------------------------------------------------------
def bits_per_byte(coded: int, size: int) -> float | None:
    """None for an empty file, where bits per byte has no meaning."""
    return coded * 8 / size if size else None


def _measure_json(measure: Measure, size: int) -> dict[str, Any]:
    return {
        "bytes": measure.coded,
        "bpb": bits_per_byte(measure.coded, size),
        "compress_s": measure.compress_s,
        "decompress_s": measure.decompress_s,
    }


def to_json(result: BenchResult) -> dict[str, Any]:
    """The ``bench --json`` object; ``methods`` keys are the model names as given, then the codec names."""
    return {
        "models": list(result.models),
        "methods": list(result.methods),
        "files": [
            {
                "path": f.path,
                "bytes": f.size,
                "methods": {m: _measure_json(f.methods[m], f.size) for m in result.methods},
            }
            for f in result.files
        ],
        "totals": {
            "bytes": result.total_size,
            "methods": {m: _measure_json(result.totals[m], result.total_size) for m in result.methods},
        },
        "archive_bytes": result.archive_bytes,
    }
