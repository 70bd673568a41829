"""The ``max`` model: an imported pretrained LM coding tokens, or the default model where it codes smaller.

Symbols are bytes, as for the mixing model: the LM's tokenization happens inside, so a chunk's
record counts bytes whichever of the two coded it.  Each chunk is coded both ways and keeps the
smaller:

* LM: the chunk's tokens cut into windows of ``window - 1`` tokens, each window a range-coder
  stream of its own that starts from the model's start token with an empty cache.  Windows are
  independent, so they are coded in lock-step batches (the batch is what makes the matrix products
  efficient), even within one chunk.  Stream layout: the byte LM_CODED, the token count and the
  length of every window stream but the last (unsigned LEB128 varints), then the window streams.
* the fallback model's stream unchanged (it starts with a byte of its own, never LM_CODED), so a
  chunk the LM cannot shrink costs exactly what the fallback alone makes of it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from lmarchive.errors import FormatError, ModelError
from lmarchive.models.base import ByteSymbols, Predictor, PredictorBatch, TablePredictor, TickFn, sha256_of
from lmarchive.models.pretrained import engine
from lmarchive.models.pretrained.model_dir import fingerprint, load_model_dir
from lmarchive.models.tokenizer import TOKENIZER_FILE, BpeTokenizer

LM_CODED = 2
"""First byte of a chunk coded by the LM (the mixing model's streams start with 0 or 1)."""
ENCODE_GROUP = 32
"""Windows whose tables are computed together when encoding (one matrix product per position)."""
DECODE_GROUP = 64
"""Windows decoded in lock-step: each holds a key/value cache of about 15 MB."""


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise FormatError("an LM chunk's header is truncated or malformed")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        shift += 7
        if not byte & 0x80:
            return value, at


def _offset(tick: TickFn, done: int, per_token: float) -> TickFn:
    """A group's ticks (its tokens done) as the whole job's (bytes done, the groups before included)."""
    return lambda n: tick(int((done + n) * per_token))


class WindowLM(TablePredictor):
    """The engine as a table predictor whose streams are windows of tokens."""

    def __init__(self, model: engine.ExactLlama, vocab_size: int) -> None:
        self.model = model
        self.name = "windows"
        self.vocab_size = vocab_size
        self._fingerprint = b""

    @property
    def fingerprint(self) -> bytes:
        return self._fingerprint

    def tokenize(self, data: bytes) -> np.ndarray:
        raise NotImplementedError("windows are made by the max model")

    def detokenize(self, symbols: np.ndarray) -> bytes:
        raise NotImplementedError("windows are made by the max model")

    def open_batch(self, n: int) -> PredictorBatch:
        return _Batch(self.model, n)

    def encode_tables(self, sequences: Sequence[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The encoder's pass: every window's positions at once, then the tables step by step."""
        start = self.model.config.start_token
        finals = []
        for seq in sequences:
            cache = self.model.new_cache(1)
            inputs = np.concatenate([[start], seq[:-1]]).astype(np.int64)[None, :]
            x, (m, e) = self.model.forward(inputs, cache)
            finals.append((x[0], m[0], e[0]))
        lengths = np.array([len(s) for s in sequences])
        for step in range(int(lengths.max(initial=0))):
            streams = np.flatnonzero(lengths > step)
            active = streams.tolist()
            x = np.stack([finals[i][0][step] for i in active])
            scale = (np.array([finals[i][1][step] for i in active]), np.array([finals[i][2][step] for i in active]))
            symbols = np.array([sequences[i][step] for i in active], dtype=np.int64)
            yield streams, self.model.frequencies(x, scale), symbols


class _Batch(PredictorBatch):
    """Incremental decoding of ``n`` windows in lock-step (the active ones are always a prefix)."""

    def __init__(self, model: engine.ExactLlama, n: int) -> None:
        self.model = model
        self.cache = model.new_cache(n)
        self.pending = np.full(n, model.config.start_token, dtype=np.int64)

    def frequencies(self, streams: np.ndarray) -> np.ndarray:
        k = len(streams)
        if not np.array_equal(streams, np.arange(k)):
            raise ValueError("the streams of a step must be the first k")
        cache = self.cache
        view = engine.Cache(
            [a[:k] for a in cache.keys],
            [(m[:k], e[:k]) for m, e in cache.key_scale],
            [a[:k] for a in cache.values],
            [(m[:k], e[:k]) for m, e in cache.value_scale],
            cache.position,
        )
        x, (m, e) = self.model.forward(self.pending[:k, None], view)
        cache.position = view.position
        return self.model.frequencies(x[:, 0], (m[:, 0], e[:, 0]))

    def update(self, streams: np.ndarray, symbols: np.ndarray) -> None:
        self.pending[streams] = symbols


class MaxPredictor(ByteSymbols, Predictor):
    """An imported LM (a model folder of :mod:`.model_dir`) with a fallback model for what it codes worse."""

    min_bpt = 2.0
    """A chunk that tokenizes to fewer bytes per token is not text the LM knows (binary, random,
    compressed: SmolLM2 reads English at 3.6): it goes to the fallback without an LM pass, which
    would cost minutes and lose."""

    def __init__(self, name: str, directory: Path, fallback: Predictor) -> None:
        self.name = name
        self.directory = directory
        self.fallback = fallback
        try:
            self.config, tensors = load_model_dir(directory)
            self.tokenizer = BpeTokenizer(directory / TOKENIZER_FILE)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"model {name!r} in {directory} cannot be loaded: {exc}") from None
        if self.tokenizer.vocab_size != self.config.vocab_size:
            raise ModelError(f"model {name!r}: {self.config.vocab_size} outputs for {self.tokenizer.vocab_size} tokens")
        self._tensors = tensors
        self.chunking = fallback.chunking  # the fallback's chunks, so that it codes as it would alone
        # The plausibility bound on bytes per coded bit: an LM token costs at least what its largest
        # possible frequency leaves (every other token holds at least 1), and holds at most the
        # longest token's bytes.
        longest = int(self.tokenizer.lengths.max())
        token_bits = -math.log2(1 - (self.config.vocab_size - 1) / engine.FREQ_TOTAL)
        self.min_symbol_bits = min(fallback.min_symbol_bits, token_bits / longest * 0.999)
        self._fingerprint = sha256_of(b"lmarchive.max/1", fingerprint(directory), fallback.fingerprint)

    @cached_property
    def windows(self) -> WindowLM:
        return WindowLM(engine.ExactLlama(self.config, self._tensors), self.config.vocab_size)

    @property
    def fingerprint(self) -> bytes:
        return self._fingerprint

    @property
    def window_tokens(self) -> int:
        return self.config.window - 1

    def _windows(self, tokens: np.ndarray) -> list[np.ndarray]:
        w = self.window_tokens
        return [tokens[a : a + w] for a in range(0, len(tokens), w)]

    def encode_streams(self, sequences: Sequence[np.ndarray], tick: TickFn) -> list[bytes]:
        data = [np.asarray(s, dtype=np.uint8).tobytes() for s in sequences]
        total = sum(len(d) for d in data)
        fallback = self.fallback.encode_streams(sequences, lambda done: tick(0))  # tick(0): a place to cancel
        tokens = [self.tokenizer.encode(d) if d else np.zeros(0, dtype=np.int64) for d in data]
        use = [i for i, (d, t) in enumerate(zip(data, tokens, strict=True)) if d and len(d) >= self.min_bpt * len(t)]
        windows = [(i, w) for i in use for w in self._windows(tokens[i])]
        per_token = total / max(sum(len(w) for _, w in windows), 1)
        coded: list[bytes] = []
        for a in range(0, len(windows), ENCODE_GROUP):
            group = [w for _, w in windows[a : a + ENCODE_GROUP]]
            done = sum(len(w) for _, w in windows[:a])
            coded += self.windows.encode_streams(group, _offset(tick, done, per_token))
        out = list(fallback)
        at = 0
        for i in use:
            n = len(self._windows(tokens[i]))
            streams = coded[at : at + n]
            at += n
            header = bytes([LM_CODED]) + _varint(len(tokens[i])) + b"".join(_varint(len(s)) for s in streams[:-1])
            lm = header + b"".join(streams)
            if len(lm) < len(out[i]):
                out[i] = lm
        tick(total)
        return out

    def decode_streams(
        self, coded: Sequence[bytes], lengths: Sequence[int], tick: TickFn, *, bounded: bool = True
    ) -> list[np.ndarray]:
        result: list[np.ndarray | None] = [None] * len(coded)
        others = [i for i, c in enumerate(coded) if not c or c[0] != LM_CODED]
        if others:
            decoded = self.fallback.decode_streams(
                [coded[i] for i in others], [lengths[i] for i in others], lambda n: tick(0), bounded=bounded
            )
            for i, symbols in zip(others, decoded, strict=True):
                result[i] = symbols
        jobs: list[tuple[int, list[bytes], list[int]]] = []
        for i, c in enumerate(coded):
            if result[i] is None:
                jobs.append((i, *self._split(c, lengths[i])))
        windows = [(i, s, n) for i, streams, sizes in jobs for s, n in zip(streams, sizes, strict=True)]
        total_tokens = max(sum(n for _, _, n in windows), 1)
        per_token = sum(lengths[i] for i, _, _ in jobs) / total_tokens
        decoded_windows: list[np.ndarray] = []
        for a in range(0, len(windows), DECODE_GROUP):
            group = windows[a : a + DECODE_GROUP]
            done = sum(n for _, _, n in windows[:a])
            decoded_windows += self.windows.decode_streams(
                [s for _, s, _ in group],
                [n for _, _, n in group],
                _offset(tick, done, per_token),
                bounded=bounded,
            )
        at = 0
        for i, streams, _ in jobs:
            tokens = np.concatenate(decoded_windows[at : at + len(streams)])
            at += len(streams)
            if self.tokenizer.decoded_size(tokens) != lengths[i]:
                raise FormatError("an LM chunk decodes to a different length than its record says")
            result[i] = np.frombuffer(self.tokenizer.decode(tokens), dtype=np.uint8)
        return [r if r is not None else np.zeros(0, dtype=np.uint8) for r in result]

    def _split(self, data: bytes, length: int) -> tuple[list[bytes], list[int]]:
        """The window streams of an LM chunk and their token counts, checked against the chunk's size."""
        count, at = _read_varint(data, 1)
        if count < 1 or count > length:  # every token holds at least one byte
            raise FormatError("an LM chunk claims an impossible number of tokens")
        w = self.window_tokens
        sizes = [min(w, count - a) for a in range(0, count, w)]
        lens = []
        for _ in sizes[:-1]:
            n, at = _read_varint(data, at)
            lens.append(n)
        if sum(lens) > len(data) - at:
            raise FormatError("an LM chunk's window streams run past its end")
        lens.append(len(data) - at - sum(lens))
        streams = []
        for n in lens:
            streams.append(data[at : at + n])
            at += n
        return streams, sizes
