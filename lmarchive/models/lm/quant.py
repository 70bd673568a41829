"""The one definition of the LM's quantization, shared by training and exact inference.

Training (float, differentiable) fake-quantizes at exactly the points where the exact engine
holds integers, with the same grids; conversion turns the learned scales into integer
multipliers and lookup tables with the functions here.  So the two agree by construction and
the exact model's tables are a pure function of the shipped integers.

Integer points of one layer (all grids fixed here or stored per model):

* residual stream: int32 on the grid 2**-RESIDUAL_BITS, saturated at +-RESIDUAL_LIMIT;
* RMSNorm output: int8 on the grid 1/NORM_SCALE (the norm's gain is folded into the next weights);
* weights: int8, symmetric, one scale per output channel;
* q, k, v, attention output, FFN up and product: int8 with one calibrated scale each;
* FFN gate: int on the grid 1/SILU_SCALE in [-SILU_RANGE, SILU_RANGE) indexing the SiLU table;
* rotary embedding: int16 cos/sin on the grid 2**-ROPE_BITS, frequencies that are whole
  multiples of 2*pi/rope_period so positions can be taken modulo the period;
* attention weights: exp table on the grid 1/EXP_STEPS_PER_NAT (score gap times score_mult,
  shifted right by SCORE_SHIFT), normalized to 2**PROB_BITS;
* logits: int on the grid 1/LOGIT_STEPS_PER_NAT, turned into frequencies summing to FREQ_TOTAL.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

QMAX = 127
RESIDUAL_BITS = 12
RESIDUAL_LIMIT = (1 << 22) - 1
NORM_SCALE = 16
ROPE_BITS = 14
PROB_BITS = 14
EXP_STEPS_PER_NAT = 32
EXP_TABLE_SIZE = 32 * 32
EXP_BITS = 15
SCORE_SHIFT = 20
SILU_SCALE = 64
SILU_RANGE = 2048
SILU_OUT_BITS = 10
LOGIT_STEPS_PER_NAT = 64
LOGIT_TABLE_SIZE = 64 * 24
LOGIT_EXP_BITS = 24
FREQ_TOTAL = 1 << 24
MULT_BITS = 30
MAX_SHIFT = 62
"""Requantization shifts lie in 1..MAX_SHIFT (the rounding term 2**(shift - 1) fits int64)."""
SCORE_MULT_LIMIT = 1 << 29
"""Attention score multipliers lie below this (the score gap is clamped so that gap * mult fits int32)."""
MATMUL_EXACT_LIMIT = 1 << 24
"""float32 sums of integers are exact while every partial sum stays below this."""


def rope_frequencies(head_dim: int, period: int, base: float) -> np.ndarray:
    """Integer turns per period for each rotated pair: Llama's frequencies rounded to k/period."""
    half = head_dim // 2
    theta = base ** (-np.arange(half, dtype=np.float64) * 2 / head_dim)  # radians per position
    turns = np.rint(theta * period / (2 * math.pi)).astype(np.int64)
    return np.maximum(turns, 1)


def rope_table(head_dim: int, period: int, base: float) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin, int16 on the grid 2**-ROPE_BITS, shape (period, head_dim // 2)."""
    turns = rope_frequencies(head_dim, period, base)
    angle = 2 * math.pi * (np.arange(period)[:, None] * turns[None, :] % period) / period
    scale = 1 << ROPE_BITS
    return np.rint(np.cos(angle) * scale).astype(np.int16), np.rint(np.sin(angle) * scale).astype(np.int16)


def exp_table() -> np.ndarray:
    """exp(-i / EXP_STEPS_PER_NAT) on the grid 2**-EXP_BITS, for attention weights."""
    i = np.arange(EXP_TABLE_SIZE, dtype=np.float64)
    table = np.rint(np.exp(-i / EXP_STEPS_PER_NAT) * (1 << EXP_BITS)).astype(np.int64)
    table[-1] = 0  # the last entry also stands for masked slots
    return table


def logit_exp_table() -> np.ndarray:
    """exp(-i / LOGIT_STEPS_PER_NAT) on the grid 2**-LOGIT_EXP_BITS, for output frequencies."""
    i = np.arange(LOGIT_TABLE_SIZE, dtype=np.float64)
    return np.rint(np.exp(-i / LOGIT_STEPS_PER_NAT) * (1 << LOGIT_EXP_BITS)).astype(np.int64)


def silu_table() -> np.ndarray:
    """silu(i / SILU_SCALE) for i in [-SILU_RANGE, SILU_RANGE), on the grid 2**-SILU_OUT_BITS."""
    x = np.arange(-SILU_RANGE, SILU_RANGE, dtype=np.float64) / SILU_SCALE
    return np.rint(x / (1 + np.exp(-x)) * (1 << SILU_OUT_BITS)).astype(np.int64)


def multiplier(scale: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Integer (mult, shift) with ``mult * 2**-shift`` ~= ``scale`` (> 0), mult < 2**MULT_BITS.

    Used once, at conversion; the engine only ever sees the integers.
    """
    s = np.atleast_1d(np.asarray(scale, dtype=np.float64))
    if np.any(s <= 0) or not np.all(np.isfinite(s)):
        raise ValueError("requantization scales must be positive and finite")
    exponent = np.floor(np.log2(s)).astype(np.int64)
    shift = MULT_BITS - 1 - exponent
    mult = np.rint(s * np.exp2(shift.astype(np.float64))).astype(np.int64)
    overflow = mult >= 1 << MULT_BITS
    mult[overflow] >>= 1
    shift[overflow] -= 1
    if np.any(shift < 1) or np.any(shift > MAX_SHIFT):
        raise ValueError("requantization scale out of the supported range")
    return mult, shift


def score_multiplier(scale: float) -> int:
    """The attention score-to-table-index multiplier, on the fixed shift SCORE_SHIFT."""
    return int(min(max(round(scale * (1 << SCORE_SHIFT)), 1), SCORE_MULT_LIMIT - 1))


def score_limit(mult: int, layer: int) -> int:
    """The largest score gap worth computing for a layer's score multiplier (checked in range):
    larger gaps index past the exp table's end anyway, and clamping keeps gap * mult in int32."""
    if not 1 <= mult < SCORE_MULT_LIMIT:
        raise ValueError(f"layer {layer}: attention score multiplier {mult} out of range")
    return ((EXP_TABLE_SIZE << SCORE_SHIFT) // mult) + 1


def check_exp_table(table: np.ndarray | torch.Tensor) -> None:
    if int(table[-1]) != 0:
        raise ValueError("the attention exp table must end in 0 (it is the masked slots' weight)")


def quantize_weight(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per output channel (rows): returns (int8 weights, float scale per row)."""
    amax = np.abs(w).max(axis=1)
    scale = np.where(amax > 0, amax / QMAX, 1.0)
    q = np.clip(np.rint(w / scale[:, None]), -QMAX, QMAX).astype(np.int8)
    return q, scale
