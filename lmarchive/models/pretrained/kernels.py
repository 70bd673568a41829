"""Compiled loops of the pretrained-model engine: everything between the matrix products.

Attention over the cache, RMSNorm, rotary embedding and the int8 requantization of heads, the
gated unit, adding a projection to the residual stream, and the output frequencies: integer work
over rows (tokens), where numpy would make a dozen passes over int64 arrays and, at the decoder's
few rows, spend its time dispatching them.  Each parallel iteration (``prange``) writes only its
own outputs.  The arithmetic is integer, or float where it is exact (integers below 2**24 in
float32, below 2**53 in float64, so sums do not depend on their order), and the two divisions
(requantization, normalizing weights) are float estimates corrected in integers; so the results
do not depend on the thread count, the order, or the CPU.  The definitions of the integers are
those documented in :mod:`.engine`.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np

from lmarchive.models import jit  # noqa: F401  (sets numba's cache folder before numba loads)
from lmarchive.models.pretrained.fixed import QMAX

import numba  # isort: skip

from lmarchive.models import jit_hooks  # noqa: F401  (our cache locator and compile notices)

Int: TypeAlias = int | np.int64
"""An integer scalar of the kernels (numba compiles both to int64)."""
PROB_BITS = 14
GAP_LIMIT = 1 << 40
"""Score and logit gaps are clamped here first (far past every table's end), so products fit int64."""


@numba.njit(inline="always", cache=True)
def _shift_round(x: Int, shift: Int) -> Int:
    """round(x * 2**-shift), ties up; a negative shift is an exact left shift (as fixed.shift_round)."""
    if shift > 0:
        s = min(shift, 62)
        return (x + (np.int64(1) << (s - 1))) >> s
    return x << min(-shift, 62)


@numba.njit(inline="always", cache=True)
def _div_round(num: Int, den: Int, inv: float) -> Int:
    """floor(num / den) for 0 <= num < 2**52 and 0 < den, given inv ~ 1/den: a float64 estimate
    (off by at most one at these sizes) corrected in integers, so exact, without a 64-bit division."""
    k = np.int64(np.float64(num) * inv)
    rem = num - k * den
    if rem < 0:
        k -= 1
    elif rem >= den:
        k += 1
    return k


@numba.njit(cache=True, nogil=True, parallel=True, fastmath={"reassoc", "contract"})
def attend(
    q: np.ndarray,
    qm: np.ndarray,
    qe: np.ndarray,
    keys: np.ndarray,
    km: np.ndarray,
    ke: np.ndarray,
    values: np.ndarray,
    vm: np.ndarray,
    ve: np.ndarray,
    p0: int,
    att_exp: np.ndarray,
    steps_exp: int,
    out: np.ndarray,
    out_exp: np.ndarray,
) -> None:
    """Integer softmax attention of queries at positions p0.. over the cached keys up to each one.

    q (b, heads, n, hd) int8 with scales qm * 2**qe (b, heads, n); keys and values (b, kv, slots, hd)
    int8 with scales km, ke, vm, ve (b, kv, slots).  A score is q.k times both scales over
    sqrt(hd); keys' scales are aligned on the largest exponent among the keys a query sees, the
    gap to the best score, times 2**steps_exp (1/sqrt(hd) times the table's steps per nat), indexes
    ``att_exp``, weights are normalized to about
    2**PROB_BITS, and the values' scales, aligned the same way, are folded into the weights.
    Writes out (b, n, heads, hd) int64 at exponent out_exp (b, n, heads).

    One iteration serves the query heads that share a key head (each key and value row is read
    once for all of them).  The dot products run in float32 and the weighted sums of values in
    float64 because both are exact there: |q.k| <= hd * 127**2 < 2**24, and each weight is at most
    2**PROB_BITS times a 15-bit mantissa, so a sum over the window stays far below 2**53.  Exact
    sums do not depend on the order, so these are the integers of the plain integer loops.
    """
    b, heads, n, hd = q.shape
    kv_heads = keys.shape[1]
    group = heads // kv_heads
    limit = att_exp.shape[0] - 1
    for job in numba.prange(b * kv_heads * n):
        bi = job // (kv_heads * n)
        kv = (job // n) % kv_heads
        t = job % n
        h0 = kv * group
        end = p0 + t + 1
        ke_top = ke[bi, kv, 0]
        ve_top = ve[bi, kv, 0]
        for s in range(1, end):
            ke_top = max(ke_top, ke[bi, kv, s])
            ve_top = max(ve_top, ve[bi, kv, s])
        qf = np.empty((group, hd), dtype=np.float32)
        for g in range(group):
            for j in range(hd):
                qf[g, j] = q[bi, h0 + g, t, j]
        z = np.empty((group, end), dtype=np.int64)
        best = np.full(group, -(1 << 62), dtype=np.int64)
        kf = np.empty(hd, dtype=np.float32)
        for s in range(end):
            for j in range(hd):
                kf[j] = keys[bi, kv, s, j]
            shift = ke_top - ke[bi, kv, s]
            for g in range(group):
                acc = np.float32(0)
                for j in range(hd):
                    acc += qf[g, j] * kf[j]
                zs = _shift_round(np.int64(acc) * km[bi, kv, s], shift)
                z[g, s] = zs
                best[g] = max(best[g], zs)
        weight = np.empty(group, dtype=np.int64)
        total = np.zeros(group, dtype=np.int64)
        for g in range(group):
            cm = qm[bi, h0 + g, t]
            ce = qe[bi, h0 + g, t] + ke_top + steps_exp
            for s in range(end):
                idx = _shift_round(min(best[g] - z[g, s], GAP_LIMIT) * cm, -ce)
                z[g, s] = att_exp[min(idx, limit)]
                total[g] += z[g, s]
        inv = 1.0 / total.astype(np.float64)
        mixed = np.zeros((group, hd), dtype=np.float64)
        vf = np.empty(hd, dtype=np.float64)
        for s in range(end):
            for j in range(hd):
                vf[j] = values[bi, kv, s, j]
            shift = ve_top - ve[bi, kv, s]
            for g in range(group):
                weight[g] = _shift_round(
                    _div_round((z[g, s] << PROB_BITS) + (total[g] >> 1), total[g], inv[g]) * vm[bi, kv, s], shift
                )
            for g in range(group):
                if weight[g] != 0:
                    w = np.float64(weight[g])
                    for j in range(hd):
                        mixed[g, j] += w * vf[j]
        for g in range(group):
            for j in range(hd):
                out[bi, t, h0 + g, j] = np.int64(mixed[g, j])
            out_exp[bi, t, h0 + g] = ve_top - PROB_BITS


@numba.njit(cache=True, nogil=True, parallel=True)
def attention_weights(
    scores: np.ndarray,
    qm: np.ndarray,
    qe: np.ndarray,
    km: np.ndarray,
    ke: np.ndarray,
    vm: np.ndarray,
    ve: np.ndarray,
    p0: int,
    att_exp: np.ndarray,
    steps_exp: int,
    weights: np.ndarray,
    out_exp: np.ndarray,
) -> None:
    """:func:`attend`'s weights for one key head of one stream, from its queries' dot products.

    ``scores`` (group, n, slots) holds q.k (exact integers in float32, from a matrix product) of the
    group's query heads at positions p0.. against the cached keys (scales km, ke per slot); queries'
    scales are qm, qe (group, n).  Writes each weight with its value's scale folded in (float64,
    exact: below 2**30) into ``weights`` (group, n, slots; zero past the query's own position), so
    that weights @ values is :func:`attend`'s weighted sum, and its exponent into ``out_exp``
    (group, n).  The integers are :func:`attend`'s, step for step.
    """
    group, n, _ = scores.shape
    limit = att_exp.shape[0] - 1
    for job in numba.prange(group * n):
        g = job // n
        t = job % n
        end = p0 + t + 1
        ke_top = ke[0]
        ve_top = ve[0]
        for s in range(1, end):
            ke_top = max(ke_top, ke[s])
            ve_top = max(ve_top, ve[s])
        z = np.empty(end, dtype=np.int64)
        best = np.int64(-(1 << 62))
        for s in range(end):
            z[s] = _shift_round(np.int64(scores[g, t, s]) * km[s], ke_top - ke[s])
            best = max(best, z[s])
        cm = qm[g, t]
        ce = qe[g, t] + ke_top + steps_exp
        total = np.int64(0)
        for s in range(end):
            z[s] = att_exp[min(_shift_round(min(best - z[s], GAP_LIMIT) * cm, -ce), limit)]
            total += z[s]
        inv = 1.0 / np.float64(total)
        for s in range(end):
            p = _div_round((z[s] << PROB_BITS) + (total >> 1), total, inv)
            weights[g, t, s] = np.float64(_shift_round(p * vm[s], ve_top - ve[s]))
        for s in range(end, weights.shape[2]):
            weights[g, t, s] = 0.0
        out_exp[g, t] = ve_top - PROB_BITS


@numba.njit(inline="always", cache=True)
def _bit_length(x: Int) -> Int:
    """Bits of a non-negative integer (0 for 0)."""
    n = 0
    while x > 0:
        x >>= 1
        n += 1
    return n


@numba.njit(inline="always", cache=True)
def _isqrt(n: Int) -> Int:
    """floor(sqrt(n)) for 0 <= n < 2**62: a float estimate corrected in integers."""
    r = np.int64(np.sqrt(np.float64(n)))
    while r * r > n:
        r -= 1
    while (r + 1) * (r + 1) <= n:
        r += 1
    return r


@numba.njit(inline="always", cache=True)
def _quantize(z: np.ndarray, limit: int, q: np.ndarray) -> Int:
    """One row of int64 ``z`` as integers ``|q| <= limit`` (written to ``q``, any numeric dtype)
    times the returned step: the smallest integer above ``max|z| / limit`` (nothing clips),
    rounding to nearest, ties up, q = floor((2z + step) / (2 step)) exactly (a float64 estimate,
    off by at most one, corrected in integers)."""
    amax = np.int64(0)
    for i in range(z.shape[0]):
        amax = max(amax, abs(z[i]))
    st = amax // limit + 1
    d = 2 * st
    inv = 1.0 / np.float64(d)
    for i in range(z.shape[0]):
        a = 2 * z[i] + st
        k = np.int64(np.floor(np.float64(a) * inv))
        rem = a - k * d
        if rem < 0:
            k -= 1
        elif rem >= d:
            k += 1
        q[i] = k
    return st


@numba.njit(cache=True, nogil=True, parallel=True)
def norm_rows(h: np.ndarray, gain: np.ndarray, q: np.ndarray, step: np.ndarray, rms: np.ndarray, k: np.ndarray) -> None:
    """RMSNorm's integers per row of the residual ``h`` (rows, d): ``q``/``step`` quantize h * gain,
    ``rms`` = max(isqrt(mean((h >> k)**2)), 1) with the shift ``k`` that keeps the squares' sum in
    int64 (the row's largest value brought to at most 26 bits)."""
    rows, d = h.shape
    for r in numba.prange(rows):
        amax = np.int64(0)
        for i in range(d):
            amax = max(amax, abs(h[r, i]))
        kr = max(_bit_length(amax) - 26, 0)
        total = np.int64(0)
        scaled = np.empty(d, dtype=np.int64)
        for i in range(d):
            v = h[r, i] >> kr
            total += v * v
            scaled[i] = h[r, i] * gain[i]
        k[r] = kr
        rms[r] = max(_isqrt(total // d), 1)
        step[r] = _quantize(scaled, QMAX, q[r])


@numba.njit(cache=True, nogil=True, parallel=True)
def add_residual(h: np.ndarray, acc: np.ndarray, column: np.ndarray, m: np.ndarray, e: np.ndarray, bits: int) -> None:
    """h += round(acc * column * m * 2**(e + bits)) per row (``acc`` a product's exact integers as
    floats, ``column`` the weights' mantissas, ``m * 2**e`` the row's scale): a projection's output
    added to the residual stream on its grid 2**-bits."""
    rows, d = h.shape
    for r in numba.prange(rows):
        mr = m[r]
        shift = -(e[r] + bits)
        for i in range(d):
            h[r, i] += _shift_round(np.int64(acc[r, i]) * column[i] * mr, shift)


@numba.njit(cache=True, nogil=True, parallel=True)
def heads_int8(
    acc: np.ndarray,
    column: np.ndarray,
    heads: int,
    n: int,
    p0: int,
    cos: np.ndarray,
    sin: np.ndarray,
    rotate: bool,
    bits: int,
    q: np.ndarray,
    step: np.ndarray,
) -> None:
    """A projection's output (rows = batch * n, heads * hd; exact integers as floats, times the
    weights' mantissas ``column``) as int8 per (row, head) into ``q`` (rows, heads, hd) with the
    steps ``step`` (rows, heads); when ``rotate``, each head's pairs (i, i + hd/2) first turn by the
    tables at the row's position p0 + row % n, rounded at 2**-bits."""
    rows = acc.shape[0]
    hd = acc.shape[1] // heads
    half = hd // 2
    for job in numba.prange(rows * heads):
        r = job // heads
        h = job % heads
        pos = p0 + r % n
        base = h * hd
        x = np.empty(hd, dtype=np.int64)
        for j in range(hd):
            x[j] = np.int64(acc[r, base + j]) * column[base + j]
        if rotate:
            y = np.empty(hd, dtype=np.int64)
            for j in range(half):
                c = cos[pos, j]
                s = sin[pos, j]
                y[j] = _shift_round(x[j] * c - x[half + j] * s, bits)
                y[half + j] = _shift_round(x[j] * s + x[half + j] * c, bits)
            x = y
        step[r, h] = _quantize(x, QMAX, q[r, h])


@numba.njit(cache=True, nogil=True, parallel=True)
def align_heads(mixed: np.ndarray, head_exp: np.ndarray, q: np.ndarray, step: np.ndarray, row_exp: np.ndarray) -> None:
    """Attention's heads of a row (rows, heads, hd) at their exponents, aligned on the row's largest
    (``row_exp``) by rounding shifts, then int8 for the output projection (``q`` rows, heads * hd)."""
    rows, heads, hd = mixed.shape
    for r in numba.prange(rows):
        top = head_exp[r, 0]
        for h in range(1, heads):
            top = max(top, head_exp[r, h])
        row_exp[r] = top
        aligned = np.empty(heads * hd, dtype=np.int64)
        for h in range(heads):
            shift = top - head_exp[r, h]
            for j in range(hd):
                aligned[h * hd + j] = _shift_round(mixed[r, h, j], shift)
        step[r] = _quantize(aligned, QMAX, q[r])


@numba.njit(cache=True, nogil=True, parallel=True)
def gated_unit(
    gate: np.ndarray,
    gate_column: np.ndarray,
    gm: np.ndarray,
    ge: np.ndarray,
    up: np.ndarray,
    up_column: np.ndarray,
    silu: np.ndarray,
    silu_bits: int,
    silu_range: int,
    up_limit: int,
    q: np.ndarray,
    up_step: np.ndarray,
    step: np.ndarray,
) -> None:
    """SwiGLU's middle per row: the gate projection's output on the grid 2**-silu_bits through the
    SiLU table (x above its range, 0 below), times the up projection's output quantized to
    ``|u| <= up_limit`` (its step ``up_step``), quantized to int8 into ``q`` (its step ``step``)."""
    rows, d = gate.shape
    for r in numba.prange(rows):
        u = np.empty(d, dtype=np.int64)
        z = np.empty(d, dtype=np.int64)
        for i in range(d):
            z[i] = np.int64(up[r, i]) * up_column[i]
        up_step[r] = _quantize(z, up_limit, u)
        shift = -(ge[r] + silu_bits)
        mr = gm[r]
        for i in range(d):
            g = _shift_round(np.int64(gate[r, i]) * gate_column[i] * mr, shift)
            if g >= silu_range:
                act = g
            elif g < -silu_range:
                act = np.int64(0)
            else:
                act = silu[g + silu_range]
            z[i] = act * u[i]
        step[r] = _quantize(z, QMAX, q[r])


@numba.njit(cache=True, nogil=True, parallel=True)
def frequencies(
    acc: np.ndarray, em: np.ndarray, cm: np.ndarray, ce: np.ndarray, logit_exp: np.ndarray, total: int, out: np.ndarray
) -> None:
    """Output frequencies per row: logits acc (rows, vocab; exact integers in float32) times the
    per-token mantissas ``em``; the gap to the row's best, times the row's scale cm * 2**ce (in
    table steps), indexes ``logit_exp``; each frequency is at least 1, each row sums to ``total``
    (the remainder goes to the first best token)."""
    rows, vocab = acc.shape
    limit = logit_exp.shape[0] - 1
    for r in numba.prange(rows):
        z = np.empty(vocab, dtype=np.int64)
        best = np.int64(-(1 << 62))
        first = 0
        for v in range(vocab):
            z[v] = np.int64(acc[r, v]) * em[v]
            if z[v] > best:
                best = z[v]
                first = v
        norm = np.int64(0)
        for v in range(vocab):
            z[v] = logit_exp[min(_shift_round(min(best - z[v], GAP_LIMIT) * cm[r], -ce[r]), limit)]
            norm += z[v]
        spare = np.int64(total)
        inv = 1.0 / np.float64(norm)
        for v in range(vocab):
            f = 1 + _div_round(z[v] * (total - vocab), norm, inv)
            out[r, v] = f
            spare -= f
        out[r, first] += spare
