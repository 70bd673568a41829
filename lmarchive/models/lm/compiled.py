"""The exact transformer's one-token step, compiled by numba: the same integers as :mod:`.exact`.

Decoding feeds the model one byte at a time; in torch each step is hundreds of small tensor
operations (several milliseconds for the shipped model), here it is one compiled call per stream
(tens of microseconds), run without the GIL so streams spread over threads.

The arithmetic is :class:`~lmarchive.models.lm.exact.ExactTransformer`'s, operation for operation:
integer requantization, RMSNorm, rotary tables, integer softmax and output frequencies in int64;
matrix products as float32 sums of integer products, which are exact because every partial sum
stays below 2**24 (the bounds the torch engine checks, see ``exact_matmul``), so they do not depend
on summation order, vector width or CPU.  tests/test_lm_compiled.py compares the two engines'
tables position by position.

Weights are stored transposed (inputs x outputs), so each product is a sequence of vector
multiply-adds over the outputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple, TypeAlias

import numpy as np

from lmarchive.models import jit  # noqa: F401  (sets numba's cache folder before numba loads)
from lmarchive.models.lm import quant

import numba  # isort: skip

from lmarchive.models import jit_hooks  # noqa: F401  (our cache locator and compile notices)

if TYPE_CHECKING:
    from lmarchive.models.lm.config import LMConfig

Int: TypeAlias = int | np.int64
"""An integer scalar of the kernels: numba compiles a Python int and a numpy int64 alike, to int64."""
# Rows of the per-layer multiplier arrays (each row: mult, shift).
MD_Q, MD_K, MD_V, MD_ATTN, MD_O, MD_D = range(6)
"""Requantizations of model-width vectors."""
MF_G, MF_U, MF_H = range(3)
"""Requantizations of FFN-width vectors."""
_MASKED = -(1 << 30)


class LMWeights(NamedTuple):
    """One model's integers as the compiled step reads them (built by :func:`pack`)."""

    embed: np.ndarray
    """(vocab, d) int64; its last row is the start token's."""
    wq: np.ndarray
    """Block matrices, per layer and transposed (layer, inputs, outputs), int8 values in float32."""
    wk: np.ndarray
    wv: np.ndarray
    wo: np.ndarray
    w1: np.ndarray
    w3: np.ndarray
    w2: np.ndarray
    md: np.ndarray
    """Requantizations of model-width vectors (layer, MD_*, mult/shift, d) int64."""
    mf: np.ndarray
    """Requantizations of FFN-width vectors (layer, MF_*, mult/shift, d_ffn) int64."""
    score: np.ndarray
    """Per layer: the scores' multiplier and the gap limit (layer, 2) int64."""
    w_out: np.ndarray
    """The output layer, transposed (d, vocab), int8 values in float32."""
    out_mult: np.ndarray
    """The logits' (mult, shift) per token (2, vocab) int64."""
    cos: np.ndarray
    sin: np.ndarray
    exp_table: np.ndarray
    logit_table: np.ndarray
    silu_table: np.ndarray
    config: np.ndarray
    """n_heads, window, rope_period (int64)."""


class LMState(NamedTuple):
    """Key/value rings of a group of streams (indexed by stream first)."""

    keys: np.ndarray
    """(stream, layer, head, head_dim, window) float32, transposed for the score products."""
    values: np.ndarray
    """(stream, layer, head, window, head_dim) float32."""
    slot_pos: np.ndarray
    """Absolute position held by each ring slot (stream, window) int64; -1: empty."""
    position: np.ndarray
    """Next position of each stream."""


class StepScratch(NamedTuple):
    """Working vectors of one step, allocated once per call of a loop rather than per token."""

    h: np.ndarray
    """The residual (int64)."""
    x: np.ndarray
    """The normed input, int8 values (float32)."""
    acc32: np.ndarray
    """Product accumulators: float32 partial sums, then their int64 total."""
    acc64: np.ndarray
    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    att: np.ndarray
    """The attention output, int8 values (float32)."""
    blk: np.ndarray
    """A block's output (int64)."""
    g: np.ndarray
    """The gate projection (int64)."""
    u: np.ndarray
    """The up projection (int64)."""
    hu: np.ndarray
    """gate x up, int8 values (float32)."""
    scores: np.ndarray
    """One head's scores over the ring (float32)."""
    weights: np.ndarray
    """One head's softmax weights (int64)."""
    mixed: np.ndarray
    """One head's mixed values (float32)."""
    logits: np.ndarray


class CompiledLM:
    """One model's integers laid out for the compiled step."""

    def __init__(self, config: LMConfig, tensors: Mapping[str, object]) -> None:
        config.check()
        self.config = config
        self.weights = pack(config, tensors)

    def new_state(self, n: int) -> LMState:
        """Key/value rings of ``n`` streams, each before its first token."""
        c = self.config
        return LMState(
            keys=np.zeros((n, c.n_layers, c.n_heads, c.head_dim, c.window), dtype=np.float32),
            values=np.zeros((n, c.n_layers, c.n_heads, c.window, c.head_dim), dtype=np.float32),
            slot_pos=np.full((n, c.window), -1, dtype=np.int64),
            position=np.zeros(n, dtype=np.int64),
        )

    def tables(self, tokens: np.ndarray) -> np.ndarray:
        """Tables after each of ``tokens`` (one stream from its start, BOS first): (len, vocab)."""
        state = self.new_state(1)
        out = np.zeros((len(tokens), self.config.vocab_size), dtype=np.int64)
        run_tables(self.weights, state, 0, np.ascontiguousarray(tokens, dtype=np.int64), out)
        return out


def pack(config: LMConfig, tensors: Mapping[str, object]) -> LMWeights:
    """The compiled step's weights, from the integer tensors of a model directory."""

    def arr(name: str) -> np.ndarray:
        value = tensors[name]
        value = value.numpy() if hasattr(value, "numpy") else np.asarray(value)  # torch or numpy
        return np.asarray(value, dtype=np.int64)

    c = config
    layers = range(c.n_layers)

    def transposed(name: str) -> np.ndarray:
        return np.ascontiguousarray(np.stack([arr(f"layers.{i}.{name}").T for i in layers]), dtype=np.float32)

    def mults(names: tuple[str, ...], width: int) -> np.ndarray:
        out = np.zeros((c.n_layers, len(names), 2, width), dtype=np.int64)
        for i in layers:
            for r, name in enumerate(names):
                for col, part in enumerate(("_mult", "_shift")):
                    out[i, r, col] = np.broadcast_to(arr(f"layers.{i}.{name}{part}").reshape(-1), (width,))
        return out

    score = np.zeros((c.n_layers, 2), dtype=np.int64)
    for i in layers:
        mult = int(arr(f"layers.{i}.score_mult").reshape(-1)[0])
        score[i] = mult, quant.score_limit(mult, i)
    exp_table = arr("exp_table")
    quant.check_exp_table(exp_table)
    out_mult = np.stack([arr("out_mult").reshape(-1), arr("out_shift").reshape(-1)])
    return LMWeights(
        embed=np.ascontiguousarray(arr("embed")),
        wq=transposed("wq"),
        wk=transposed("wk"),
        wv=transposed("wv"),
        wo=transposed("wo"),
        w1=transposed("w1"),
        w3=transposed("w3"),
        w2=transposed("w2"),
        md=mults(("q", "k", "v", "attn", "o", "d"), c.d_model),
        mf=mults(("g", "u", "h"), c.d_ffn),
        score=score,
        w_out=np.ascontiguousarray(arr("w_out").T, dtype=np.float32),
        out_mult=np.ascontiguousarray(np.broadcast_to(out_mult, (2, c.vocab_size))),
        cos=np.ascontiguousarray(arr("rope_cos")),
        sin=np.ascontiguousarray(arr("rope_sin")),
        exp_table=exp_table,
        logit_table=arr("logit_exp_table"),
        silu_table=arr("silu_table"),
        config=np.array([c.n_heads, c.window, c.rope_period], dtype=np.int64),
    )


# -- the compiled step --------------------------------------------------------------------------


@numba.njit(inline="always", cache=True)
def _requant(acc: Int, mult: Int, shift: Int, low: Int, high: Int) -> Int:
    r = (acc * mult + (np.int64(1) << (shift - 1))) >> shift
    return min(max(r, low), high)


@numba.njit(inline="always", cache=True)
def _isqrt(n: int) -> Int:
    r = np.int64(np.sqrt(np.float64(n)))
    while r * r > n:
        r -= 1
    while (r + 1) * (r + 1) <= n:
        r += 1
    return r


@numba.njit(cache=True)
def _norm(h: np.ndarray, x: np.ndarray) -> None:
    """RMSNorm of the residual ``h`` (int64) to int8 values in ``x`` (float32)."""
    d = h.shape[0]
    ms = np.int64(0)
    for j in range(d):
        ms += h[j] * h[j]
    rms = _isqrt(ms // d + 1)
    for j in range(d):
        q = (2 * quant.NORM_SCALE * h[j] + rms) // (2 * rms)
        x[j] = min(max(q, -quant.QMAX), quant.QMAX)


_BLOCK = (quant.MATMUL_EXACT_LIMIT - 1) // (quant.QMAX * quant.QMAX)
"""Inputs summed in float32 before the partial sum moves to int64 (as ``exact_matmul`` splits)."""


@numba.njit(cache=True)
def _matvec(wt: np.ndarray, x: np.ndarray, acc: np.ndarray, out: np.ndarray) -> None:
    """out (int64) = x @ wt for int8-valued float32 operands, exactly: each float32 partial sum
    covers at most _BLOCK inputs, so it stays below 2**24 and does not depend on the order."""
    n_out = wt.shape[1]
    out[:n_out] = 0
    for start in range(0, wt.shape[0], _BLOCK):
        acc[:n_out] = 0
        for i in range(start, min(start + _BLOCK, wt.shape[0])):
            xi = x[i]
            if xi != 0:
                for o in range(n_out):
                    acc[o] += xi * wt[i, o]
        for o in range(n_out):
            out[o] += np.int64(acc[o])


@numba.njit(cache=True)
def _project(
    wt: np.ndarray, x: np.ndarray, sc: StepScratch, m: np.ndarray, out: np.ndarray, low: int, high: int
) -> None:
    """out = requant(x @ wt) with per-output (mult, shift) rows ``m`` (the sums in sc's accumulators)."""
    _matvec(wt, x, sc.acc32, sc.acc64)
    for o in range(out.shape[0]):
        out[o] = _requant(sc.acc64[o], m[0, o], m[1, o], low, high)


@numba.njit(cache=True)
def _rope(x: np.ndarray, heads: int, cos: np.ndarray, sin: np.ndarray, idx: int) -> None:
    hd = x.shape[0] // heads
    half = hd // 2
    rnd = np.int64(1) << (quant.ROPE_BITS - 1)
    for h in range(heads):
        for i in range(half):
            x1 = x[h * hd + i]
            x2 = x[h * hd + half + i]
            c = cos[idx, i]
            s = sin[idx, i]
            x[h * hd + i] = (x1 * c - x2 * s + rnd) >> quant.ROPE_BITS
            x[h * hd + half + i] = (x1 * s + x2 * c + rnd) >> quant.ROPE_BITS


@numba.njit(cache=True)
def scratch(w: LMWeights) -> StepScratch:
    """The step's working vectors for a model of these weights."""
    d, d_ffn = w.embed.shape[1], w.w3.shape[2]
    window, vocab = w.config[1], w.w_out.shape[1]
    widest = max(d, d_ffn, vocab)
    return StepScratch(
        np.zeros(d, dtype=np.int64),
        np.zeros(d, dtype=np.float32),
        np.zeros(widest, dtype=np.float32),
        np.zeros(widest, dtype=np.int64),
        np.zeros(d, dtype=np.int64),
        np.zeros(d, dtype=np.int64),
        np.zeros(d, dtype=np.int64),
        np.zeros(d, dtype=np.float32),
        np.zeros(d, dtype=np.int64),
        np.zeros(d_ffn, dtype=np.int64),
        np.zeros(d_ffn, dtype=np.int64),
        np.zeros(d_ffn, dtype=np.float32),
        np.zeros(window, dtype=np.float32),
        np.zeros(window, dtype=np.int64),
        np.zeros(d, dtype=np.float32),
        np.zeros(vocab, dtype=np.int64),
    )


@numba.njit(cache=True, nogil=True)
def step(w: LMWeights, st: LMState, s: int, token: Int, freq: np.ndarray, sc: StepScratch) -> None:
    """Feed ``token`` to stream ``s``; write the table for the next token into ``freq``."""
    embed, wq, wk, wv, wo, w1, w3, w2 = w.embed, w.wq, w.wk, w.wv, w.wo, w.w1, w.w3, w.w2
    md, mf, score, cos, sin = w.md, w.mf, w.score, w.cos, w.sin
    exp_t, logit_t, silu_t = w.exp_table, w.logit_table, w.silu_table
    keys, values, slot_pos, position = st.keys, st.values, st.slot_pos, st.position
    h, x, q, k, v, att, blk = sc.h, sc.x, sc.q, sc.k, sc.v, sc.att, sc.blk
    g, u, hu, scores, weights, mixed, logits = sc.g, sc.u, sc.hu, sc.scores, sc.weights, sc.mixed, sc.logits
    heads, window, period = w.config[0], w.config[1], w.config[2]
    d = embed.shape[1]
    hd = d // heads
    limit = quant.RESIDUAL_LIMIT
    qmax = quant.QMAX
    pos = position[s]
    slot = pos % window
    slot_pos[s, slot] = pos
    for j in range(d):
        h[j] = embed[token, j]
    for layer in range(wq.shape[0]):
        m = md[layer]
        # attention
        _norm(h, x)
        _project(wq[layer], x, sc, m[MD_Q], q, -qmax, qmax)
        _project(wk[layer], x, sc, m[MD_K], k, -qmax, qmax)
        _project(wv[layer], x, sc, m[MD_V], v, -qmax, qmax)
        _rope(q, heads, cos, sin, pos % period)
        _rope(k, heads, cos, sin, pos % period)
        kt = keys[s, layer]
        vt = values[s, layer]
        smult, slimit = score[layer, 0], score[layer, 1]
        for hh in range(heads):
            for j in range(hd):
                kt[hh, j, slot] = k[hh * hd + j]
                vt[hh, slot, j] = v[hh * hd + j]
            scores[:] = 0
            for j in range(hd):
                qj = np.float32(q[hh * hd + j])
                if qj != 0:
                    for t in range(window):
                        scores[t] += qj * kt[hh, j, t]
            best = np.int64(_MASKED)
            for t in range(window):
                p = slot_pos[s, t]
                if p >= 0 and p <= pos and p > pos - window:
                    weights[t] = np.int64(scores[t])
                else:
                    weights[t] = _MASKED
                best = max(best, weights[t])
            total = np.int64(0)
            for t in range(window):
                gap = min(best - weights[t], slimit)
                idx = min((gap * smult + (np.int64(1) << (quant.SCORE_SHIFT - 1))) >> quant.SCORE_SHIFT, 1023)
                weights[t] = exp_t[idx]
                total += weights[t]
            mixed[:hd] = 0
            for t in range(window):
                pt = np.float32(((weights[t] << quant.PROB_BITS) + (total >> 1)) // total)
                if pt != 0:
                    for j in range(hd):
                        mixed[j] += pt * vt[hh, t, j]
            for j in range(hd):
                o = hh * hd + j
                att[o] = _requant(np.int64(mixed[j]), m[MD_ATTN, 0, o], m[MD_ATTN, 1, o], -qmax, qmax)
        _project(wo[layer], att, sc, m[MD_O], blk, -limit, limit)
        for j in range(d):
            h[j] = min(max(h[j] + blk[j], -limit), limit)
        # feed-forward
        f = mf[layer]
        _norm(h, x)
        _project(w1[layer], x, sc, f[MF_G], g, -quant.SILU_RANGE, quant.SILU_RANGE - 1)
        _project(w3[layer], x, sc, f[MF_U], u, -qmax, qmax)
        for j in range(g.shape[0]):
            hu[j] = _requant(silu_t[g[j] + quant.SILU_RANGE] * u[j], f[MF_H, 0, j], f[MF_H, 1, j], -qmax, qmax)
        _project(w2[layer], hu, sc, m[MD_D], blk, -limit, limit)
        for j in range(d):
            h[j] = min(max(h[j] + blk[j], -limit), limit)
    # output frequencies
    _norm(h, x)
    _project(w.w_out, x, sc, w.out_mult, logits, -(1 << 30), 1 << 30)
    vocab = logits.shape[0]
    top = logits.max()
    total = np.int64(0)
    for i in range(vocab):
        freq[i] = logit_t[min(top - logits[i], quant.LOGIT_TABLE_SIZE - 1)]
        total += freq[i]
    spare = np.int64(quant.FREQ_TOTAL)
    first = -1
    for i in range(vocab):
        freq[i] = 1 + freq[i] * (quant.FREQ_TOTAL - vocab) // total
        spare -= freq[i]
        if first < 0 and logits[i] == top:
            first = i
    freq[first] += spare
    position[s] = pos + 1


@numba.njit(cache=True, nogil=True)
def step_streams(w: LMWeights, st: LMState, streams: np.ndarray, tokens: np.ndarray, out: np.ndarray) -> None:
    """Feed ``tokens[j]`` to stream ``streams[j]``; row j of ``out`` gets its next table."""
    sc = scratch(w)
    for j in range(streams.shape[0]):
        step(w, st, streams[j], tokens[j], out[j], sc)


@numba.njit(cache=True, nogil=True)
def run_tables(w: LMWeights, st: LMState, s: int, tokens: np.ndarray, out: np.ndarray) -> None:
    """Feed ``tokens`` to stream ``s`` one by one; row i of ``out`` is the table after token i."""
    sc = scratch(w)
    for i in range(tokens.shape[0]):
        step(w, st, s, tokens[i], out[i], sc)
