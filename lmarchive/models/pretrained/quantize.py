"""Float weights of a pretrained model -> the engine's integers (int8 rows, integer scales)."""

from __future__ import annotations

import numpy as np

from lmarchive.models.pretrained import engine
from lmarchive.models.pretrained.fixed import MANT_BITS, QMAX


def int8_rows(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Symmetric int8 per row with the row scales as integer mantissas ``m * 2**e`` (one ``e``).

    The integers are rounded against the mantissa-rounded scales, so they agree with what the
    engine multiplies by.
    """
    w = np.asarray(w, dtype=np.float64)
    scale = np.maximum(np.abs(w).max(axis=1), 1e-30) / QMAX
    e = int(np.ceil(np.log2(scale.max()))) - MANT_BITS
    m = np.maximum(np.rint(scale * 2.0**-e), 1)
    q = np.clip(np.rint(w / (m * 2.0**e)[:, None]), -QMAX, QMAX).astype(np.int8)
    return q, m.astype(np.int64), np.array([e], dtype=np.int64)


def gains(g: np.ndarray) -> np.ndarray:
    """RMSNorm gains on the grid 2**-GAIN_BITS."""
    return np.rint(np.asarray(g, dtype=np.float64) * (1 << engine.GAIN_BITS)).astype(np.int32)
