"""Glue between whole frequency tables (one row per stream) and the range coder's triples."""

from __future__ import annotations

import numpy as np

from lmarchive.coding.rangecoder import BatchDecoder, BatchEncoder


def _cumulative(freqs: np.ndarray) -> np.ndarray:
    if freqs.dtype.kind not in "ui":
        raise TypeError(f"frequency tables must be integers, got {freqs.dtype}")
    return np.cumsum(freqs, axis=1, dtype=np.uint64)


def encode_step(enc: BatchEncoder, streams: np.ndarray, freqs: np.ndarray, symbols: np.ndarray) -> None:
    """Code ``symbols[i]`` in stream ``streams[i]`` using row ``i`` of ``freqs`` (rows x vocabulary)."""
    cum = _cumulative(freqs)
    rows = np.arange(len(streams))
    sym = np.asarray(symbols, dtype=np.int64)
    f = freqs[rows, sym].astype(np.uint64)
    enc.encode(streams, cum[rows, sym] - f, f, cum[:, -1])


def decode_step(dec: BatchDecoder, streams: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Decode one symbol per stream from its frequency row; returns the symbols (int64)."""
    cum = _cumulative(freqs)
    target = dec.targets(streams, cum[:, -1])
    sym = np.count_nonzero(cum <= target[:, None], axis=1)
    rows = np.arange(len(streams))
    f = freqs[rows, sym].astype(np.uint64)
    dec.consume(streams, cum[rows, sym] - f, f)
    return sym.astype(np.int64)
