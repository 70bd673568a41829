"""The shape of an exact transformer (config.json) and the limits a model folder must keep.

Apart from the engines (torch for CUDA, numba on the CPU), so that reading a model folder and
running the CPU path never imports torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lmarchive.models.lm import quant

CONFIG_LIMITS = {
    "vocab_size": (256, 1 << 16),  # a vocabulary holds every byte
    "d_model": (2, 1 << 12),
    "n_layers": (1, 64),
    "n_heads": (1, 1 << 8),
    "d_ffn": (1, 1 << 14),
    "window": (1, 1 << 12),  # the softmax sums (window + block) weights of up to 2**15 in int32
    "rope_period": (1, 1 << 16),
}
"""Inclusive ranges of the shape fields: generous for real models, and a model folder from the
user cannot make the engine allocate more than a bounded amount per stream."""
MAX_CACHE_CELLS = 1 << 22
"""n_layers x d_model x window: keys and values of one stream in float32 (32 MiB; the shipped
models need under 2% of it), held for every chunk of a batch."""


@dataclass(frozen=True)
class LMConfig:
    """Shape of the network; stored as config.json next to the weights."""

    vocab_size: int = 256
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    d_ffn: int = 688
    window: int = 256
    rope_period: int = 4096
    rope_base: float = 10000.0

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def bos(self) -> int:
        """The start token: one embedding row past the vocabulary, never predicted."""
        return self.vocab_size

    def check(self) -> None:
        """ValueError for a shape this engine cannot run exactly or within bounded memory."""
        for name, (low, high) in CONFIG_LIMITS.items():
            value = getattr(self, name)
            if not low <= value <= high:
                shown = str(value) if len(str(value)) <= 20 else "of " + str(len(str(value))) + " digits"
                raise ValueError(f"{name} {shown} is outside {low}..{high}")
        if not (math.isfinite(self.rope_base) and self.rope_base > 0):
            raise ValueError(f"rope_base {self.rope_base} is not a positive number")
        if self.n_layers * self.d_model * self.window > MAX_CACHE_CELLS:
            raise ValueError(f"n_layers x d_model x window exceeds {MAX_CACHE_CELLS} (one stream's key/value cache)")
        if self.d_model % self.n_heads or self.head_dim % 2:
            raise ValueError("d_model must split into heads of even size")
        rope_max = quant.QMAX * 2  # a rotated int8 pair component stays below 127 * sqrt(2) + 1
        if self.head_dim * rope_max * rope_max >= quant.MATMUL_EXACT_LIMIT:
            raise ValueError("head_dim too large for exact attention scores")
