"""Integer logistic functions: the probability <-> log-odds maps every model of the mixer shares.

Probabilities are 12-bit integers (1..4095 of 4096); log-odds ("stretch" domain) are integers in
-2047..2047, 256 units per natural-log unit.  Both tables are built from integers only (a fixed
33-point table of the logistic curve, linearly interpolated), so every machine gets the same ones.
"""

from __future__ import annotations

import numpy as np

_KNOTS = (
    1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047,
    2549, 2994, 3348, 3607, 3785, 3901, 3975, 4022, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094,
)  # fmt: skip
"""4096 / (1 + exp(-x / 256)) at x = -2048, -1920, ..., 2048, rounded: the curve's knots."""


def _squash(d: int) -> int:
    """4096 / (1 + e^(-d/256)) by interpolation between knots, for d in -2047..2047."""
    if d > 2047:
        return 4095
    if d < -2047:
        return 1
    w = d & 127
    i = (d >> 7) + 16
    return (_KNOTS[i] * (128 - w) + _KNOTS[i + 1] * w + 64) >> 7


SQUASH = np.array([_squash(d) for d in range(-2048, 2048)], dtype=np.int64)
"""SQUASH[d + 2048] for d in -2048..2047."""


def _stretch_table() -> np.ndarray:
    """The inverse of squash: the smallest d whose squash reaches p, for every p in 0..4095."""
    table = np.full(4096, 2047, dtype=np.int64)
    p_next = 0
    for d in range(-2047, 2048):
        v = _squash(d)
        table[p_next : v + 1] = d
        p_next = max(p_next, v + 1)
    return table


STRETCH = _stretch_table()
"""STRETCH[p] for p in 0..4095."""
