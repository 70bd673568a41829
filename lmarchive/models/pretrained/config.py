"""The shape of an imported Llama-family model (its config.json) and the limits the engine keeps."""

from __future__ import annotations

from dataclasses import dataclass

LIMITS = {
    "vocab_size": (256, 1 << 17),
    "d_model": (8, 1 << 13),
    "n_layers": (1, 128),
    "n_heads": (1, 1 << 8),
    "n_kv_heads": (1, 1 << 8),
    "d_ffn": (1, 1 << 15),
    "window": (2, 1 << 13),
}
"""Inclusive ranges: generous for real models, and bounded so a folder from anywhere cannot make
the engine allocate without limit."""


@dataclass(frozen=True)
class LlamaConfig:
    """Shape of the network (config.json next to the weights)."""

    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    d_ffn: int
    window: int
    """Positions one stream holds: the model restarts its context every ``window - 1`` tokens."""
    start_token: int
    """Fed before the first token of every window (SmolLM2: <|endoftext|>)."""

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def check(self) -> None:
        """ValueError for a shape this engine cannot run exactly or within bounded memory."""
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name} {value} is outside {low}..{high}")
        if self.d_model % self.n_heads or self.head_dim % 2 or self.n_heads % self.n_kv_heads:
            raise ValueError("heads must split d_model evenly, in pairs, and group evenly over the key/value heads")
        if self.head_dim * 127 * 127 >= 1 << 24:
            raise ValueError("head_dim too large for exact attention scores")
        if not 0 <= self.start_token < self.vocab_size:
            raise ValueError("start_token outside the vocabulary")
