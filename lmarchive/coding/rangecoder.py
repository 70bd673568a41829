"""A 64-bit range coder that advances many independent streams in lock-step.

The model hands the coder integer (cumulative, frequency, total) triples; nothing here touches a
float, so an encoder and a decoder on any machine agree bit for bit.  All state lives in numpy
uint64 arrays indexed by stream, so one call codes one symbol in every active stream: that is how
a batched language model drives it.

Arithmetic (per stream, all modulo 2**64 unless noted):

* state ``low`` (the bottom of the interval, below the bytes already written) and ``rng``;
  initially ``low = 0`` and ``rng = 2**64 - 1``.
* encode (c, f, t): ``r = rng // t``; ``low += r * c`` (a wrap-around is a carry into the bytes
  already written); ``rng = r * f``; while ``rng < 2**56``: write the top byte of ``low``,
  shift ``low`` and ``rng`` left by 8.
* finish: write the value in ``[low, low + rng)`` with the most trailing zero bytes as 8 bytes,
  then drop the trailing zero bytes of those 8 (a decoder reads zeros past the end).  The bytes
  written before the finish are all kept, so a decoder never needs more than ``FLUSH_BYTES``
  bytes past the stored ones: one that reads further is decoding damaged or hostile data, and a
  bounded decoder stops there instead of decoding zeros for as long as the chunk claims.
  Streams of format 1.0 dropped every trailing zero byte of the whole stream, so a very
  predictable tail (a run of zero bytes) was left out entirely: those decode only unbounded.

Because ``rng >= 2**56`` before each symbol and ``t <= 2**32``, ``r >= 2**24``: the code length
exceeds the ideal ``-log2(f / t)`` by at most ``t / rng <= 2**-24`` relative per symbol.
"""

from __future__ import annotations

import numpy as np

from lmarchive.errors import ChecksumError

MAX_TOTAL = 1 << 32
"""Largest frequency total a model may use."""
FLUSH_BYTES = 8
"""Bytes the encoder writes when it finishes; a decoder reads at most this far past a stream's bytes."""

_U64 = np.uint64
_TOP = _U64(1 << 56)
_FULL = _U64((1 << 64) - 1)
_SHIFT56 = _U64(56)
_SHIFT8 = _U64(8)
_ONE = _U64(1)


def _u64(values: np.ndarray | int) -> np.ndarray:
    """View model output as uint64 without ever passing through float."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "ui":
        raise TypeError(f"range coder needs integer inputs, got {arr.dtype}")
    return arr.astype(np.uint64, copy=False)


def _checked(values: np.ndarray | int) -> np.ndarray:
    """Like :func:`_u64`, refusing values outside 0..MAX_TOTAL before any wrap-around can hide them."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "ui":
        raise TypeError(f"range coder needs integer inputs, got {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() > MAX_TOTAL):
        raise ValueError("model produced an invalid frequency triple (a value outside 0..2**32)")
    return arr.astype(np.uint64, copy=False)


class BatchEncoder:
    """Encodes symbols into ``n`` independent byte streams, one symbol per active stream per step."""

    def __init__(self, n: int, capacity: int = 4096) -> None:
        self.low = np.zeros(n, dtype=np.uint64)
        self.rng = np.full(n, _FULL, dtype=np.uint64)
        self.pos = np.zeros(n, dtype=np.int64)
        self.out = np.zeros((n, max(capacity, 16)), dtype=np.uint8)

    def encode(self, streams: np.ndarray, cum: np.ndarray, freq: np.ndarray, total: np.ndarray) -> None:
        """Code one symbol in each of ``streams`` (indices), given its cumulative frequency etc."""
        streams = np.asarray(streams, dtype=np.int64)
        cum, freq, total = _checked(cum), _checked(freq), _checked(total)
        if not (np.all(freq >= 1) and np.all(cum + freq <= total)):
            raise ValueError("model produced an invalid frequency triple (freq 0, cum+freq > total, or total > 2**32)")
        self.reserve(int(self.pos[streams].max(initial=0)) + 16)
        low = self.low[streams]
        r = self.rng[streams] // total
        new_low = low + r * cum
        carried = streams[new_low < low]
        if carried.size:
            self._carry(carried)
        rng = r * freq
        # At most four renormalisation rounds: rng >= r >= 2**24 after coding.
        while True:
            small = rng < _TOP
            if not small.any():
                break
            idx = streams[small]
            lo = new_low[small]
            p = self.pos[idx]
            self.out[idx, p] = (lo >> _SHIFT56).astype(np.uint8)
            self.pos[idx] = p + 1
            new_low[small] = lo << _SHIFT8
            rng[small] = rng[small] << _SHIFT8
        self.low[streams] = new_low
        self.rng[streams] = rng

    def _carry(self, streams: np.ndarray) -> None:
        """Propagate a carry into the bytes already written (through any run of 0xFF)."""
        p = self.pos[streams] - 1
        while streams.size:
            vals = self.out[streams, p]
            self.out[streams, p] = vals + np.uint8(1)  # 0xFF wraps to 0 and carries on
            more = vals == 0xFF
            streams, p = streams[more], p[more] - 1

    def reserve(self, need: int) -> None:
        """Make room for ``need`` bytes in every stream's output buffer."""
        cap = self.out.shape[1]
        if need > cap:
            grown = np.zeros((self.out.shape[0], max(need, cap * 2)), dtype=np.uint8)
            grown[:, :cap] = self.out
            self.out = grown

    def finish(self, stream: int) -> bytes:
        """Flush one stream and return its bytes (the flush without its trailing zero bytes)."""
        low, rng = int(self.low[stream]), int(self.rng[stream])
        high = low + rng - 1
        value = high
        for k in range(8, -1, -1):  # the value in [low, high] ending in the most zero bytes
            unit = 1 << (8 * k)
            candidate = (low + unit - 1) // unit * unit
            if candidate <= high:
                value = candidate
                break
        if value >> 64:
            self._carry(np.array([stream], dtype=np.int64))
        p = int(self.pos[stream])
        flush = (value & ((1 << 64) - 1)).to_bytes(FLUSH_BYTES, "big")
        # Only the flush loses its trailing zeros: what came before stays, so the end is bounded.
        return self.out[stream, :p].tobytes() + flush.rstrip(b"\x00")


class BatchDecoder:
    """Decodes ``n`` streams produced by :class:`BatchEncoder`, in the same lock-step order.

    ``bounded`` (the default; format 1.1 and later): a stream that reads more than FLUSH_BYTES
    past its bytes raises ChecksumError at once.  Unbounded decoding (format 1.0 archives) reads
    zeros past the end for as long as the caller asks for symbols.
    """

    def __init__(self, streams: list[bytes], *, bounded: bool = True) -> None:
        n = len(streams)
        self.bounded = bounded
        width = max((len(s) for s in streams), default=0) + FLUSH_BYTES
        self.buf = np.zeros((n, width), dtype=np.uint8)
        for i, s in enumerate(streams):
            self.buf[i, : len(s)] = np.frombuffer(s, dtype=np.uint8)
        self.lengths = np.array([len(s) for s in streams], dtype=np.int64)
        head = self.buf[:, :8].astype(np.uint64)
        code = np.zeros(n, dtype=np.uint64)
        for j in range(8):
            code = (code << _SHIFT8) | head[:, j]
        self.code = code
        self.rng = np.full(n, _FULL, dtype=np.uint64)
        self.pos = np.full(n, 8, dtype=np.int64)
        self._r = np.zeros(n, dtype=np.uint64)

    def targets(self, streams: np.ndarray, total: np.ndarray) -> np.ndarray:
        """The scaled value each stream points at: the symbol is the one whose range holds it."""
        streams = np.asarray(streams, dtype=np.int64)
        total = _u64(total)
        r = self.rng[streams] // total
        self._r[streams] = r
        return np.minimum(self.code[streams] // r, total - _ONE)

    def consume(self, streams: np.ndarray, cum: np.ndarray, freq: np.ndarray) -> None:
        """Remove the decoded symbol (its cum, freq) from each stream's interval; read more bytes."""
        streams = np.asarray(streams, dtype=np.int64)
        cum, freq = _u64(cum), _u64(freq)
        r = self._r[streams]
        code = self.code[streams] - r * cum
        rng = r * freq
        while True:
            small = rng < _TOP
            if not small.any():
                break
            idx = streams[small]
            p = self.pos[idx]
            # Past the stored bytes the stream continues with zeros (the encoder dropped them).
            byte = np.where(p < self.buf.shape[1], self.buf[idx, np.minimum(p, self.buf.shape[1] - 1)], 0)
            code[small] = (code[small] << _SHIFT8) | byte.astype(np.uint64)
            self.pos[idx] = p + 1
            rng[small] = rng[small] << _SHIFT8
        self.code[streams] = code
        self.rng[streams] = rng
        self.check_end(streams)

    def check_end(self, streams: np.ndarray | None = None) -> None:
        """If bounded, raise ChecksumError when a stream has read past its bytes and the flush.

        Compiled decoders that work on these arrays directly call this between their pieces.
        """
        if not self.bounded:
            return
        rows = slice(None) if streams is None else streams
        if np.any(self.pos[rows] > self.lengths[rows] + FLUSH_BYTES):
            raise ChecksumError("a model chunk's coded data ends too early: the archive is damaged")
