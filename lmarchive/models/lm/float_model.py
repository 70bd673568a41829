"""The training-side twin of the exact engine: float, differentiable, fake-quantized.

Each fake quantization sits where :mod:`exact` holds an integer, on the same grid (see
:mod:`quant`); activation scales are tracked by running max observers and become the exact
model's integer multipliers at conversion (:mod:`convert`).  Not shipped to users' hot path:
the app only runs the exact engine.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

from lmarchive.models.lm import quant
from lmarchive.models.lm.config import LMConfig

OBSERVED = ("q", "k", "v", "o", "u", "h")
"""Per-layer activations whose int8 scale is calibrated (the others have fixed grids)."""


def fake_quant(x: torch.Tensor, scale: torch.Tensor | float, low: int, high: int) -> torch.Tensor:
    """Round to ``scale`` * integer in [low, high]; gradients pass straight through (STE)."""
    q = torch.clamp(torch.round(x / scale), low, high) * scale
    return x + (q - x).detach()


def fake_quant_weight(w: torch.Tensor) -> torch.Tensor:
    """Symmetric int8 per output row, as :func:`quant.quantize_weight` ships it."""
    scale = w.detach().abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / quant.QMAX
    return fake_quant(w, scale, -quant.QMAX, quant.QMAX)


def rms_quant(h: torch.Tensor) -> torch.Tensor:
    """RMSNorm without gain, on the int8 grid 1/NORM_SCALE."""
    v = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-6)
    return fake_quant(v, 1.0 / quant.NORM_SCALE, -quant.QMAX, quant.QMAX)


class FloatLayer(nn.Module):
    """One decoder layer's parameters and observer maxima (its computation is :class:`FloatTransformer`'s)."""

    attn_gain: nn.Parameter
    ffn_gain: nn.Parameter
    wq: nn.Parameter
    wk: nn.Parameter
    wv: nn.Parameter
    wo: nn.Parameter
    w1: nn.Parameter
    w3: nn.Parameter
    w2: nn.Parameter
    amax: torch.Tensor
    """Running max of each of the :data:`OBSERVED` activations (a buffer)."""


class FloatTransformer(nn.Module):
    """Llama-style decoder (RMSNorm, RoPE, SwiGLU, sliding-window attention) for training."""

    rope_cos: torch.Tensor
    rope_sin: torch.Tensor

    def __init__(self, config: LMConfig, observer_momentum: float = 0.01) -> None:
        super().__init__()
        config.check()
        self.config = config
        self.momentum = observer_momentum
        d, f = config.d_model, config.d_ffn
        self.embed = nn.Embedding(config.vocab_size + 1, d)
        nn.init.normal_(self.embed.weight, std=1.0)
        self.layers = nn.ModuleList()
        for _ in range(config.n_layers):
            layer = FloatLayer()
            layer.attn_gain = nn.Parameter(torch.ones(d))
            layer.ffn_gain = nn.Parameter(torch.ones(d))
            for name, shape in (("wq", (d, d)), ("wk", (d, d)), ("wv", (d, d)), ("wo", (d, d))):
                setattr(layer, name, nn.Parameter(torch.randn(shape) / math.sqrt(shape[1])))
            layer.w1 = nn.Parameter(torch.randn(f, d) / math.sqrt(d))
            layer.w3 = nn.Parameter(torch.randn(f, d) / math.sqrt(d))
            layer.w2 = nn.Parameter(torch.randn(d, f) / math.sqrt(f) / math.sqrt(2 * config.n_layers))
            layer.wo.data /= math.sqrt(2 * config.n_layers)
            layer.register_buffer("amax", torch.ones(len(OBSERVED)))
            self.layers.append(layer)
        self.out_gain = nn.Parameter(torch.ones(d))
        self.w_out = nn.Parameter(torch.randn(config.vocab_size, d) / math.sqrt(d))
        cos, sin = quant.rope_table(config.head_dim, config.rope_period, config.rope_base)
        self.register_buffer("rope_cos", torch.from_numpy(cos).float() / (1 << quant.ROPE_BITS), persistent=False)
        self.register_buffer("rope_sin", torch.from_numpy(sin).float() / (1 << quant.ROPE_BITS), persistent=False)

    def blocks(self) -> list[FloatLayer]:
        """The decoder layers, in order (typed: an nn.ModuleList holds plain Modules)."""
        return cast("list[FloatLayer]", list(self.layers))

    def _observe(self, layer: FloatLayer, name: str, x: torch.Tensor) -> torch.Tensor:
        """Fake-quantize with the layer's running scale for ``name``, updating it while training."""
        i = OBSERVED.index(name)
        if self.training:
            with torch.no_grad():
                current = x.detach().abs().amax().clamp_min(1e-6)
                layer.amax[i] = torch.lerp(layer.amax[i], current, self.momentum)
        return fake_quant(x, layer.amax[i] / quant.QMAX, -quant.QMAX, quant.QMAX)

    def _rope(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        idx = positions % self.config.rope_period
        cos, sin = self.rope_cos[idx][:, None, :], self.rope_sin[idx][:, None, :]
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (batch, time, vocab) in nats for tokens (batch, time) starting at position 0."""
        c = self.config
        b, t = tokens.shape
        positions = torch.arange(t, device=tokens.device)
        dist = positions[:, None] - positions[None, :]
        mask = (dist >= 0) & (dist < c.window)
        h = self.embed(tokens)
        for layer in self.blocks():
            x = rms_quant(h)

            def proj(w: torch.Tensor, gain: torch.Tensor, inp: torch.Tensor = x) -> torch.Tensor:
                return inp @ fake_quant_weight(w * gain[None, :]).T

            q = self._observe(layer, "q", proj(layer.wq, layer.attn_gain)).view(b, t, c.n_heads, c.head_dim)
            k = self._observe(layer, "k", proj(layer.wk, layer.attn_gain)).view(b, t, c.n_heads, c.head_dim)
            v = self._observe(layer, "v", proj(layer.wv, layer.attn_gain)).view(b, t, c.n_heads, c.head_dim)
            q, k = self._rope(q, positions).transpose(1, 2), self._rope(k, positions).transpose(1, 2)
            att = F.scaled_dot_product_attention(q, k, v.transpose(1, 2), attn_mask=mask)
            o = self._observe(layer, "o", att.transpose(1, 2).reshape(b, t, c.d_model))
            h = h + o @ fake_quant_weight(layer.wo).T
            x = rms_quant(h)
            g = fake_quant(
                proj(layer.w1, layer.ffn_gain, x), 1.0 / quant.SILU_SCALE, -quant.SILU_RANGE, quant.SILU_RANGE - 1
            )
            u = self._observe(layer, "u", proj(layer.w3, layer.ffn_gain, x))
            hidden = self._observe(layer, "h", F.silu(g) * u)
            h = h + hidden @ fake_quant_weight(layer.w2).T
        logits = rms_quant(h) @ fake_quant_weight(self.w_out * self.out_gain[None, :]).T
        return logits
