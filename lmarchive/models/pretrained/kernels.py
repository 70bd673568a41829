"""Compiled loops of the pretrained-model engine: attention over the cache, and output frequencies.

Both are elementwise integer work over (queries x keys) or (rows x vocabulary), where numpy would
make a dozen passes over int64 arrays; here each query or row is one loop, spread over threads
with ``prange``.  Each iteration writes only its own outputs and all arithmetic is integer (the
score dot products sum int8 products in int32, exact), so the results do not depend on the
thread count, the order, or the CPU.  The definitions of the integers are those documented in
:mod:`.engine`.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np

from lmarchive.models import jit  # noqa: F401  (sets numba's cache folder before numba loads)

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


@numba.njit(cache=True, nogil=True, parallel=True)
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
    """
    b, heads, n, hd = q.shape
    group = heads // keys.shape[1]
    limit = att_exp.shape[0] - 1
    for job in numba.prange(b * heads * n):
        bi = job // (heads * n)
        h = (job // n) % heads
        t = job % n
        kv = h // group
        end = p0 + t + 1
        ke_top = ke[bi, kv, 0]
        ve_top = ve[bi, kv, 0]
        for s in range(1, end):
            ke_top = max(ke_top, ke[bi, kv, s])
            ve_top = max(ve_top, ve[bi, kv, s])
        z = np.empty(end, dtype=np.int64)
        best = np.int64(-(1 << 62))
        for s in range(end):
            acc = np.int32(0)  # int8 products, hd * 127**2 < 2**31
            for j in range(hd):
                acc += np.int32(q[bi, h, t, j]) * np.int32(keys[bi, kv, s, j])
            z[s] = _shift_round(np.int64(acc) * km[bi, kv, s], ke_top - ke[bi, kv, s])
            best = max(best, z[s])
        cm = qm[bi, h, t]
        ce = qe[bi, h, t] + ke_top + steps_exp
        total = np.int64(0)
        for s in range(end):
            idx = _shift_round(min(best - z[s], GAP_LIMIT) * cm, -ce)
            z[s] = att_exp[min(idx, limit)]
            total += z[s]
        mixed = np.zeros(hd, dtype=np.int64)
        for s in range(end):
            p = ((z[s] << PROB_BITS) + (total >> 1)) // total
            pv = _shift_round(p * vm[bi, kv, s], ve_top - ve[bi, kv, s])
            if pv != 0:
                for j in range(hd):
                    mixed[j] += pv * np.int64(values[bi, kv, s, j])
        for j in range(hd):
            out[bi, t, h, j] = mixed[j]
        out_exp[bi, t, h] = ve_top - PROB_BITS


@numba.njit(cache=True, nogil=True, parallel=True)
def quantize_rows(z: np.ndarray, limit: int, q: np.ndarray, step: np.ndarray) -> None:
    """Rows of int64 ``z`` (rows, n) as integers ``|q| <= limit`` times a step per row, the
    smallest integer above ``max|z| / limit`` (nothing clips), rounding to nearest, ties up.

    The division runs in float64 (exact operands below 2**53) and is then corrected in integers,
    so ``q`` is exactly floor((2z + step) / (2 step))."""
    rows, n = z.shape
    for r in numba.prange(rows):
        amax = np.int64(0)
        for i in range(n):
            amax = max(amax, abs(z[r, i]))
        st = amax // limit + 1
        step[r] = st
        d = 2 * st
        fd = np.float64(d)
        for i in range(n):
            a = 2 * z[r, i] + st
            k = np.int64(np.floor(np.float64(a) / fd))
            rem = a - k * d
            if rem < 0:
                k -= 1
            elif rem >= d:
                k += 1
            q[r, i] = k


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
        for v in range(vocab):
            f = 1 + z[v] * (total - vocab) // norm
            out[r, v] = f
            spare -= f
        out[r, first] += spare
