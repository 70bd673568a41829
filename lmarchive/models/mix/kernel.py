"""The mixing model's inner loop, compiled by numba: predict a bit, code it, learn from it.

Per byte, eight binary decisions (most significant bit first).  For each, these predictors give a
12-bit probability that the bit is 1, turned into log-odds:

* order 0 (context: the bits of this byte so far) and order 1 (plus the previous byte), direct;
* orders 2, 3, 4, 6, 8 and a word context (letters since the last non-letter, plus the previous
  byte), hashed into fixed tables of 2**hash_bits slots each, in buckets of 16 slots per context
  and half-byte (a check value and the 15 nodes of the half-byte's bit tree); a bucket whose check
  differs is taken over (of two candidates, the less used one) and cleared.  A model with more
  contexts (``MixParams.contexts``) adds, in this order, the last two words and three sparse
  contexts that skip the last byte (bytes 2-3, 2 and 4, 3-4 back), which binaries with fixed-size
  fields (tables, floats, machine code) predict from;
* a match model: the longest recent earlier occurrence of the last 6 bytes predicts the byte that
  followed it, with a learned confidence per match length;
* optionally the LM: its next-byte table, summed over the two halves of the current subtree.

Two gated linear mixers (weights selected by the partial byte, and by match state and bit
position) combine them in the log-odds domain and are averaged; two adaptive probability maps
refine the result, and the bit is range-coded with total 4096.  Every number is an integer and
every update is a fixed integer rule, so encoder and decoder, on any machine, compute the same
probabilities.  The range coder's arithmetic is the one of
:mod:`lmarchive.coding.rangecoder` (``encode(cum, freq, 4096)``), working on its state arrays.

State arrays are indexed by stream first; they are named and built in :mod:`.state`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from lmarchive.models import jit  # noqa: F401  (sets numba's cache folder before numba loads)
from lmarchive.models.lm import compiled
from lmarchive.models.lm.compiled import Int
from lmarchive.models.mix.logistic import SQUASH, STRETCH

import numba  # isort: skip

from lmarchive.models import jit_hooks  # noqa: F401  (our cache locator and compile notices)

if TYPE_CHECKING:
    from lmarchive.models.mix.state import CoderState, MixState

MIN_CONTEXTS = 6
"""Hashed contexts of every model: orders 2, 3, 4, 6, the word context and order 8."""
MAX_CONTEXTS = 10
"""With the two-word and the three sparse contexts."""
EXTRA_INPUTS = 5
"""Mixer inputs besides the hashed contexts: order 0, order 1, match, LM, bias."""
MATCH_MIN = 6
"""Bytes hashed to find a match candidate."""
MATCH_BUCKETS = 32
LIMIT = 127
"""Adaptation count limit of the context maps: rate 1/(n + 1.5) never falls below 1/128.5."""
MIXER_SHIFT = 16
MIXER_RATE = 16
APM_RATE = 7
APM_BINS = 33

_HALF = 1 << 31
_DT = np.array([16384 // (i + i + 3) for i in range(1024)], dtype=np.int64)
_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xD6E8FEB86659FD93)
_TOP = np.uint64(1 << 56)
_U8 = np.uint64(8)
_U12 = np.uint64(12)
_U56 = np.uint64(56)

# Per-stream scalar registers (int64 columns of ``reg``).
R_C4, R_C8, R_WORD, R_MPTR, R_MLEN, R_POS, R_WORD1 = range(7)
N_REG = 7
"""R_WORD1: the hash of the word before the current one (0 before the first)."""


@numba.njit(inline="always", cache=True)
def _sm_next(t: Int, y: Int) -> Int:
    """A context map cell after seeing bit y: 22-bit probability, 10-bit count, rate 1/(n+1.5)."""
    n = t & 1023
    p = t >> 10
    if n < LIMIT:
        t += 1
    else:
        t = (t & 0xFFFFFC00) | LIMIT
    t += ((((y << 22) - p) >> 3) * _DT[n]) & -1024
    if t < 0:
        t &= 1023
    return t & 0xFFFFFFFF


@numba.njit(inline="always", cache=True)
def _hash(value: int, salt: int, bits: int) -> Int:
    h = (np.uint64(value) + np.uint64(salt) * _K2) * _K1
    return np.int64(h >> np.uint64(64 - bits))


@numba.njit(inline="always", cache=True)
def _apm(table: np.ndarray, s: int, ctx: Int, p: int) -> tuple[int, int]:
    """Refined probability of p in context ctx, and the cell to update."""
    st = STRETCH[p] + 2048
    lo = st >> 7
    w = st & 127
    out = (np.int64(table[s, ctx, lo]) * (128 - w) + np.int64(table[s, ctx, lo + 1]) * w) >> 11
    return out, lo + (w >> 6)


@numba.njit(cache=True)
def code_byte(
    decode: bool,
    s: int,
    byte: Int,
    lm: np.ndarray,
    use_lm: bool,
    hist: np.ndarray,
    st: MixState,
    co: CoderState,
    scratch: Scratch,
) -> Int:
    """Code (or decode, when ``decode``) one byte of stream s; returns it.

    ``lm`` is the LM's frequency table for this byte (ignored unless ``use_lm``); ``hist[s]``
    holds the stream's bytes (the decoder's are written here as they come out).
    """
    o0, o1, hashed, msm, reg = st.o0, st.o1, st.hashed, st.msm, st.reg
    n_hashed = len(st.contexts)  # a compile-time constant: the tuple's length is part of its type
    n_inputs = n_hashed + EXTRA_INPUTS
    mixw, mixw2, apm1, apm2 = st.mixw, st.mixw2, st.apm1, st.apm2
    low, rng, pos, buf = co.low, co.rng, co.pos, co.buf
    bucket_mask = (hashed.shape[2] >> 4) - 1
    c4 = reg[s, R_C4]
    c1 = c4 & 0xFF
    mlen = reg[s, R_MLEN]
    mbyte = np.int64(hist[s, reg[s, R_MPTR]]) if mlen > 0 else 0
    cum, ctx, bucket, x = scratch.cum, scratch.ctx, scratch.bucket, scratch.x
    if use_lm:
        for i in range(256):
            cum[i + 1] = cum[i] + lm[i]
    for i in range(n_hashed):
        ctx[i] = _context_of(reg, s, i)
    c0: Int = 1
    j: Int = 1
    for k in range(8):
        # --- predict
        if k == 0 or k == 4:
            for i in range(n_hashed):
                bucket[i] = _claim(hashed, s, i, _hash(ctx[i] + c0 * 0x1000193, i + 1, 52), bucket_mask)
            j = 1
        x[0] = STRETCH[o0[s, c0] >> 20]
        x[1] = STRETCH[o1[s, (c1 << 8) | c0] >> 20]
        for i in range(n_hashed):
            x[2 + i] = STRETCH[hashed[s, i, bucket[i] + j] >> 20]
        mctx = -1
        if mlen > 0:
            if ((mbyte | 256) >> (8 - k)) == c0:
                ebit = (mbyte >> (7 - k)) & 1
                lb = mlen if mlen < 16 else min(16 + ((mlen - 16) >> 3), MATCH_BUCKETS - 1)
                mctx = lb * 2 + ebit
                x[2 + n_hashed] = STRETCH[msm[s, mctx] >> 20]
            else:
                mlen = 0
        if mctx < 0:
            x[2 + n_hashed] = 0
        if use_lm:
            width = 256 >> k
            lo = (c0 - (1 << k)) * width
            total = cum[lo + width] - cum[lo]
            p_lm = (cum[lo + width] - cum[lo + width // 2]) * 4096 // total
            x[3 + n_hashed] = STRETCH[min(max(p_lm, 1), 4095)]
        else:
            x[3 + n_hashed] = 0
        x[4 + n_hashed] = 256
        mset = 8 * (0 if mctx < 0 else (1 if mlen < 16 else (2 if mlen < 32 else 3))) + k
        dot1 = 0
        dot2 = 0
        for i in range(n_inputs):
            dot1 += x[i] * mixw[s, c0, i]
            dot2 += x[i] * mixw2[s, mset, i]
        dot1 = min(max(dot1 >> MIXER_SHIFT, -2047), 2047)
        dot2 = min(max(dot2 >> MIXER_SHIFT, -2047), 2047)
        p_mix = SQUASH[((dot1 + dot2) >> 1) + 2048]
        p1, a1 = _apm(apm1, s, c0, p_mix)
        actx = (c1 << 8) | c0
        p2, a2 = _apm(apm2, s, actx, p_mix)
        p = min(max((p_mix + p1 + 2 * p2 + 2) >> 2, 1), 4095)
        # --- code: symbol 0 is (0, 4096 - p), symbol 1 is (4096 - p, p)
        r = rng[s] >> _U12
        split = np.uint64(4096 - p)
        if decode:
            target = min(low[s] // r, np.uint64(4095))
            y: Int = 1 if target >= split else 0
            if y:
                low[s] -= r * split
                rng[s] = r * np.uint64(p)
            else:
                rng[s] = r * split
            while rng[s] < _TOP:
                q = pos[s]
                b = np.uint64(buf[s, q]) if q < buf.shape[1] else np.uint64(0)
                low[s] = (low[s] << _U8) | b
                pos[s] = q + 1
                rng[s] = rng[s] << _U8
        else:
            y = (byte >> (7 - k)) & 1
            if y:
                new_low = low[s] + r * split
                if new_low < low[s]:
                    q = pos[s] - 1
                    while True:
                        v = buf[s, q]
                        buf[s, q] = np.uint8((np.int64(v) + 1) & 0xFF)
                        if v != 0xFF:
                            break
                        q -= 1
                low[s] = new_low
                rng[s] = r * np.uint64(p)
            else:
                rng[s] = r * split
            while rng[s] < _TOP:
                buf[s, pos[s]] = np.uint8(low[s] >> _U56)
                pos[s] += 1
                low[s] = low[s] << _U8
                rng[s] = rng[s] << _U8
        # --- learn
        o0[s, c0] = _sm_next(np.int64(o0[s, c0]), y)
        o1[s, (c1 << 8) | c0] = _sm_next(np.int64(o1[s, (c1 << 8) | c0]), y)
        for i in range(n_hashed):
            cell = bucket[i] + j
            hashed[s, i, cell] = _sm_next(np.int64(hashed[s, i, cell]), y)
        if mctx >= 0:
            msm[s, mctx] = _sm_next(np.int64(msm[s, mctx]), y)
        err1 = ((y << 12) - SQUASH[dot1 + 2048]) * MIXER_RATE
        err2 = ((y << 12) - SQUASH[dot2 + 2048]) * MIXER_RATE
        for i in range(n_inputs):
            mixw[s, c0, i] += (x[i] * err1) >> 16
            mixw2[s, mset, i] += (x[i] * err2) >> 16
        target16 = 65535 * y
        apm1[s, c0, a1] += (target16 - np.int64(apm1[s, c0, a1])) >> APM_RATE
        apm2[s, actx, a2] += (target16 - np.int64(apm2[s, actx, a2])) >> APM_RATE
        c0 = (c0 << 1) | y
        j = (j << 1) | y
    byte = c0 & 0xFF
    hist[s, reg[s, R_POS]] = byte  # the decoder's output; the match model reads it back at once
    _end_of_byte(s, byte, mlen, hist, reg, st.mht)
    return byte


@numba.njit(inline="always", cache=True)
def _claim(hashed: np.ndarray, s: int, i: int, h: Int, mask: int) -> Int:
    """First slot of the bucket for hash h in table i: the one holding h's check value, else the
    less used of two candidates, cleared (slot 0 holds the check, slots 1-15 the nodes)."""
    check = (h >> 32) | 1
    b0 = (h & mask) << 4
    b1 = b0 ^ 16
    if hashed[s, i, b0] == check:
        return b0
    if hashed[s, i, b1] == check:
        return b1
    victim = b1 if (hashed[s, i, b1 + 1] & 1023) < (hashed[s, i, b0 + 1] & 1023) else b0
    hashed[s, i, victim] = check
    for q in range(1, 16):
        hashed[s, i, victim + q] = _HALF
    return victim


@numba.njit(inline="always", cache=True)
def _context_of(reg: np.ndarray, s: int, i: int) -> Int:
    """Hashed context i at the current byte boundary, as a 40-bit value."""
    c4 = reg[s, R_C4]
    if i == 0:
        v = c4 & 0xFFFF
    elif i == 1:
        v = c4 & 0xFFFFFF
    elif i == 2:
        v = c4
    elif i == 3:
        v = c4 | ((reg[s, R_C8] & 0xFFFF) << 32)
    elif i == 4:
        v = (reg[s, R_WORD] << 8) | (c4 & 0xFF)
    elif i == 5:
        v = c4 ^ (reg[s, R_C8] * 0x2F0B4A13)
    elif i == 6:
        v = (reg[s, R_WORD] * 0x2F0B4A13) ^ (reg[s, R_WORD1] << 8) ^ (c4 & 0xFF)
    elif i == 7:
        v = (c4 >> 8) & 0xFFFF
    elif i == 8:
        v = c4 & 0xFF00FF00
    else:
        v = (c4 >> 16) & 0xFFFF
    return _hash(v, i + 1, 40)


@numba.njit(inline="always", cache=True)
def _end_of_byte(s: int, byte: Int, mlen: int, hist: np.ndarray, reg: np.ndarray, mht: np.ndarray) -> None:
    """Shift the byte into the context registers and move the match model on."""
    pos = reg[s, R_POS] + 1
    reg[s, R_POS] = pos
    c4 = reg[s, R_C4]
    reg[s, R_C8] = ((reg[s, R_C8] << 8) | (c4 >> 24)) & 0xFFFFFFFF
    c4 = ((c4 << 8) | byte) & 0xFFFFFFFF
    reg[s, R_C4] = c4
    lower = byte | 32
    if 97 <= lower <= 122 or byte >= 128:
        reg[s, R_WORD] = ((reg[s, R_WORD] + lower + 1) * 0x3D4D51CB) & 0xFFFFFFFF
    else:
        if reg[s, R_WORD] != 0:
            reg[s, R_WORD1] = reg[s, R_WORD]
        reg[s, R_WORD] = 0
    mptr = reg[s, R_MPTR]
    if mlen > 0:
        mptr += 1
        mlen = min(mlen + 1, 65535)
    if pos >= MATCH_MIN:
        h = _hash(c4 | ((reg[s, R_C8] & 0xFFFF) << 32), 99, 40) & (mht.shape[1] - 1)
        if mlen == 0:
            cand = np.int64(mht[s, h])
            if cand > 0:
                n = 0
                while n < 64 and n < cand and hist[s, pos - 1 - n] == hist[s, cand - 1 - n]:
                    n += 1
                if n > 0:
                    mlen, mptr = n, cand
        mht[s, h] = pos
    reg[s, R_MLEN] = mlen
    reg[s, R_MPTR] = mptr


class Scratch(NamedTuple):
    """Working arrays of code_byte, allocated once per call rather than once per byte."""

    cum: np.ndarray
    """The LM table's cumulative sums (257)."""
    ctx: np.ndarray
    """The hashed contexts at this byte boundary (one per hashed table)."""
    bucket: np.ndarray
    """Each hashed context's bucket for this half-byte."""
    x: np.ndarray
    """The mixer inputs, stretched."""


@numba.njit(inline="always", cache=True)
def _scratch(n_hashed: int) -> Scratch:
    return Scratch(
        np.zeros(257, dtype=np.int64),
        np.empty(n_hashed, dtype=np.int64),
        np.empty(n_hashed, dtype=np.int64),
        np.empty(n_hashed + EXTRA_INPUTS, dtype=np.int64),
    )


@numba.njit(cache=True, nogil=True)
def run(decode: bool, s: int, start: int, end: int, hist: np.ndarray, st: MixState, co: CoderState) -> int:
    """Code bytes start..end-1 of stream s without an LM; stops early (returning the next index)
    when the encoder's output buffer has room for fewer than 24 more bytes."""
    dummy = np.zeros(1, dtype=np.int64)
    scratch = _scratch(len(st.contexts))
    for i in range(start, end):
        if not decode and co.pos[s] + 24 > co.buf.shape[1]:
            return i
        code_byte(decode, s, np.int64(hist[s, i]), dummy, False, hist, st, co, scratch)
    return end


@numba.njit(cache=True, nogil=True)
def run_lm(
    decode: bool,
    s: int,
    start: int,
    end: int,
    hist: np.ndarray,
    st: MixState,
    co: CoderState,
    lmw: compiled.LMWeights,
    lmst: compiled.LMState,
) -> int:
    """:func:`run` with the LM (weights ``lmw``, state ``lmst`` of :mod:`lmarchive.models.lm.compiled`)
    as one more input: before each byte the LM is fed the byte before it (BOS first)."""
    scratch = _scratch(len(st.contexts))
    lm_scratch = compiled.scratch(lmw)
    table = np.zeros(lmw.w_out.shape[1], dtype=np.int64)
    bos = lmw.embed.shape[0] - 1  # the embedding's last row
    for i in range(start, end):
        if not decode and co.pos[s] + 24 > co.buf.shape[1]:
            return i
        compiled.step(lmw, lmst, s, bos if i == 0 else np.int64(hist[s, i - 1]), table, lm_scratch)
        code_byte(decode, s, np.int64(hist[s, i]), table, True, hist, st, co, scratch)
    return end
