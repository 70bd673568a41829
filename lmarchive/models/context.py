"""An adaptive byte-level context model with integer counts (orders 0, 1 and hashed 2).

This is ``cm2``, the model of the first archives (tests/data/golden-1.0.lmz), which must always
decode, and the selftest's reference for table-driven coding; the profiles code with the mixing
model (:mod:`lmarchive.models.mix`) instead.  Each stream learns from
the bytes it has coded so far; the prediction blends the orders by Witten-Bell interpolation
(each order's counts, with the lower orders' distribution weighted by the number of distinct
symbols seen in the context), entirely in int64 so every machine computes the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmarchive.models.base import BytePredictor, PredictorBatch, sha256_of

_ALGORITHM = b"lmarchive.context-mix-wb/1"
_SHIFT_THRESHOLDS = np.array([1 << bit for bit in range(24, 48)], dtype=np.int64)


@dataclass(frozen=True)
class ContextModelParams:
    """Everything that determines the tables; all of it goes into the fingerprint."""

    order2_bits: int = 12
    """log2 of the order-2 hash table's context slots (memory: 2**bits * 512 bytes per stream)."""
    limit: int = 4000
    """Counts of a context are halved when their sum exceeds this: old statistics fade."""
    increment: int = 2
    """Count added per occurrence (larger adapts faster against the escape weight)."""

    def encode(self) -> bytes:
        return f"{self.order2_bits},{self.limit},{self.increment}".encode()


class ContextModel(BytePredictor):
    """Order-0/1/2 blended byte model; vocabulary = the 256 byte values."""

    def __init__(self, name: str = "cm2", params: ContextModelParams | None = None) -> None:
        self.name = name
        self.params = params or ContextModelParams()
        self._fingerprint = sha256_of(_ALGORITHM, self.params.encode())

    def open_batch(self, n: int) -> _ContextBatch:
        return _ContextBatch(n, self.params)


class _ContextBatch(PredictorBatch):
    """Counts of all three orders in one flat table, so each step is a handful of numpy calls.

    Context rows per stream: 0 is order 0, 1 + previous byte is order 1, 257 + a hash of the
    previous two bytes is order 2.

    Blending without division (docs/FORMAT.md gives the normative form): with ``F = c_0 + e_0``,
    then ``F = c_o * W + e_o * F`` for orders 1 and 2, where ``c_o`` are the context's counts,
    ``e_o`` (escape weight) the number of distinct symbols seen in it (at least 1) and ``W`` the
    product of the lower orders' ``n + e``.  That is Witten-Bell-style interpolation with the
    uniform distribution under order 0 weighted ``256 * e_0`` (measured better than plain
    Witten-Bell).  ``D = 256 * prod(n_o + e_o)`` bounds the sum of ``F``; ``F`` is shifted right
    until ``D`` fits 24 bits and 1 is added so no symbol is impossible.  All int64: ``D < 2**45``.
    """

    def __init__(self, n: int, params: ContextModelParams) -> None:
        self.rows = 257 + (1 << params.order2_bits)
        self.params = params
        self.counts = np.zeros((n * self.rows, 256), dtype=np.uint16)
        self.flat_counts = self.counts.reshape(-1)
        self.totals = np.zeros(n * self.rows, dtype=np.int64)
        self.distinct = np.zeros(n * self.rows, dtype=np.int64)
        self.history = np.zeros(n, dtype=np.int64)  # the last two bytes, older one high

    def _contexts(self, streams: np.ndarray) -> np.ndarray:
        """Row numbers (len(streams), 3) of each stream's order-0, 1 and 2 contexts."""
        hist = self.history[streams]
        h2 = ((hist * 0x9E3779B1) >> 13) & ((1 << self.params.order2_bits) - 1)
        base = streams * self.rows
        return np.stack([base, base + 1 + (hist & 0xFF), base + 257 + h2], axis=1)

    def frequencies(self, streams: np.ndarray) -> np.ndarray:
        ctx = self._contexts(streams)
        counts = np.take(self.counts, ctx, axis=0).astype(np.int64)
        esc = np.maximum(np.take(self.distinct, ctx), 1)
        weight = np.take(self.totals, ctx) + esc
        f: np.ndarray = counts[:, 0] + esc[:, 0, None]  # D_-1 = 256 is folded in: F_0 / 256
        d = weight[:, 0]
        f = counts[:, 1] * d[:, None] + esc[:, 1, None] * f
        d = d * weight[:, 1]
        f = counts[:, 2] * d[:, None] + esc[:, 2, None] * f
        d = d * weight[:, 2] * 256
        shift = np.searchsorted(_SHIFT_THRESHOLDS, d, side="right")
        return (f >> shift[:, None]) + 1

    def update(self, streams: np.ndarray, symbols: np.ndarray) -> None:
        sym = np.asarray(symbols, dtype=np.int64)
        ctx = self._contexts(streams)
        inc = self.params.increment
        cells = ctx * 256 + sym[:, None]
        old = self.flat_counts[cells]
        self.flat_counts[cells] = old + inc
        totals = self.totals[ctx] + inc
        self.totals[ctx] = totals
        self.distinct[ctx] += old == 0
        full = totals > self.params.limit
        if full.any():
            c = ctx[full]
            halved = (self.counts[c].astype(np.int64) + 1) >> 1
            self.counts[c] = halved
            self.totals[c] = halved.sum(axis=1)
        self.history[streams] = ((self.history[streams] << 8) | sym) & 0xFFFF
