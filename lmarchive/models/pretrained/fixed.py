"""Integer building blocks of the pretrained-model engine: scaled integer rows, exactly.

A pretrained model was never trained for fixed activation grids, so every activation here carries
its own scale, chosen per row (token) from the row's largest value, the way dynamic int8 inference
does it.  A scale is a pair of integer arrays ``(m, e)`` standing for ``m * 2**e`` with a mantissa
of MANT_BITS bits, so the scale arithmetic is integer arithmetic too, and an activation tensor is
an int64 array plus the scale of each of its rows.  Nothing here rounds a float: the only float
operations are conversions of integers below 2**53 (exact) and the exact matrix products of
:func:`exact_matmul`.
"""

from __future__ import annotations

import numpy as np

MANT_BITS = 15
"""Bits of a scale's mantissa: relative error 2**-15, far below the int8 rounding it describes."""
QMAX = 127
F32_EXACT = 1 << 24
"""float32 sums of integers are exact while every partial sum stays below this."""

Scale = tuple[np.ndarray, np.ndarray]
"""(mantissa, exponent), int64 arrays of one shape: the value ``m * 2**e``."""


def bit_length(x: np.ndarray) -> np.ndarray:
    """Bits of each non-negative int64 (0 for 0), exactly: float64's exponent, corrected where the
    conversion rounded up to the next power of two (possible above 2**53)."""
    x = np.asarray(x, dtype=np.int64)
    _, exponent = np.frexp(x.astype(np.float64))
    exponent = exponent.astype(np.int64)
    over = np.right_shift(x, np.clip(exponent - 1, 0, 63)) == 0
    return np.where((x > 0) & over, exponent - 1, exponent)


def shift_round(x: np.ndarray, shift: np.ndarray | int) -> np.ndarray:
    """round(x * 2**-shift) to nearest (ties up) for any sign of ``shift`` (negative: exact left shift)."""
    shift = np.asarray(shift, dtype=np.int64)
    right = np.clip(shift, 0, 62)
    left = np.clip(-shift, 0, 62)
    half = np.where(right > 0, np.left_shift(np.int64(1), np.maximum(right - 1, 0)), 0)
    return np.left_shift(np.right_shift(x + half, right), left)


def normalize(x: np.ndarray, e: np.ndarray | int) -> Scale:
    """The scale ``x * 2**e`` (x >= 0 int64) with its mantissa brought to MANT_BITS bits."""
    shift = bit_length(x) - MANT_BITS
    m = shift_round(x, shift)
    return m, np.asarray(e, dtype=np.int64) + np.where(x > 0, shift, 0)


def ratio(num: np.ndarray, den: np.ndarray, e: np.ndarray | int) -> Scale:
    """The scale ``num / den * 2**e`` (num >= 0, den > 0), to MANT_BITS bits."""
    p = MANT_BITS + 1 + bit_length(den) - bit_length(num)
    scaled = shift_round(num, -p) // den
    return normalize(scaled, np.asarray(e, dtype=np.int64) - p)


def mul(a: Scale, b: Scale) -> Scale:
    """The product of two scales."""
    return normalize(a[0] * b[0], a[1] + b[1])


def exact_matmul(x: np.ndarray, w_t: np.ndarray, bound: int) -> np.ndarray:
    """``x @ w_t`` exactly, for integer-valued float32 operands whose products are at most ``bound``
    in magnitude: the integers, as float32, or as float64 where the inner dimension had to be cut
    so that each float32 partial sum stays below 2**24 (exact in any order, on any CPU or BLAS;
    the pieces' sum is exact in float64)."""
    lead, inner = x.shape[:-1], x.shape[-1]
    x = x.reshape(-1, inner)  # one GEMM: numpy runs a stack of (1, inner) rows as separate products
    step = (F32_EXACT - 1) // bound
    out = np.matmul(x[:, :step], w_t[:step])
    if step < inner:
        out = out.astype(np.float64)
        for start in range(step, inner, step):
            out += np.matmul(x[:, start : start + step], w_t[start : start + step])
    return out.reshape(*lead, w_t.shape[-1])
