"""Bytes to coded chunks and back: the method choice per entry and per chunk, and the batching.

An entry is split into chunks that decode independently.  Chunks of a model entry are coded
many at a time in lock-step (one predictor step advances every chunk by one symbol), which is
what makes a batched model fast.  Every chunk is also tried with zstd and kept in whichever form
is smallest, stored raw if neither shrinks it, so no chunk ever grows.  Data that is already
compressed is recognised cheaply from its first bytes and stored without running the model.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import zstandard

from lmarchive.coding import BatchDecoder, BatchEncoder, decode_step, encode_step
from lmarchive.container import ChunkRecord, Method
from lmarchive.errors import CancelledError, ChecksumError, FormatError
from lmarchive.models.base import Predictor, symbol_dtype

MAX_CHUNK_SIZE = 16 << 20
"""Largest chunk this version writes or agrees to decode (bounds memory and time on hostile input)."""

ZSTD_LEVEL = 19
_CANCEL_EVERY = 128  # lock-step steps between cancel checks and progress reports

# Signatures of formats whose content is already compressed (offset, bytes).
_COMPRESSED_MAGIC: tuple[tuple[int, bytes], ...] = (
    (0, b"\xff\xd8\xff"),  # JPEG
    (0, b"\x89PNG\r\n\x1a\n"),
    (0, b"GIF8"),
    (0, b"PK\x03\x04"),  # zip, docx, jar, apk, ...
    (0, b"\x1f\x8b"),  # gzip
    (0, b"BZh"),
    (0, b"\xfd7zXZ\x00"),
    (0, b"(\xb5/\xfd"),  # zstd
    (0, b"7z\xbc\xaf\x27\x1c"),
    (0, b"Rar!\x1a\x07"),
    (0, b"\x89LMZ\r\n\x1a\n"),  # our own archives
    (0, b"OggS"),
    (0, b"fLaC"),
    (0, b"ID3"),  # mp3
    (4, b"ftyp"),  # mp4, mov, heic
    (0, b"\x1aE\xdf\xa3"),  # matroska, webm
    (0, b"wOF2"),
)
_SAMPLE = 1 << 16


ProgressFn = Callable[[int], None]
"""Called with a number of original bytes newly done."""
CancelFn = Callable[[], bool]
"""Returns True when the caller wants the operation to stop."""


@dataclass(frozen=True)
class CodedChunk:
    """One chunk ready for the container: its bytes and what the record must say about it."""

    method: Method
    data: bytes
    orig_len: int
    symbols: int
    crc32: int


@dataclass(frozen=True)
class ChunkPlan:
    """How chunk sizes follow entry sizes: long enough for adaptive models, many for parallelism."""

    min_size: int = 64 << 10
    max_size: int = 1 << 20
    target_chunks: int = 16

    def size_for(self, entry_size: int) -> int:
        wanted = -(-entry_size // self.target_chunks)
        return max(self.min_size, min(self.max_size, wanted))


def looks_compressed(sample: bytes) -> bool:
    """True for data not worth modelling: a known compressed format, or bytes zstd cannot shrink."""
    if any(sample[off : off + len(magic)] == magic for off, magic in _COMPRESSED_MAGIC):
        return True
    head = sample[:_SAMPLE]
    if len(head) < 4096:
        return False
    return len(zstandard.ZstdCompressor(level=1).compress(head)) > len(head) * 63 // 64


def plan_method(predictor: Predictor | None, sample: bytes) -> Method:
    """The entry's method from its first bytes: model where a model may help, else zstd or store."""
    if looks_compressed(sample):
        return Method.STORE
    return Method.ZSTD if predictor is None else Method.MODEL


def _check_cancel(cancel: CancelFn | None) -> None:
    if cancel is not None and cancel():
        raise CancelledError("cancelled")


def _smallest(candidates: list[CodedChunk]) -> CodedChunk:
    """Smallest coded form; ties go to the cheaper method (store before zstd before model)."""
    return min(candidates, key=lambda c: (len(c.data), c.method))


def encode_chunks(
    method: Method,
    chunks: Sequence[bytes],
    predictor: Predictor | None = None,
    *,
    cancel: CancelFn | None = None,
    progress: ProgressFn | None = None,
) -> list[CodedChunk]:
    """Code ``chunks`` with ``method`` (model chunks in lock-step), each in its smallest form."""
    for chunk in chunks:
        if not 0 < len(chunk) <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk of {len(chunk)} bytes is outside 1..{MAX_CHUNK_SIZE}")
    _check_cancel(cancel)
    crcs = [zlib.crc32(c) for c in chunks]
    options = [[CodedChunk(Method.STORE, bytes(c), len(c), len(c), crc)] for c, crc in zip(chunks, crcs, strict=True)]
    if method >= Method.ZSTD:
        zc = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True)
        for opts, chunk, crc in zip(options, chunks, crcs, strict=True):
            _check_cancel(cancel)
            opts.append(CodedChunk(Method.ZSTD, zc.compress(chunk), len(chunk), len(chunk), crc))
    if method == Method.MODEL:
        if predictor is None:
            raise ValueError("method model needs a predictor")
        sequences = [predictor.tokenize(c) for c in chunks]
        coded = model_encode(predictor, sequences, [len(c) for c in chunks], cancel, progress)
        for opts, data, seq, chunk, crc in zip(options, coded, sequences, chunks, crcs, strict=True):
            opts.append(CodedChunk(Method.MODEL, data, len(chunk), len(seq), crc))
    elif progress is not None:
        progress(sum(len(c) for c in chunks))
    return [_smallest(opts) for opts in options]


class _Progress:
    """Turns lock-step positions into original bytes done, reported in increments."""

    def __init__(self, lengths: np.ndarray, sizes: Sequence[int], report: ProgressFn | None) -> None:
        self.lengths, self.report, self.done = lengths, report, 0
        self.per_symbol = sum(sizes) / max(int(lengths.sum()), 1)

    def at(self, step: int) -> None:
        if self.report is not None:
            now = int(np.minimum(self.lengths, step).sum() * self.per_symbol)
            self.report(now - self.done)
            self.done = now


def model_encode(
    predictor: Predictor,
    sequences: list[np.ndarray],
    sizes: Sequence[int],
    cancel: CancelFn | None = None,
    report: ProgressFn | None = None,
) -> list[bytes]:
    """Range-code symbol sequences with the predictor, all in lock-step (no fallback)."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    progress = _Progress(lengths, sizes, report)
    enc = BatchEncoder(len(sequences), capacity=int(lengths.max(initial=0)) // 2 + 64)
    for step, (streams, tables, symbols) in enumerate(predictor.encode_tables(sequences)):
        encode_step(enc, streams, tables, symbols)
        if step % _CANCEL_EVERY == 0:
            _check_cancel(cancel)
            progress.at(step)
    progress.at(int(lengths.max(initial=0)))
    return [enc.finish(i) for i in range(len(sequences))]


def decode_chunks(
    items: Sequence[tuple[ChunkRecord, bytes]],
    predictor: Predictor | None = None,
    *,
    cancel: CancelFn | None = None,
    progress: ProgressFn | None = None,
) -> list[bytes]:
    """Decode chunks (record, coded bytes) and verify each against its length and CRC32."""
    out: list[bytes | None] = [None] * len(items)
    model_items: list[int] = []
    for i, (record, data) in enumerate(items):
        _check_cancel(cancel)
        if record.orig_len > MAX_CHUNK_SIZE:
            raise FormatError(f"chunk of {record.orig_len} bytes is larger than this version allows")
        if record.method == Method.STORE:
            out[i] = data
        elif record.method == Method.ZSTD:
            out[i] = _zstd_decode(data, record.orig_len)
        else:
            if record.symbols > record.orig_len:
                raise FormatError("chunk claims more symbols than bytes")
            model_items.append(i)
    if progress is not None:
        progress(sum(record.orig_len for record, _ in items) - sum(items[i][0].orig_len for i in model_items))
    if model_items:
        if predictor is None:
            raise ValueError("model chunks need a predictor")
        records = [items[i][0] for i in model_items]
        decoded = model_decode(predictor, [items[i][1] for i in model_items], records, cancel, progress)
        for i, data in zip(model_items, decoded, strict=True):
            out[i] = data
    result: list[bytes] = []
    for (record, _), data in zip(items, out, strict=True):
        assert data is not None
        if len(data) != record.orig_len or zlib.crc32(data) != record.crc32:
            raise ChecksumError("a chunk failed its checksum: the archive is corrupt or the model differs")
        result.append(data)
    return result


def _zstd_decode(data: bytes, orig_len: int) -> bytes:
    """Decode one frame, reading at most one byte more than expected whatever the header claims."""
    try:
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
            out = reader.read(orig_len + 1)
    except zstandard.ZstdError as exc:
        raise FormatError(f"a zstd chunk is corrupt: {exc}") from None
    if len(out) != orig_len:
        raise FormatError("a zstd chunk does not decode to its recorded length")
    return out


def model_decode(
    predictor: Predictor,
    coded: list[bytes],
    records: list[ChunkRecord],
    cancel: CancelFn | None,
    report: ProgressFn | None,
) -> list[bytes]:
    # Longest first, so the streams still running at any step are always a prefix 0..k-1.
    order = sorted(range(len(coded)), key=lambda i: -records[i].symbols)
    lengths = np.array([records[i].symbols for i in order], dtype=np.int64)
    progress = _Progress(lengths, [records[i].orig_len for i in order], report)
    dec = BatchDecoder([coded[i] for i in order])
    batch = predictor.open_batch(len(order))
    symbols = np.zeros((len(order), int(lengths.max(initial=0))), dtype=symbol_dtype(predictor.vocab_size))
    active = len(order)
    for step in range(symbols.shape[1]):
        while active and lengths[active - 1] <= step:
            active -= 1
        streams = np.arange(active)
        sym = decode_step(dec, streams, batch.frequencies(streams))
        batch.update(streams, sym)
        symbols[:active, step] = sym
        if step % _CANCEL_EVERY == 0:
            _check_cancel(cancel)
            progress.at(step)
    progress.at(symbols.shape[1])
    result: list[bytes] = [b""] * len(order)
    for row, i in enumerate(order):
        result[i] = predictor.detokenize(symbols[row, : lengths[row]])
    return result
