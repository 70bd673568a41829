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
order; everything between them (norms, rotation and requantization of heads, attention with its
softmax and the values' scales folded into the weights, the gated unit, the residual additions)
runs in compiled loops over rows (:mod:`.kernels`).  One :meth:`ExactLlama.forward`
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
PRODUCT_ROWS = 64
"""From this many positions per call (the encoder's block pass), attention sums by matrix products."""
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
        self.product_rows = PRODUCT_ROWS
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

    # -- pieces (activations are rows: batch * positions) ---------------------------------------
    def _norm(self, h: np.ndarray, gain: np.ndarray) -> tuple[np.ndarray, Scale]:
        """RMSNorm with its gain, as int8 rows (float32) and their scales."""
        rows = h.shape[0]
        q = np.empty(h.shape, dtype=np.float32)
        step, rms, k = (np.empty(rows, dtype=np.int64) for _ in range(3))
        kernels.norm_rows(h, gain, q, step, rms, k)
        return q, fixed.ratio(step, rms, -(GAIN_BITS + k))

    def _heads(
        self, layer: dict[str, Any], name: str, x: np.ndarray, scale: Scale, heads: int, n: int, p0: int, rotate: bool
    ) -> tuple[np.ndarray, Scale]:
        """A projection split into heads, each int8 per row with its scale (rows, heads); queries and
        keys first rotated by the tables (pairs i, i + half of each head)."""
        acc = fixed.exact_matmul(x, layer[name], _PAIR)
        q = np.empty((acc.shape[0], heads, self.config.head_dim), dtype=np.int8)
        step = np.empty((acc.shape[0], heads), dtype=np.int64)
        column = layer[name + "_scale"]
        kernels.heads_int8(acc, column, heads, n, p0, self.rope_cos, self.rope_sin, rotate, ROPE_BITS, q, step)
        row = (scale[0][:, None], scale[1][:, None] + layer[name + "_exp"])
        return q, fixed.mul(fixed.normalize(step, 0), row)

    def _add_projection(self, layer: dict[str, Any], name: str, x: np.ndarray, scale: Scale, h: np.ndarray) -> None:
        """h += x @ W.T, rounded onto the residual grid."""
        acc = fixed.exact_matmul(x, layer[name], _PAIR)
        e = scale[1] + layer[name + "_exp"]
        kernels.add_residual(h, acc, layer[name + "_scale"], scale[0], e, RESIDUAL_BITS)

    def _attention(self, layer: dict[str, Any], index: int, h: np.ndarray, b: int, cache: Cache) -> None:
        c = self.config
        n = h.shape[0] // b
        p0 = cache.position
        x, scale = self._norm(h, layer["attn_gain"])
        q, qs = self._heads(layer, "wq", x, scale, c.n_heads, n, p0, True)
        k, ks = self._heads(layer, "wk", x, scale, c.n_kv_heads, n, p0, True)
        v, vs = self._heads(layer, "wv", x, scale, c.n_kv_heads, n, p0, False)
        # The new positions join the cache; queries then see slots 0 .. their own position.
        kv = (b, n, c.n_kv_heads)
        cache.keys[index][:, :, p0 : p0 + n] = k.reshape(*kv, c.head_dim).transpose(0, 2, 1, 3)
        cache.values[index][:, :, p0 : p0 + n] = v.reshape(*kv, c.head_dim).transpose(0, 2, 1, 3)
        for store, new in ((cache.key_scale[index], ks), (cache.value_scale[index], vs)):
            store[0][:, :, p0 : p0 + n] = new[0].reshape(kv).transpose(0, 2, 1)
            store[1][:, :, p0 : p0 + n] = new[1].reshape(kv).transpose(0, 2, 1)
        mixed = np.empty((b, n, c.n_heads, c.head_dim), dtype=np.int64)
        head_exp = np.empty((b, n, c.n_heads), dtype=np.int64)
        queries = (
            np.ascontiguousarray(q.reshape(b, n, c.n_heads, c.head_dim).transpose(0, 2, 1, 3)),
            np.ascontiguousarray(qs[0].reshape(b, n, c.n_heads).transpose(0, 2, 1)),
            np.ascontiguousarray(qs[1].reshape(b, n, c.n_heads).transpose(0, 2, 1)),
        )
        if n >= self.product_rows:
            self._attend_by_products(index, queries, cache, mixed, head_exp)
        else:
            kernels.attend(
                *queries,
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
        rows = b * n
        out = np.empty((rows, c.d_model), dtype=np.float32)
        step, row_exp = np.empty(rows, dtype=np.int64), np.empty(rows, dtype=np.int64)
        heads = mixed.reshape(rows, c.n_heads, c.head_dim)
        kernels.align_heads(heads, head_exp.reshape(rows, c.n_heads), out, step, row_exp)
        self._add_projection(layer, "wo", out, fixed.normalize(step, row_exp), h)

    def _attend_by_products(
        self, index: int, queries: tuple[np.ndarray, np.ndarray, np.ndarray], cache: Cache, mixed: np.ndarray,
        head_exp: np.ndarray,
    ) -> None:  # fmt: skip
        """:func:`kernels.attend`'s integers for many positions at once, with its two sums as matrix
        products: the scores q.k in float32 (below 2**24, exact) and the weighted values in float64
        (below 2**53, exact), so the same integers in any order; the weights come from
        :func:`kernels.attention_weights`.  Per stream and key head, to bound the memory."""
        q, qm, qe = queries
        b, heads, n, _ = q.shape
        kv_heads = self.config.n_kv_heads
        group = heads // kv_heads
        p0 = cache.position
        end = p0 + n
        keys, (km, ke) = cache.keys[index], cache.key_scale[index]
        values, (vm, ve) = cache.values[index], cache.value_scale[index]
        weights = np.empty((group, n, end), dtype=np.float64)
        out_exp = np.empty((group, n), dtype=np.int64)
        for bi in range(b):
            for kv in range(kv_heads):
                heads_of = slice(kv * group, (kv + 1) * group)
                scores = np.matmul(q[bi, heads_of].astype(np.float32), keys[bi, kv, :end].T.astype(np.float32))
                kernels.attention_weights(
                    scores, qm[bi, heads_of], qe[bi, heads_of], km[bi, kv, :end], ke[bi, kv, :end],
                    vm[bi, kv, :end], ve[bi, kv, :end], p0, self.att_exp, self.score_exp, weights, out_exp,
                )  # fmt: skip
                mixed[bi, :, heads_of] = np.matmul(weights, values[bi, kv, :end].astype(np.float64)).transpose(1, 0, 2)
                head_exp[bi, :, heads_of] = out_exp.T

    def _ffn(self, layer: dict[str, Any], h: np.ndarray) -> None:
        x, scale = self._norm(h, layer["ffn_gain"])
        gate = fixed.exact_matmul(x, layer["w1"], _PAIR)
        up = fixed.exact_matmul(x, layer["w3"], _PAIR)
        hq = np.empty(gate.shape, dtype=np.float32)
        ustep, hstep = np.empty(gate.shape[0], dtype=np.int64), np.empty(gate.shape[0], dtype=np.int64)
        kernels.gated_unit(
            gate, layer["w1_scale"], scale[0], scale[1] + layer["w1_exp"], up, layer["w3_scale"], self.silu,
            SILU_BITS, SILU_RANGE, _U16, hq, ustep, hstep,
        )  # fmt: skip
        su = (scale[0], scale[1] + layer["w3_exp"])
        hscale = fixed.mul(fixed.mul(fixed.normalize(hstep, -SILU_BITS), fixed.normalize(ustep, 0)), su)
        self._add_projection(layer, "w2", hq, hscale, h)

    # -- the model -----------------------------------------------------------------------------
    def forward(self, tokens: np.ndarray, cache: Cache) -> tuple[np.ndarray, Scale]:
        """The final normed rows (int8 values, float32, (b, n, d_model)) and their scales (b, n) for
        ``tokens`` (b, n), the next ``n`` positions of every stream of ``cache``; advances the cache
        by ``n``."""
        b, n = tokens.shape
        em, ee = self.embed_scale
        flat = tokens.reshape(-1)
        h = fixed.shift_round(self.embed[flat] * em[flat][:, None], -(ee + RESIDUAL_BITS))
        for index, layer in enumerate(self.layers):
            self._attention(layer, index, h, b, cache)
            self._ffn(layer, h)
        cache.position += n
        x, (m, e) = self._norm(h, self.out_gain)
        return x.reshape(b, n, -1), (m.reshape(b, n), e.reshape(b, n))

    def frequencies(self, x: np.ndarray, scale: Scale) -> np.ndarray:
        """Integer next-token frequencies (rows, vocab) for final rows ``x`` (rows, d_model): every
        one at least 1, each row summing to exactly FREQ_TOTAL."""
        em, ee = self.embed_scale
        acc = fixed.exact_matmul(x, self.out_t, _PAIR)
        out = np.empty(acc.shape, dtype=np.int64)
        steps = LOGIT_STEPS.bit_length() - 1
        kernels.frequencies(acc, em, scale[0], scale[1] + ee + steps, self.logit_exp, FREQ_TOTAL, out)
        return out
