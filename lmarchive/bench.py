"""Compare a model with standard compressors on the same files, every output checked by decoding it.

The model goes through the real archive path: all files are written as one .lmz archive (the
codec batches chunks across files, so coding them one by one would misstate its speed) and that
archive is decoded again.  Its per-file size is the entry's coded chunk bytes; the archive's
header and directory are reported separately.  Its times cover the whole archive, so per-file
model times are None (null in JSON) rather than an invented split.  The other methods compress
each file on its own, and their totals are sums over files.
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

from lmarchive.container import ContainerReader
from lmarchive.errors import LMArchiveError
from lmarchive.models.registry import DEFAULT_MODEL, load_model
from lmarchive.reading import ReadCallbacks, iter_chunks
from lmarchive.writing import Source, WriteCallbacks, collect_sources, write_archive

MODEL = "model"
"""The method name for the chosen ``--model`` coded through the archive."""

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


def _gzip(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    return packer.compress(data) + packer.flush()


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
    "gzip": Codec("gzip -9", _gzip, lambda blob, _: zlib.decompress(blob, 31)),
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
methods: {MODEL} = --model through a real .lmz archive; gzip -9 (zlib, gzip wrapper); bzip2 -9;
  xz -9e; zstd -19; brotli -q 11 (window 2**24); PPMd var. H, order 32, memory as 7-Zip -mx=9.
Every output is decoded and compared with its input; a mismatch is an error (exit 1).
The model's sizes are its entries' coded chunk bytes (archive header and directory excluded,
reported separately).  Its times cover the whole archive, because the codec batches all files
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

    model: str
    methods: tuple[str, ...]
    files: list[FileResult]
    totals: dict[str, Measure]
    archive_bytes: int | None
    """Size of the model's whole .lmz file, or None when the model was not run."""
    skipped: list[str]
    """Symbolic links that were not followed."""

    @property
    def total_size(self) -> int:
        """Input bytes over all files: the denominator of every total."""
        return sum(f.size for f in self.files)


@dataclass
class BenchCallbacks:
    """Progress hooks: ``started(total work in bytes)``, then ``progress(stage label, bytes done)``."""

    started: Callable[[int], None] | None = None
    progress: Callable[[str, int], None] | None = None


def label_of(method: str, model: str) -> str:
    """Column heading: the model's own name, or the compressor with its settings ('xz -9e')."""
    return model if method == MODEL else CODECS[method].label


def run_bench(
    paths: Sequence[str | Path],
    *,
    model: str = DEFAULT_MODEL,
    methods: Sequence[str] = ALL_METHODS,
    callbacks: BenchCallbacks | None = None,
) -> BenchResult:
    """Measure ``methods`` on every file under ``paths``; raises LMArchiveError on any round-trip failure."""
    cb = callbacks or BenchCallbacks()
    skipped: list[Path] = []
    found = [s.path for s in collect_sources(paths, skipped) if not s.is_dir and s.path is not None]
    if not found:
        raise LMArchiveError("no files to benchmark")
    contents = [path.read_bytes() for path in found]
    files = [FileResult(str(path), len(data)) for path, data in zip(found, contents, strict=True)]
    passes = len(methods) + (1 if MODEL in methods else 0)  # the model's decoding is as slow as its coding
    if cb.started is not None:
        cb.started(sum(f.size for f in files) * passes)

    def report(stage: str) -> Callable[[int], None]:
        def advance(delta: int) -> None:
            if cb.progress is not None:
                cb.progress(stage, delta)

        return advance

    totals: dict[str, Measure] = {}
    archive_bytes = None
    for method in methods:
        if method == MODEL:
            totals[MODEL], archive_bytes = _bench_model(model, files, contents, report)
        else:
            totals[method] = _bench_codec(method, files, contents, report(CODECS[method].label))
    return BenchResult(model, tuple(methods), files, totals, archive_bytes, [str(p) for p in skipped])


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
    name: str, files: list[FileResult], contents: list[bytes], report: Callable[[str], Callable[[int], None]]
) -> tuple[Measure, int]:
    """Write every file into one archive and decode it back; returns the totals and the archive's size."""
    predictor = load_model(name)
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
        file.methods[MODEL] = Measure(entry.packed, None, None)
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
    """The ``bench --json`` object; ``methods`` keys are the method names (``model`` for the model)."""
    return {
        "model": result.model,
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
