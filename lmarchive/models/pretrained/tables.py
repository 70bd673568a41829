"""The engine's lookup tables, computed once at conversion and stored with the weights.

Decoding never evaluates a float transcendental function (they differ by an ulp between
libraries); these are the only places where one is evaluated, and their integers ship in the file.
"""

from __future__ import annotations

import numpy as np

from lmarchive.models.pretrained import engine

TABLE_NATS = 24
"""Gaps beyond this many nats weigh nothing (e**-24 is below every grid's resolution)."""


def rope(window: int, head_dim: int, base: float) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of every position of a window at Llama's frequencies, on the grid 2**-ROPE_BITS."""
    inv = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    angle = np.arange(window, dtype=np.float64)[:, None] * inv[None, :]
    one = 1 << engine.ROPE_BITS
    return np.rint(np.cos(angle) * one).astype(np.int32), np.rint(np.sin(angle) * one).astype(np.int32)


def exp_table(steps_per_nat: int, bits: int) -> np.ndarray:
    """exp(-i / steps_per_nat) on the grid 2**-bits, for gaps up to TABLE_NATS."""
    i = np.arange(steps_per_nat * TABLE_NATS, dtype=np.float64)
    return np.rint(np.exp(-i / steps_per_nat) * (1 << bits)).astype(np.int64)


def silu_table() -> np.ndarray:
    """silu(i / 2**SILU_BITS) on the same grid, for i in [-SILU_RANGE, SILU_RANGE)."""
    x = np.arange(-engine.SILU_RANGE, engine.SILU_RANGE, dtype=np.float64) / (1 << engine.SILU_BITS)
    return np.rint(x / (1 + np.exp(-x)) * (1 << engine.SILU_BITS)).astype(np.int32)


def all_tables(window: int, head_dim: int, rope_base: float) -> dict[str, np.ndarray]:
    cos, sin = rope(window, head_dim, rope_base)
    return {
        "rope_cos": cos,
        "rope_sin": sin,
        "att_exp": exp_table(engine.ATT_STEPS, engine.ATT_EXP_BITS),
        "silu": silu_table(),
        "logit_exp": exp_table(engine.LOGIT_STEPS, engine.LOGIT_EXP_BITS),
    }
