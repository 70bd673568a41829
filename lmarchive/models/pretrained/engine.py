"""The exact engine of an imported Llama-family model (SmolLM2-135M): integer tables on any CPU.

The architecture is Llama's: RMSNorm with gains, rotary positions, grouped-query attention,
SwiGLU, an output layer tied to the embedding.  The arithmetic is integer (see :mod:`.fixed`):

* weights int8, one scale per output row (mantissa per row, one exponent per matrix);
* the residual stream int64 on the fixed grid 2**-RESIDUAL_BITS;
* every matrix product's input int8 with a scale per row, from the row's largest value (dynamic:
  a pretrained model's activations have outliers that no fixed grid suits); keys and values int8
  with a scale per position and head, so the cache holds integers;
* RMSNorm by an exact integer square root; rotary embedding, softmax, SiLU and the output
  frequencies by tables stored in the model file (built at conversion), never a float function.

Matrix products multiply integer-valued float32 arrays with partial sums below 2**24, exact in any
order; attention (scores, softmax, the weighted sum of values, whose weights carry the values'
scales) runs in int32/int64 in a compiled loop (:mod:`.kernels`).  One :meth:`ExactLlama.forward`
serves the encoder (a whole window at once) and the decoder (one position per call): the same
integers either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lmarchive.models.pretrained import fixed, kernels
from lmarchive.models.pretrained.config import LlamaConfig
from lmarchive.models.pretrained.fixed import QMAX, Scale

RESIDUAL_BITS = 16
"""The residual stream's grid (its values reach a few thousand at most, far from int64's range)."""
GAIN_BITS = 12
"""RMSNorm gains are integers on the grid 2**-GAIN_BITS."""
ROPE_BITS = 14
ATT_STEPS = 64
"""Attention exp table entries per nat of score gap."""
ATT_EXP_BITS = 15
SILU_BITS = 8
SILU_RANGE = 16 << SILU_BITS
"""The SiLU table covers gate values in [-16, 16): beyond, SiLU is x (above) or 0 (below) to 2**-19."""
LOGIT_STEPS = 64
LOGIT_EXP_BITS = 24
FREQ_TOTAL = 1 << 28
_PAIR = QMAX * QMAX
_U16 = (1 << 15) - 1


@dataclass
class Cache:
    """Keys and values of every stream of a batch so far (one window each), with their scales."""

    keys: list[np.ndarray]
    """Per layer (batch, kv_heads, window, head_dim) int8."""
    key_scale: list[Scale]
    """Per layer (batch, kv_heads, window) each."""
    values: list[np.ndarray]
    value_scale: list[Scale]
    position: int = 0


class ExactLlama:
    """The integers of one model, and its forward pass over a batch of streams in lock-step."""

    def __init__(self, config: LlamaConfig, tensors: Mapping[str, np.ndarray]) -> None:
        self.config = config
        t = tensors
        self.embed = np.ascontiguousarray(t["embed"], dtype=np.int64)
        self.embed_scale = t["embed_scale"].astype(np.int64), int(t["embed_exp"][0])
        self.out_t = np.ascontiguousarray(t["embed"].T, dtype=np.float32)
        self.layers = []
        for i in range(config.n_layers):
            p = f"layers.{i}."
            layer: dict[str, Any] = {
                "attn_gain": t[p + "attn_gain"].astype(np.int64),
                "ffn_gain": t[p + "ffn_gain"].astype(np.int64),
            }
            for name in ("wq", "wk", "wv", "wo", "w1", "w3", "w2"):
                layer[name] = np.ascontiguousarray(t[p + name].T, dtype=np.float32)
                layer[name + "_scale"] = t[p + name + "_scale"].astype(np.int64)
                layer[name + "_exp"] = int(t[p + name + "_exp"][0])
            self.layers.append(layer)
        self.out_gain = t["out_gain"].astype(np.int64)
        self.rope_cos = t["rope_cos"].astype(np.int64)
        self.rope_sin = t["rope_sin"].astype(np.int64)
        self.att_exp = t["att_exp"].astype(np.int64)
        self.silu = t["silu"].astype(np.int64)
        self.logit_exp = t["logit_exp"].astype(np.int64)
        # Scores over sqrt(head_dim), in table steps: both powers of two, so one shift.
        self.score_exp = ATT_STEPS.bit_length() - 1 - (config.head_dim.bit_length() - 1) // 2
        if 1 << (2 * ((config.head_dim.bit_length() - 1) // 2)) != config.head_dim:
            raise ValueError("head_dim must be a power of four (its square root a power of two)")

    def new_cache(self, n: int) -> Cache:
        c = self.config
        shape = (n, c.n_kv_heads, c.window, c.head_dim)

        def scale() -> Scale:
            return np.zeros(shape[:3], dtype=np.int64), np.full(shape[:3], -(1 << 20), dtype=np.int64)

        return Cache(
            [np.zeros(shape, dtype=np.int8) for _ in range(c.n_layers)],
            [scale() for _ in range(c.n_layers)],
            [np.zeros(shape, dtype=np.int8) for _ in range(c.n_layers)],
            [scale() for _ in range(c.n_layers)],
        )

    # -- pieces --------------------------------------------------------------------------------
    def _norm(self, h: np.ndarray, gain: np.ndarray) -> tuple[np.ndarray, Scale]:
        """RMSNorm with its gain, as int8 rows and their scales."""
        k = np.maximum(fixed.bit_length(np.abs(h).max(axis=-1)) - 26, 0)
        hs = np.right_shift(h, k[..., None])
        rms = np.maximum(fixed.isqrt((hs * hs).sum(axis=-1) // h.shape[-1]), 1)
        q, step = fixed.quantize_rows(h * gain)
        return q.astype(np.float32), fixed.ratio(step, rms, -(GAIN_BITS + k))

    def _project(self, layer: dict[str, Any], name: str, x: np.ndarray, scale: Scale) -> tuple[np.ndarray, Scale]:
        """x @ W.T as int64 rows times the weights' per-output mantissas; the row scale carries the rest."""
        z = fixed.int_matmul(x, layer[name], _PAIR) * layer[name + "_scale"]
        return z, (scale[0], scale[1] + layer[name + "_exp"])

    def _to_residual(self, z: np.ndarray, scale: Scale) -> np.ndarray:
        return fixed.shift_round(z * scale[0][..., None], -(scale[1][..., None] + RESIDUAL_BITS))

    def _rope_heads(self, z: np.ndarray, scale: Scale, heads: int, positions: np.ndarray) -> tuple[np.ndarray, Scale]:
        """Rotate each head's pairs (i, i + half) by the tables, then int8 per (row, head)."""
        b, n, _ = z.shape
        hd = self.config.head_dim
        half = hd // 2
        x = z.reshape(b, n, heads, hd)
        cos = self.rope_cos[positions][None, :, None, :]
        sin = self.rope_sin[positions][None, :, None, :]
        x1, x2 = x[..., :half], x[..., half:]
        rotated = np.concatenate(
            [fixed.shift_round(x1 * cos - x2 * sin, ROPE_BITS), fixed.shift_round(x1 * sin + x2 * cos, ROPE_BITS)],
            axis=-1,
        )
        q, step = fixed.quantize_rows(rotated)
        head_scale = fixed.mul(fixed.normalize(step, 0), (scale[0][..., None], scale[1][..., None]))
        return q.astype(np.int8), head_scale  # (b, n, heads, hd), scales (b, n, heads)

    def _attention(self, layer: dict[str, Any], index: int, x: np.ndarray, scale: Scale, cache: Cache) -> np.ndarray:
        c = self.config
        b, n, _ = x.shape
        p0 = cache.position
        positions = np.arange(p0, p0 + n)
        q, qs = self._rope_heads(*self._project(layer, "wq", x, scale), c.n_heads, positions)
        k, ks = self._rope_heads(*self._project(layer, "wk", x, scale), c.n_kv_heads, positions)
        zv, vscale = self._project(layer, "wv", x, scale)
        v, vstep = fixed.quantize_rows(zv.reshape(b, n, c.n_kv_heads, c.head_dim))
        vs = fixed.mul(fixed.normalize(vstep, 0), (vscale[0][..., None], vscale[1][..., None]))
        # The new positions join the cache; queries then see slots 0 .. their own position.
        cache.keys[index][:, :, p0 : p0 + n] = k.transpose(0, 2, 1, 3)
        cache.values[index][:, :, p0 : p0 + n] = v.transpose(0, 2, 1, 3)
        for store, new in ((cache.key_scale[index], ks), (cache.value_scale[index], vs)):
            store[0][:, :, p0 : p0 + n] = new[0].transpose(0, 2, 1)
            store[1][:, :, p0 : p0 + n] = new[1].transpose(0, 2, 1)
        mixed = np.empty((b, n, c.n_heads, c.head_dim), dtype=np.int64)
        head_exp = np.empty((b, n, c.n_heads), dtype=np.int64)
        kernels.attend(
            np.ascontiguousarray(q.transpose(0, 2, 1, 3)),
            np.ascontiguousarray(qs[0].transpose(0, 2, 1)),
            np.ascontiguousarray(qs[1].transpose(0, 2, 1)),
            cache.keys[index],
            *cache.key_scale[index],
            cache.values[index],
            *cache.value_scale[index],
            p0,
            self.att_exp,
            self.score_exp,
            mixed,
            head_exp,
        )
        row_exp = head_exp.max(axis=-1)
        aligned = fixed.shift_round(mixed, (row_exp[..., None] - head_exp)[..., None]).reshape(b, n, c.d_model)
        out, step = fixed.quantize_rows(aligned)
        zo, so = self._project(layer, "wo", out.astype(np.float32), fixed.normalize(step, row_exp))
        return self._to_residual(zo, so)

    def _ffn(self, layer: dict[str, Any], x: np.ndarray, scale: Scale) -> np.ndarray:
        zg, sg = self._project(layer, "w1", x, scale)
        zu, su = self._project(layer, "w3", x, scale)
        g = fixed.shift_round(zg * sg[0][..., None], -(sg[1][..., None] + SILU_BITS))
        table = self.silu[np.clip(g + SILU_RANGE, 0, 2 * SILU_RANGE - 1)]
        act = np.where(g >= SILU_RANGE, g, np.where(g < -SILU_RANGE, 0, table))
        u, ustep = fixed.quantize_rows(zu, _U16)
        hu, hstep = fixed.quantize_rows(act * u)
        hscale = fixed.mul(fixed.mul(fixed.normalize(hstep, -SILU_BITS), fixed.normalize(ustep, 0)), su)
        zd, sd = self._project(layer, "w2", hu.astype(np.float32), hscale)
        return self._to_residual(zd, sd)

    # -- the model -----------------------------------------------------------------------------
    def forward(self, tokens: np.ndarray, cache: Cache) -> tuple[np.ndarray, Scale]:
        """The final normed rows (int8 values, float32) and their scales for ``tokens`` (b, n), the
        next ``n`` positions of every stream of ``cache``; advances the cache by ``n``."""
        em, ee = self.embed_scale
        h = fixed.shift_round(self.embed[tokens] * em[tokens][..., None], -(ee + RESIDUAL_BITS))
        for index, layer in enumerate(self.layers):
            h = h + self._attention(layer, index, *self._norm(h, layer["attn_gain"]), cache)
            h = h + self._ffn(layer, *self._norm(h, layer["ffn_gain"]))
        cache.position += tokens.shape[1]
        return self._norm(h, self.out_gain)

    def frequencies(self, x: np.ndarray, scale: Scale) -> np.ndarray:
        """Integer next-token frequencies (rows, vocab) for final rows ``x`` (rows, d_model): every
        one at least 1, each row summing to exactly FREQ_TOTAL."""
        em, ee = self.embed_scale
        acc = fixed.int_matmul(x, self.out_t, _PAIR)
        out = np.empty(acc.shape, dtype=np.int64)
        steps = LOGIT_STEPS.bit_length() - 1
        kernels.frequencies(acc, em, scale[0], scale[1] + ee + steps, self.logit_exp, FREQ_TOTAL, out)
        return out
