"""The predictor interface: what any model must provide to drive the range coder.

A predictor turns bytes into symbols (its vocabulary), and for a batch of independent streams
gives, at every step, one integer frequency table per stream.  The tables must be a pure function
of the predictor's files and the symbols each stream has seen so far: the decoder recomputes them
one step at a time and must get exactly the encoder's integers on any machine.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

import numpy as np


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


class BytePredictor(Predictor):
    """A predictor whose symbols are the 256 byte values, so a chunk's symbols are its bytes."""

    vocab_size = 256
    _fingerprint: bytes

    @property
    def fingerprint(self) -> bytes:
        return self._fingerprint

    def tokenize(self, data: bytes) -> np.ndarray:
        return np.frombuffer(data, dtype=np.uint8)

    def detokenize(self, symbols: np.ndarray) -> bytes:
        return np.asarray(symbols, dtype=np.uint8).tobytes()


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
