"""The exact integer transformer: frequency tables that are bit-identical on every device.

Every value between matrix products is an integer tensor (int64) and every matrix product
multiplies integer-valued float32 tensors whose partial sums provably stay below 2**24, where
float32 addition is exact in any order, on any device and code path (checked in
:func:`exact_matmul`).  Nonlinear functions are lookup tables shipped in the model file.  So the
tables depend only on the model file and the tokens, never on the hardware, thread count,
batch composition or whether positions are computed one at a time or many at once.

One forward function serves both modes: it takes ``n`` new tokens per stream and a cache of
the previous ``window`` positions.  The decoder calls it with ``n = 1``; the encoder with whole
blocks (the parallel pass).  Attention runs over a ring buffer of keys masked by absolute
position, so both modes see exactly the same keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from lmarchive.models.lm import quant
from lmarchive.models.lm.config import LMConfig

_I64 = torch.int64
_F32 = torch.float32


def exact_matmul(x: torch.Tensor, w: torch.Tensor, bound: int) -> torch.Tensor:
    """``x @ w.T`` for integer-valued float32 tensors, exactly, as int64.

    ``bound`` is the largest absolute value of any product x_i * w_i; the inner dimension is split
    so that every partial sum stays below 2**24, and the pieces are added in int64.
    """
    if not 0 < bound < quant.MATMUL_EXACT_LIMIT:
        raise ValueError(f"products bounded by {bound} cannot be summed exactly in float32")
    inner = x.shape[-1]
    step = (quant.MATMUL_EXACT_LIMIT - 1) // bound
    if step >= inner:
        return torch.matmul(x, w.T).to(_I64)
    out = torch.zeros((*x.shape[:-1], w.shape[0]), dtype=_I64, device=x.device)
    for start in range(0, inner, step):
        out += torch.matmul(x[..., start : start + step], w[:, start : start + step].T).to(_I64)
    return out


def _exact_matmul_settings() -> None:
    """Refuse reduced-precision float32 matmul (TF32 on CUDA, bf16 on some CPUs), which would
    round the integer-valued operands; set on every forward, as other code may change it."""
    torch.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_tf32 = False


def requant(acc: torch.Tensor, mult: torch.Tensor, shift: torch.Tensor, low: int, high: int) -> torch.Tensor:
    """round(acc * mult / 2**shift), clamped to [low, high]; int64 throughout."""
    half = torch.bitwise_left_shift(torch.ones_like(shift), shift - 1)
    return torch.clamp(torch.bitwise_right_shift(acc * mult + half, shift), low, high)


def isqrt(n: torch.Tensor) -> torch.Tensor:
    """floor(sqrt(n)) for int64 0 <= n < 2**62, exact: a float estimate corrected in integers.

    (The engine's arguments stay below 2**56; larger n could overflow the squares.)
    """
    r = torch.sqrt(n.to(torch.float64)).to(_I64)
    for _ in range(2):
        r = torch.where(r * r > n, r - 1, r)
        r = torch.where((r + 1) * (r + 1) <= n, r + 1, r)
    return r


class ExactTransformer:
    """Integer weights, multipliers and tables of one model, on one device."""

    def __init__(
        self, config: LMConfig, tensors: Mapping[str, np.ndarray | torch.Tensor], device: str | torch.device = "cpu"
    ) -> None:
        config.check()
        self.config = config
        self.device = torch.device(device)

        def get(name: str, dtype: torch.dtype = _I64) -> torch.Tensor:
            return torch.as_tensor(tensors[name]).to(device=self.device, dtype=dtype)

        self.embed = get("embed")
        self.layers = []
        for i in range(config.n_layers):
            p = f"layers.{i}."
            layer = {k: get(p + k, _F32) for k in ("wq", "wk", "wv", "wo", "w1", "w3", "w2")}
            for k in ("q", "k", "v", "o", "g", "u", "d"):
                layer[k + "_mult"] = get(p + k + "_mult")
                layer[k + "_shift"] = get(p + k + "_shift")
            for k in ("attn", "h"):
                layer[k + "_mult"] = get(p + k + "_mult")
                layer[k + "_shift"] = get(p + k + "_shift")
            mult = int(tensors[p + "score_mult"].reshape(-1)[0])
            limit = quant.score_limit(mult, i)
            layer["score_mult32"] = torch.tensor(mult, dtype=torch.int32, device=self.device)
            layer["score_limit"] = torch.tensor(limit, dtype=torch.int32, device=self.device)
            self.layers.append(layer)
        self.w_out = get("w_out", _F32)
        self.out_mult, self.out_shift = get("out_mult"), get("out_shift")
        self.rope_cos, self.rope_sin = get("rope_cos"), get("rope_sin")
        self.exp_table = get("exp_table", torch.int32)
        quant.check_exp_table(self.exp_table)
        self.logit_table, self.silu_table = get("logit_exp_table"), get("silu_table")

    def new_cache(self, n: int) -> Cache:
        c = self.config
        shape = (n, c.n_heads, c.window, c.head_dim)
        keys = [torch.zeros(shape, dtype=_F32, device=self.device) for _ in range(c.n_layers)]
        values = [torch.zeros(shape, dtype=_F32, device=self.device) for _ in range(c.n_layers)]
        return Cache(keys, values, torch.full((c.window,), -1, dtype=_I64, device=self.device), 0)

    # -- pieces -------------------------------------------------------------------------
    def _norm(self, h: torch.Tensor) -> torch.Tensor:
        """RMSNorm to int8 on the grid 1/NORM_SCALE (the gain is folded into the next weights)."""
        ms = (h * h).sum(-1, keepdim=True) // h.shape[-1]
        rms = isqrt(ms + 1)
        q = torch.div(2 * quant.NORM_SCALE * h + rms, 2 * rms, rounding_mode="floor")
        return torch.clamp(q, -quant.QMAX, quant.QMAX)

    def _rope(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Rotate pairs (i, i + head_dim/2) by the tables at ``positions`` modulo the period."""
        half = x.shape[-1] // 2
        idx = positions % self.config.rope_period
        cos = self.rope_cos[idx][None, :, None, :]  # (1, n, 1, half)
        sin = self.rope_sin[idx][None, :, None, :]
        x1, x2 = x[..., :half], x[..., half:]
        rnd = 1 << (quant.ROPE_BITS - 1)
        y1 = (x1 * cos - x2 * sin + rnd) >> quant.ROPE_BITS
        y2 = (x1 * sin + x2 * cos + rnd) >> quant.ROPE_BITS
        return torch.cat([y1, y2], dim=-1)

    def _attention(
        self, layer: dict[str, torch.Tensor], x: torch.Tensor, cache: Cache, index: int, rows: slice | torch.Tensor
    ) -> torch.Tensor:
        c = self.config
        b, n, _ = x.shape
        xf = x.to(_F32)
        bound = quant.QMAX * quant.QMAX
        positions = cache.position + torch.arange(n, device=self.device)

        def project(name: str) -> torch.Tensor:
            acc = exact_matmul(xf, layer["w" + name], bound)
            q = requant(acc, layer[name + "_mult"], layer[name + "_shift"], -quant.QMAX, quant.QMAX)
            return q.view(b, n, c.n_heads, c.head_dim)

        q = self._rope(project("q"), positions).transpose(1, 2).to(_F32)  # (b, H, n, hd)
        k = self._rope(project("k"), positions).transpose(1, 2).to(_F32)
        v = project("v").transpose(1, 2).to(_F32)
        ring_k, ring_v = cache.keys[index][rows], cache.values[index][rows]  # views for a slice
        if n == 1:  # decoding: the new key replaces the one that just left the window
            slot = cache.position % c.window
            ring_k[:, :, slot] = k[:, :, 0]
            ring_v[:, :, slot] = v[:, :, 0]
            keys, values = ring_k, ring_v
            key_pos = cache.slot_position.clone()
            key_pos[slot] = cache.position
        else:  # a block: the ring as it was, then the block's own keys
            keys, values = torch.cat([ring_k, k], dim=2), torch.cat([ring_v, v], dim=2)
            key_pos = torch.cat([cache.slot_position, positions])
        valid = (key_pos[None, :] <= positions[:, None]) & (key_pos[None, :] > positions[:, None] - c.window)
        valid &= key_pos[None, :] >= 0
        mixed = self._mix(layer, q, keys, values, valid)
        out = requant(mixed, layer["attn_mult"], layer["attn_shift"], -quant.QMAX, quant.QMAX)
        out = out.transpose(1, 2).reshape(b, n, c.d_model)
        if n > 1:  # keep the block's newest keys in the ring, each at slot position % window
            keep = min(n, c.window)
            slots = positions[-keep:] % c.window
            ring_k[:, :, slots] = k[:, :, -keep:]
            ring_v[:, :, slots] = v[:, :, -keep:]
        if not isinstance(rows, slice):  # a gathered copy: put it back
            cache.keys[index][rows] = ring_k
            cache.values[index][rows] = ring_v
        acc = exact_matmul(out.to(_F32), layer["wo"], bound)
        return requant(acc, layer["o_mult"], layer["o_shift"], -quant.RESIDUAL_LIMIT, quant.RESIDUAL_LIMIT)

    def _mix(
        self,
        layer: dict[str, torch.Tensor],
        q: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        valid: torch.Tensor,
    ) -> torch.Tensor:
        """Integer softmax attention in int32: exp table, weights normalized to 2**PROB_BITS.

        Scores are exact (see LMConfig.check); the gap to the row's best score becomes a table
        index by ``(gap * score_mult) >> SCORE_SHIFT``, with the gap clamped first so that the
        product fits int32.  Masked slots get the table's last entry, which is 0.
        """
        scores = torch.matmul(q, keys.transpose(2, 3)).to(torch.int32).masked_fill(~valid, -(1 << 30))
        gap = torch.clamp(scores.amax(-1, keepdim=True) - scores, max=layer["score_limit"])
        steps = torch.clamp(
            (gap * layer["score_mult32"] + (1 << (quant.SCORE_SHIFT - 1))) >> quant.SCORE_SHIFT,
            max=quant.EXP_TABLE_SIZE - 1,
        )
        weights = self.exp_table[steps]
        total = weights.sum(-1, keepdim=True, dtype=torch.int32)
        probs = torch.div((weights << quant.PROB_BITS) + (total >> 1), total, rounding_mode="floor")
        return torch.matmul(probs.to(_F32), values).to(_I64)  # sum(probs) <= 2**14 + slots: exact

    def _ffn(self, layer: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        xf = x.to(_F32)
        bound = quant.QMAX * quant.QMAX
        g = requant(
            exact_matmul(xf, layer["w1"], bound),
            layer["g_mult"],
            layer["g_shift"],
            -quant.SILU_RANGE,
            quant.SILU_RANGE - 1,
        )
        u = requant(exact_matmul(xf, layer["w3"], bound), layer["u_mult"], layer["u_shift"], -quant.QMAX, quant.QMAX)
        h = requant(
            self.silu_table[g + quant.SILU_RANGE] * u, layer["h_mult"], layer["h_shift"], -quant.QMAX, quant.QMAX
        )
        acc = exact_matmul(h.to(_F32), layer["w2"], bound)
        return requant(acc, layer["d_mult"], layer["d_shift"], -quant.RESIDUAL_LIMIT, quant.RESIDUAL_LIMIT)

    def _frequencies(self, x: torch.Tensor) -> torch.Tensor:
        """Integer logits to integer frequencies: each >= 1, summing to exactly FREQ_TOTAL."""
        v = self.config.vocab_size
        acc = exact_matmul(x.to(_F32), self.w_out, quant.QMAX * quant.QMAX)
        logits = requant(acc, self.out_mult, self.out_shift, -(1 << 30), 1 << 30)
        gap = logits.max(dim=-1, keepdim=True).values - logits
        e = self.logit_table[torch.clamp(gap, max=quant.LOGIT_TABLE_SIZE - 1)]
        freq = 1 + torch.div(e * (quant.FREQ_TOTAL - v), e.sum(-1, keepdim=True), rounding_mode="floor")
        spare = quant.FREQ_TOTAL - freq.sum(-1, keepdim=True)
        # The remainder goes to the most likely symbol (the lowest index among equals).
        first_top = ((gap == 0).to(_I64) * (v - torch.arange(v, device=self.device))).argmax(-1, keepdim=True)
        return freq.scatter_add(-1, first_top, spare)

    # -- the forward pass ---------------------------------------------------------------
    def forward(self, tokens: torch.Tensor, cache: Cache, rows: slice | torch.Tensor) -> torch.Tensor:
        """Tables for ``n`` new positions: tokens (b, n) of the streams ``rows`` of ``cache``.

        Row ``i`` of the result predicts the token after ``tokens[:, i]``.  Advances the cache
        position by ``n`` (every stream of a cache moves in lock-step).
        """
        _exact_matmul_settings()
        h = self.embed[tokens]
        for index, layer in enumerate(self.layers):
            h = torch.clamp(
                h + self._attention(layer, self._norm(h), cache, index, rows),
                -quant.RESIDUAL_LIMIT,
                quant.RESIDUAL_LIMIT,
            )
            h = torch.clamp(h + self._ffn(layer, self._norm(h)), -quant.RESIDUAL_LIMIT, quant.RESIDUAL_LIMIT)
        n = tokens.shape[1]
        keep = min(n, self.config.window)
        positions = cache.position + torch.arange(n - keep, n, device=self.device)
        cache.slot_position[positions % self.config.window] = positions
        cache.position += n
        return self._frequencies(self._norm(h))


@dataclass
class Cache:
    """Keys and values of the last ``window`` positions of every stream (a ring buffer)."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    slot_position: torch.Tensor
    position: int
