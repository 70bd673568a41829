"""The pretrained engine's compiled loops against their integer definitions, in Python integers.

The loops compute some integers in float (dot products in float32, weighted sums in float64) and
divide by a float estimate corrected in integers; these references do everything in exact Python
integers, with inputs at the edges of the ranges the engine documents (15-bit mantissas, products
of 2**38, scales that differ by many powers of two), so a wrong bound or a missed correction shows.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lmarchive.models.pretrained import engine, kernels, tables
from lmarchive.models.pretrained.fixed import QMAX


def shift_round(x: int, shift: int) -> int:
    """round(x * 2**-shift), ties up; a negative shift multiplies."""
    shift = max(min(shift, 62), -62)
    return (x + (1 << (shift - 1))) >> shift if shift > 0 else x << -shift


def quantize(z: list[int], limit: int = QMAX) -> tuple[list[int], int]:
    step = max(abs(v) for v in z) // limit + 1
    return [(2 * v + step) // (2 * step) for v in z], step


def exact_floats(rng: np.random.Generator, shape: tuple[int, ...], top: int) -> np.ndarray:
    """Integers up to ``top`` in magnitude as float32 (a product's output), some at the extremes."""
    values = rng.integers(-top, top + 1, shape)
    values.reshape(-1)[:: max(1, values.size // 7)] = top
    return values.astype(np.float32)


def test_heads_rotate_and_requantize_as_integers() -> None:
    rng = np.random.default_rng(1)
    rows, heads, hd, n, p0 = 6, 3, 8, 3, 5
    acc = exact_floats(rng, (rows, heads * hd), (1 << 23) - 1)
    column = rng.integers(1 << 14, 1 << 15, heads * hd)
    cos, sin = tables.rope(16, hd, 10000.0)
    for rotate in (False, True):
        q = np.empty((rows, heads, hd), dtype=np.int8)
        step = np.empty((rows, heads), dtype=np.int64)
        cos64, sin64 = cos.astype(np.int64), sin.astype(np.int64)
        kernels.heads_int8(acc, column, heads, n, p0, cos64, sin64, rotate, engine.ROPE_BITS, q, step)
        for r in range(rows):
            pos = p0 + r % n
            for h in range(heads):
                x = [int(acc[r, h * hd + j]) * int(column[h * hd + j]) for j in range(hd)]
                if rotate:
                    c, s, half = cos[pos].tolist(), sin[pos].tolist(), hd // 2
                    x = [shift_round(x[j] * c[j] - x[half + j] * s[j], engine.ROPE_BITS) for j in range(half)] + [
                        shift_round(x[j] * s[j] + x[half + j] * c[j], engine.ROPE_BITS) for j in range(half)
                    ]
                want, want_step = quantize(x)
                assert q[r, h].tolist() == want and step[r, h] == want_step


def test_norm_rows_as_integers() -> None:
    rng = np.random.default_rng(2)
    h = rng.integers(-(1 << 40), 1 << 40, (5, 24))
    h[1] = rng.integers(-5, 6, 24)  # a row too small to need the shift
    h[2, 3] = -(1 << 45)
    gain = rng.integers(1, 1 << 13, 24)
    q = np.empty(h.shape, dtype=np.float32)
    step, rms, k = (np.empty(5, dtype=np.int64) for _ in range(3))
    kernels.norm_rows(h, gain, q, step, rms, k)
    for r in range(5):
        row = [int(v) for v in h[r]]
        shift = max(max(abs(v) for v in row).bit_length() - 26, 0)
        mean = sum((v >> shift) ** 2 for v in row) // len(row)
        want, want_step = quantize([v * int(g) for v, g in zip(row, gain, strict=True)])
        assert (k[r], rms[r], step[r]) == (shift, max(math.isqrt(mean), 1), want_step)
        assert q[r].tolist() == want


def test_gated_unit_and_residual_as_integers() -> None:
    rng = np.random.default_rng(3)
    rows, d = 4, 40
    gate, up = exact_floats(rng, (rows, d), 1 << 22), exact_floats(rng, (rows, d), (1 << 23) - 1)
    gate_column, up_column = rng.integers(1 << 14, 1 << 15, d), rng.integers(1 << 14, 1 << 15, d)
    gm, ge = rng.integers(1 << 14, 1 << 15, rows), rng.integers(-60, -40, rows)
    silu = tables.silu_table().astype(np.int64)
    q = np.empty((rows, d), dtype=np.float32)
    up_step, step = np.empty(rows, dtype=np.int64), np.empty(rows, dtype=np.int64)
    limit = (1 << 15) - 1
    kernels.gated_unit(
        gate, gate_column, gm, ge, up, up_column, silu, engine.SILU_BITS, engine.SILU_RANGE, limit, q, up_step, step
    )
    h = rng.integers(-(1 << 30), 1 << 30, (rows, d))
    before = h.copy()
    kernels.add_residual(h, up, up_column, gm, ge, engine.RESIDUAL_BITS)
    for r in range(rows):
        u, u_step = quantize([int(up[r, i]) * int(up_column[i]) for i in range(d)], limit)
        act = []
        for i in range(d):
            g = shift_round(int(gate[r, i]) * int(gate_column[i]) * int(gm[r]), -(int(ge[r]) + engine.SILU_BITS))
            r_ = engine.SILU_RANGE
            act.append(g if g >= r_ else 0 if g < -r_ else int(silu[g + r_]))
        want, want_step = quantize([a * b for a, b in zip(act, u, strict=True)])
        assert (up_step[r], step[r]) == (u_step, want_step) and q[r].tolist() == want
        shift = -(int(ge[r]) + engine.RESIDUAL_BITS)
        added = [
            int(before[r, i]) + shift_round(int(up[r, i]) * int(up_column[i]) * int(gm[r]), shift) for i in range(d)
        ]
        assert h[r].tolist() == added


@pytest.mark.parametrize("p0, n", [(0, 5), (6, 1)])
def test_attention_as_integers(p0: int, n: int) -> None:
    """Scores, softmax weights and the weighted values, with scales whose exponents differ widely."""
    rng = np.random.default_rng(4 + p0)
    b, heads, kv, hd, slots = 2, 4, 2, 16, 8
    q = rng.integers(-QMAX, QMAX + 1, (b, heads, n, hd)).astype(np.int8)
    q[0, 0, 0] = QMAX  # the largest dot product the bound allows
    keys = rng.integers(-QMAX, QMAX + 1, (b, kv, slots, hd)).astype(np.int8)
    keys[0, 0, 0] = QMAX
    values = rng.integers(-QMAX, QMAX + 1, (b, kv, slots, hd)).astype(np.int8)
    qm, km, vm = (
        rng.integers(1 << 14, (1 << 15) + 1, shape) for shape in ((b, heads, n), (b, kv, slots), (b, kv, slots))
    )
    qe = rng.integers(-30, -20, (b, heads, n))
    ke, ve = rng.integers(-40, -20, (b, kv, slots)), rng.integers(-40, -20, (b, kv, slots))
    att_exp = tables.exp_table(engine.ATT_STEPS, engine.ATT_EXP_BITS)
    steps_exp = 3 - 2
    out = np.empty((b, n, heads, hd), dtype=np.int64)
    out_exp = np.empty((b, n, heads), dtype=np.int64)
    kernels.attend(q, qm, qe, keys, km, ke, values, vm, ve, p0, att_exp, steps_exp, out, out_exp)
    limit = len(att_exp) - 1
    for bi in range(b):
        for h in range(heads):
            g = h // (heads // kv)
            for t in range(n):
                end = p0 + t + 1
                ke_top, ve_top = int(ke[bi, g, :end].max()), int(ve[bi, g, :end].max())
                z = []
                for s in range(end):
                    dot = sum(int(a) * int(c) for a, c in zip(q[bi, h, t], keys[bi, g, s], strict=True))
                    z.append(shift_round(dot * int(km[bi, g, s]), ke_top - int(ke[bi, g, s])))
                best, ce = max(z), int(qe[bi, h, t]) + ke_top + steps_exp
                gap = [min(best - v, kernels.GAP_LIMIT) * int(qm[bi, h, t]) for v in z]
                w = [int(att_exp[min(shift_round(v, -ce), limit)]) for v in gap]
                total = sum(w)
                mixed = [0] * hd
                for s in range(end):
                    p = ((w[s] << kernels.PROB_BITS) + (total >> 1)) // total
                    pv = shift_round(p * int(vm[bi, g, s]), ve_top - int(ve[bi, g, s]))
                    mixed = [m + pv * int(v) for m, v in zip(mixed, values[bi, g, s], strict=True)]
                assert out[bi, t, h].tolist() == mixed
                assert out_exp[bi, t, h] == ve_top - kernels.PROB_BITS


def test_frequencies_as_integers() -> None:
    rng = np.random.default_rng(5)
    rows, vocab, total = 3, 300, engine.FREQ_TOTAL
    acc = exact_floats(rng, (rows, vocab), 1 << 20)
    em = rng.integers(1 << 14, 1 << 15, vocab)
    cm, ce = rng.integers(1 << 14, 1 << 15, rows), rng.integers(-44, -36, rows)
    logit_exp = tables.exp_table(engine.LOGIT_STEPS, engine.LOGIT_EXP_BITS)
    out = np.empty((rows, vocab), dtype=np.int64)
    kernels.frequencies(acc, em, cm, ce, logit_exp, total, out)
    limit = len(logit_exp) - 1
    for r in range(rows):
        z = [int(acc[r, v]) * int(em[v]) for v in range(vocab)]
        best = max(z)
        w = [
            int(logit_exp[min(shift_round(min(best - v, kernels.GAP_LIMIT) * int(cm[r]), -int(ce[r])), limit)])
            for v in z
        ]
        norm = sum(w)
        want = [1 + v * (total - vocab) // norm for v in w]
        want[z.index(best)] += total - sum(want)
        assert out[r].tolist() == want
        assert out[r].sum() == total and out[r].min() >= 1
