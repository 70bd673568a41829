"""Bytes to coded chunks and back: the method choice per entry and per chunk, and the batching.

An entry is split into chunks that decode independently.  Chunks of a model entry are coded
many at a time in lock-step (one predictor step advances every chunk by one symbol), which is
what makes a batched model fast.  Every chunk is also tried with zstd and kept in whichever form
is smallest, stored raw if neither shrinks it, so no chunk ever grows.  Data that is already
compressed is recognised cheaply from its first bytes and not modelled: zstd-coded where a trial on
those bytes shrinks them, else stored.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import zstandard

from lmarchive.container import ChunkRecord, Method
from lmarchive.errors import ChecksumError, FormatError
from lmarchive.models.base import Predictor

MAX_CHUNK_SIZE = 16 << 20
"""Largest chunk this version writes or agrees to decode (bounds memory and time on hostile input)."""

ZSTD_LEVEL = 19

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
CHUNK_CHECKSUM_FAILED = "a chunk failed its checksum: the archive is corrupt or the model differs"


ProgressFn = Callable[[int], None]
"""Called with a number of original bytes newly done."""
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

    @classmethod
    def for_model(cls, predictor: Predictor | None) -> ChunkPlan:
        """The plan the model codes best (the default plan when there is no model)."""
        return cls() if predictor is None else cls(*predictor.chunking)

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


def plan_method(
    predictor: Predictor | None, sample: bytes, light: Callable[[], Predictor] | None = None
) -> tuple[Method, Predictor | None]:
    """The entry's method, and the predictor that codes it, from its first bytes.

    Where a model may help: ``predictor``.  Already-compressed data is not given the full model
    (an LM's pass costs ten times the rest), but not blindly stored either, since many formats still
    shrink a little and the entry must not end up larger than gzip -9 would make it: zstd -19 is
    tried on the sample (milliseconds; PNG screenshots shrink to 82-84% of their size), and where it
    saves too little, the ``light`` model too (the ``fast`` profile, no LM, loaded only then), a
    tenth of a second on 64 KiB: a JPEG photo codes to about 98%.  The smaller trial wins if it saves over 1%, or at all
    where gzip -9 saves something; else the entry is stored.  Every chunk still keeps the smallest
    of its coded and stored forms.
    """
    if not looks_compressed(sample):
        return (Method.ZSTD, None) if predictor is None else (Method.MODEL, predictor)
    head = sample[:_SAMPLE]
    gzip_size = len(gzip9(head))
    # A trial must come out below this: over 1% smaller than the sample, or, where gzip -9 shrinks
    # the sample at all, merely smaller than the sample (ties with gzip are the container's bytes).
    below = len(head) if gzip_size < len(head) else len(head) - len(head) // 100
    zstd_size = len(zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(head))
    if zstd_size < len(head) - len(head) // 100 and zstd_size <= gzip_size:
        return Method.ZSTD, None  # good enough: no model trial
    trials: list[tuple[int, Method, Predictor | None]] = [(zstd_size, Method.ZSTD, None)]
    if light is not None and predictor is not None:
        model = light()
        coded = model_encode(model, [model.tokenize(head)], [len(head)])[0]
        trials.append((len(coded), Method.MODEL, model))
    size, method, coder = min(trials, key=lambda trial: trial[0])
    return (method, coder) if size < below else (Method.STORE, None)


def gzip9(data: bytes) -> bytes:
    """``data`` as gzip -9 writes it (the gzip format, as the entries' comparison and the bench count it)."""
    gz = zlib.compressobj(9, zlib.DEFLATED, 31)
    return gz.compress(data) + gz.flush()


def checkpoint(progress: ProgressFn | None) -> None:
    """No bytes done, but a place to stop: the progress handler raises CancelledError to cancel."""
    if progress is not None:
        progress(0)


def _smallest(candidates: list[CodedChunk]) -> CodedChunk:
    """Smallest coded form; ties go to the cheaper method (store before zstd before model)."""
    return min(candidates, key=lambda c: (len(c.data), c.method))


def encode_chunks(
    method: Method,
    chunks: Sequence[bytes],
    predictor: Predictor | None = None,
    *,
    progress: ProgressFn | None = None,
) -> list[CodedChunk]:
    """Code ``chunks`` with ``method`` (model chunks in lock-step), each in its smallest form.

    ``progress`` gets the original bytes done as they are; a CancelledError it raises stops the
    coding (it is also called with 0 between steps, so that a cancel is noticed there too)."""
    for chunk in chunks:
        if not 0 < len(chunk) <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk of {len(chunk)} bytes is outside 1..{MAX_CHUNK_SIZE}")
    checkpoint(progress)
    crcs = [zlib.crc32(c) for c in chunks]
    options = [[CodedChunk(Method.STORE, bytes(c), len(c), len(c), crc)] for c, crc in zip(chunks, crcs, strict=True)]
    if method >= Method.ZSTD:
        zc = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True)
        for opts, chunk, crc in zip(options, chunks, crcs, strict=True):
            checkpoint(progress)
            opts.append(CodedChunk(Method.ZSTD, zc.compress(chunk), len(chunk), len(chunk), crc))
    if method == Method.MODEL:
        if predictor is None:
            raise ValueError("method model needs a predictor")
        sequences = [predictor.tokenize(c) for c in chunks]
        coded = model_encode(predictor, sequences, [len(c) for c in chunks], progress)
        for opts, data, seq, chunk, crc in zip(options, coded, sequences, chunks, crcs, strict=True):
            opts.append(CodedChunk(Method.MODEL, data, len(chunk), len(seq), crc))
    elif progress is not None:
        progress(sum(len(c) for c in chunks))
    return [_smallest(opts) for opts in options]


class _Progress:
    """Turns symbols coded into original bytes done, reported in increments (where the handler may cancel)."""

    def __init__(self, lengths: Sequence[int], sizes: Sequence[int], report: ProgressFn | None) -> None:
        self.report, self.done, self.lengths = report, 0, lengths
        self.per_symbol = sum(sizes) / max(sum(lengths), 1)
        self.total = sum(sizes)

    def tick(self, symbols_done: int) -> None:
        """Report (a CancelledError from the handler goes up through the predictor, which stops)."""
        if self.report is not None:
            now = min(int(symbols_done * self.per_symbol), self.total)
            self.report(now - self.done)
            self.done = now

    def finish(self) -> None:
        self.tick(sum(self.lengths))


def model_encode(
    predictor: Predictor,
    sequences: list[np.ndarray],
    sizes: Sequence[int],
    report: ProgressFn | None = None,
) -> list[bytes]:
    """Range-code symbol sequences with the predictor, one stream each (no fallback)."""
    progress = _Progress([len(s) for s in sequences], sizes, report)
    coded = predictor.encode_streams(sequences, progress.tick)
    progress.finish()
    return coded


def max_coded_len(method: Method, orig_len: int) -> int:
    """The most coded bytes a chunk of ``orig_len`` bytes may have by ``method`` (docs/FORMAT.md, rule 15).

    Store: exactly the original bytes.  Zstd: libzstd's worst case is ``n + n/256 + 64``; twice that
    margin leaves room for other encoders.  Model: the range coder writes at most 4 bytes per symbol
    (every table total is at most 2**32) plus 8 at the end, symbols <= orig_len, and one flag byte.
    """
    if method == Method.STORE:
        return orig_len
    if method == Method.ZSTD:
        return orig_len + orig_len // 128 + 1024
    return 4 * orig_len + 16


def chunk_limit_problem(record: ChunkRecord) -> str | None:
    """Why this version will not decode a chunk, judged from its record before any byte is read."""
    if record.orig_len > MAX_CHUNK_SIZE:
        return f"a chunk of {record.orig_len} bytes is larger than this version allows ({MAX_CHUNK_SIZE})"
    limit = max_coded_len(record.method, record.orig_len)
    if record.coded_len > limit:
        method = Method(record.method).name.lower()
        return (
            f"a {method} chunk of {record.orig_len} bytes claims {record.coded_len} coded bytes "
            f"(at most {limit} are possible)"
        )
    return None


def decode_chunks(
    items: Sequence[tuple[ChunkRecord, bytes]],
    predictor: Predictor | None = None,
    *,
    progress: ProgressFn | None = None,
    bounded: bool = True,
) -> list[bytes]:
    """Decode chunks (record, coded bytes) and verify each against its length and CRC32.

    ``progress`` as for :func:`encode_chunks`: bytes done, and a CancelledError from it cancels.

    ``bounded``: model chunks obey format 1.1's end rule (see :class:`lmarchive.coding.BatchDecoder`).
    """
    out: list[bytes | None] = [None] * len(items)
    model_items: list[int] = []
    for i, (record, data) in enumerate(items):
        checkpoint(progress)
        problem = chunk_limit_problem(record)
        if problem is not None:
            raise FormatError(problem)
        if record.method == Method.STORE:
            out[i] = data
        elif record.method == Method.ZSTD:
            out[i] = _zstd_decode(data, record.orig_len)
        else:
            if record.symbols > record.orig_len:
                raise FormatError("chunk claims more symbols than bytes")
            most = predictor.max_symbols(len(data)) if bounded and predictor is not None else None
            if most is not None and record.symbols > most:
                raise ChecksumError(
                    f"a model chunk of {len(data)} coded bytes claims {record.symbols:,} symbols, "
                    f"more than it can hold ({most:,}): the archive is damaged"
                )
            model_items.append(i)
    if progress is not None:
        progress(sum(record.orig_len for record, _ in items) - sum(items[i][0].orig_len for i in model_items))
    if model_items:
        if predictor is None:
            raise ValueError("model chunks need a predictor")
        records = [items[i][0] for i in model_items]
        coded = [items[i][1] for i in model_items]
        decoded = model_decode(predictor, coded, records, progress, bounded=bounded)
        for i, data in zip(model_items, decoded, strict=True):
            out[i] = data
    result: list[bytes] = []
    for (record, _), chunk in zip(items, out, strict=True):
        assert chunk is not None
        if len(chunk) != record.orig_len or zlib.crc32(chunk) != record.crc32:
            raise ChecksumError(CHUNK_CHECKSUM_FAILED)
        result.append(chunk)
    return result


def _zstd_decode(data: bytes, orig_len: int) -> bytes:
    """Decode a chunk that must be exactly one zstd frame; never more than orig_len + 1 bytes come out."""
    try:
        # The bounded read proves the first frame holds exactly orig_len bytes, whatever its header claims...
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
            out = reader.read(orig_len + 1)
        if len(out) != orig_len:
            raise FormatError("a zstd chunk does not decode to its recorded length")
        # ...so decoding that frame again is bounded too, and this decoder tells where the frame ends.
        frame = zstandard.ZstdDecompressor().decompressobj()
        frame.decompress(data)
    except zstandard.ZstdError as exc:
        raise FormatError(f"a zstd chunk is corrupt: {exc}") from None
    if not frame.eof:
        raise FormatError("a zstd chunk ends inside its frame")
    if frame.unused_data:
        raise FormatError(f"a zstd chunk has {len(frame.unused_data)} bytes after its frame")
    return out


def model_decode(
    predictor: Predictor,
    coded: list[bytes],
    records: list[ChunkRecord],
    report: ProgressFn | None,
    *,
    bounded: bool = True,
) -> list[bytes]:
    lengths = [r.symbols for r in records]
    progress = _Progress(lengths, [r.orig_len for r in records], report)
    symbols = predictor.decode_streams(coded, lengths, progress.tick, bounded=bounded)
    progress.finish()
    for seq, record in zip(symbols, records, strict=True):
        if predictor.decoded_size(seq) != record.orig_len:  # checked before tokens are spelled out in memory
            raise ChecksumError(CHUNK_CHECKSUM_FAILED)
    return [predictor.detokenize(s) for s in symbols]
