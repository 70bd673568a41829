"""The predictor interface: what any model must provide to drive the range coder.

A predictor turns bytes into symbols (its vocabulary) and codes symbol sequences into range-coder
streams and back.  Most predictors are table predictors: for a batch of independent streams they
give, at every step, one integer frequency table per stream, and this module runs the coder over
them.  The tables must be a pure function of the predictor's files and the symbols each stream has
seen so far: the decoder recomputes them one step at a time and must get exactly the encoder's
integers on any machine.  A model that codes bits itself (the mixing model) overrides the two
stream methods instead.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from lmarchive.coding import BatchDecoder, BatchEncoder, decode_step, encode_step

TickFn = Callable[[int], None]
"""Called now and then with the number of symbols coded so far (all streams together); it may
raise (for example :class:`lmarchive.errors.CancelledError`) to stop the work."""
TICK_EVERY = 256
"""Lock-step positions between two ticks."""


class PredictorBatch(ABC):
    """Model state for ``n`` streams that advance together, one symbol per step."""

    @abstractmethod
    def frequencies(self, streams: np.ndarray) -> np.ndarray:
        """Next-symbol tables for ``streams`` (indices): int64 array (len(streams), vocab_size).

        Every entry is at least 1 and every row sums to at most ``coding.MAX_TOTAL``.
        """

    @abstractmethod
    def update(self, streams: np.ndarray, symbols: np.ndarray) -> None:
        """Advance each stream in ``streams`` by the symbol it just coded."""


class Predictor(ABC):
    """A model that can code bytes: vocabulary, tokenization and batched frequency tables."""

    #: Identifier recorded in the archive; the registry finds the model by it.
    name: str
    #: Number of distinct symbols.
    vocab_size: int
    #: Chunk sizes this model codes best: (smallest, largest, target chunks per entry).  Adaptive
    #: models want long chunks; lock-step models want many.
    chunking: tuple[int, int, int] = (64 << 10, 1 << 20, 16)
    #: A lower bound on the bits the coder spends on any one symbol (0: none known).  A bounded
    #: stream of L bytes codes at most 8L + 8 bits (the coder's range starts below 2**64 and ends
    #: at 2**56 or more), so it holds at most (8L + 8) / min_symbol_bits symbols.
    min_symbol_bits: float = 0.0

    def max_symbols(self, coded_len: int) -> int | None:
        """The most symbols a format 1.1 stream of ``coded_len`` bytes can hold; None if unbounded.

        A plausibility limit only (it never influences a table): a chunk claiming more is damaged
        or hostile, and is refused before any of it is decoded.
        """
        if not self.min_symbol_bits:
            return None
        return int((8 * coded_len + 8) / self.min_symbol_bits) + 1

    @property
    @abstractmethod
    def fingerprint(self) -> bytes:
        """32-byte sha256 that changes whenever the tables could change (files, parameters)."""

    @abstractmethod
    def tokenize(self, data: bytes) -> np.ndarray:
        """Bytes to symbols (int64); must be reversed exactly by :meth:`detokenize`."""

    @abstractmethod
    def detokenize(self, symbols: np.ndarray) -> bytes:
        """Symbols back to the exact bytes."""

    def decoded_size(self, symbols: np.ndarray) -> int:
        """Bytes :meth:`detokenize` would give, known before building them (one per symbol here)."""
        return len(symbols)

    @abstractmethod
    def encode_streams(self, sequences: Sequence[np.ndarray], tick: TickFn) -> list[bytes]:
        """Range-code each symbol sequence into its own independent stream."""

    @abstractmethod
    def decode_streams(
        self, coded: Sequence[bytes], lengths: Sequence[int], tick: TickFn, *, bounded: bool = True
    ) -> list[np.ndarray]:
        """The symbol sequences (given their lengths) back from :meth:`encode_streams`' output.

        ``bounded``: a stream that reads past its bytes and the coder's flush is damaged, and
        raises ChecksumError at once (see :class:`lmarchive.coding.BatchDecoder`); False only for
        format 1.0 archives, whose streams may end early legitimately.
        """


class TablePredictor(Predictor):
    """A predictor that hands the coder one frequency table per stream and step."""

    @abstractmethod
    def open_batch(self, n: int) -> PredictorBatch:
        """Fresh state for ``n`` streams, each at the start of an independent chunk."""

    def encode_tables(self, sequences: Sequence[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Yield ``(streams, tables, symbols)`` step by step for encoding ``sequences`` in lock-step.

        The encoder knows every symbol in advance, so a model may override this with a faster
        pass (for example all positions of a transformer at once); it must yield exactly the
        tables that :meth:`open_batch` gives the decoder.
        """
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        padded = np.zeros((len(sequences), int(lengths.max(initial=0))), dtype=symbol_dtype(self.vocab_size))
        for i, seq in enumerate(sequences):
            padded[i, : len(seq)] = seq
        batch = self.open_batch(len(sequences))
        for step in range(padded.shape[1]):
            streams = np.flatnonzero(lengths > step)
            symbols = padded[streams, step].astype(np.int64)
            yield streams, batch.frequencies(streams), symbols
            batch.update(streams, symbols)

    def encode_streams(self, sequences: Sequence[np.ndarray], tick: TickFn) -> list[bytes]:
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        enc = BatchEncoder(len(sequences), capacity=int(lengths.max(initial=0)) // 2 + 64)
        for step, (streams, tables, symbols) in enumerate(self.encode_tables(sequences)):
            encode_step(enc, streams, tables, symbols)
            if step % TICK_EVERY == 0:
                tick(int(np.minimum(lengths, step).sum()))
        return [enc.finish(i) for i in range(len(sequences))]

    def decode_streams(
        self, coded: Sequence[bytes], lengths: Sequence[int], tick: TickFn, *, bounded: bool = True
    ) -> list[np.ndarray]:
        # Longest first, so the streams still running at any step are always a prefix 0..k-1.
        order = sorted(range(len(coded)), key=lambda i: -lengths[i])
        ordered = np.array([lengths[i] for i in order], dtype=np.int64)
        dec = BatchDecoder([coded[i] for i in order], bounded=bounded)
        batch = self.open_batch(len(order))
        symbols = np.zeros((len(order), int(ordered.max(initial=0))), dtype=symbol_dtype(self.vocab_size))
        active = len(order)
        for step in range(symbols.shape[1]):
            while active and ordered[active - 1] <= step:
                active -= 1
            streams = np.arange(active)
            sym = decode_step(dec, streams, batch.frequencies(streams))
            batch.update(streams, sym)
            symbols[:active, step] = sym
            if step % TICK_EVERY == 0:
                tick(int(np.minimum(ordered, step).sum()))
        result: list[np.ndarray] = [symbols[0, :0]] * len(order)
        for row, i in enumerate(order):
            result[i] = symbols[row, : ordered[row]]
        return result


class ByteSymbols:
    """Symbols are the 256 byte values, so a chunk's symbols are its bytes."""

    vocab_size = 256
    _fingerprint: bytes

    @property
    def fingerprint(self) -> bytes:
        return self._fingerprint

    def tokenize(self, data: bytes) -> np.ndarray:
        return np.frombuffer(data, dtype=np.uint8)

    def detokenize(self, symbols: np.ndarray) -> bytes:
        return np.asarray(symbols, dtype=np.uint8).tobytes()


class BytePredictor(ByteSymbols, TablePredictor):
    """A table predictor over bytes."""


def symbol_dtype(vocab_size: int) -> type[np.integer]:
    """The smallest unsigned dtype that holds every symbol, to keep batch buffers small."""
    if vocab_size <= 1 << 8:
        return np.uint8
    return np.uint16 if vocab_size <= 1 << 16 else np.uint32


def sha256_of(*parts: bytes) -> bytes:
    """Fingerprint helper: sha256 over length-prefixed parts, so no two part lists collide."""
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.digest()
