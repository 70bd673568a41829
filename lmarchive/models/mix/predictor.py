"""The mixing model as a predictor: adaptive models of the data, optionally mixed with an LM.

Each stream is coded start to finish in compiled code, streams spread over threads (the kernel
releases the GIL; how many threads: :mod:`lmarchive.models.threads`).  With an LM, the LM's
compiled one-token step runs inside the same loop, so a stream never waits for others.  Every
chunk is also coded without the LM (a small part of the time an LM step costs: see
docs/BENCHMARKS.md) and its stream starts with a flag byte saying which of the two it holds, so
the LM never makes a chunk larger.  The LM's coding goes past a chunk's first PROBE bytes only
where it made them PROBE_GAIN_PERCENT smaller than the coding without it: on data the LM does not
know (images, tables of numbers) its time buys next to nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lmarchive.coding import BatchDecoder, BatchEncoder
from lmarchive.errors import CancelledError, FormatError, ModelError
from lmarchive.models.base import ByteSymbols, Predictor, TickFn, sha256_of
from lmarchive.models.mix import kernel
from lmarchive.models.mix.params import MixParams
from lmarchive.models.mix.state import CoderState, MixState, new_state
from lmarchive.models.threads import coding_threads

if TYPE_CHECKING:
    from lmarchive.models.lm.compiled import CompiledLM
    from lmarchive.models.lm.predictor import LMPredictor  # imports torch, which the fast profile never needs

_ALGORITHM = b"lmarchive.mix/1"
_PIECE = 1 << 16
"""Bytes coded per compiled call without the LM: the interval between progress and cancel checks."""
_LM_PIECE = 1 << 12
"""The same with the LM (each byte costs an LM step, tens of microseconds)."""
LM_COST = 16
"""Work of a byte coded with the LM, in bytes coded without it (for progress and scheduling)."""
WITHOUT_LM, WITH_LM = 0, 1
"""First byte of a stream coded by a model with an LM."""
PROBE = 1 << 15
"""Bytes of a chunk coded both ways before the LM's coding of the rest is decided."""
PROBE_GAIN_PERCENT = 1
"""The LM codes a chunk's rest only where it made the first PROBE bytes this much smaller.

Measured on canterbury and calgary (docs/BENCHMARKS.md): on text the LM's gain over the first
32 KiB is 5-13% (2-9x its gain over a whole large file); on pictures and geo it is 0.0% (+-0.04%),
on kennedy.xls 0.7% (1.2% at the end, 770 bytes for a 1 MB file's LM steps); every other file
gains 2% or more."""


class MixPredictor(ByteSymbols, Predictor):
    """Context, word and match models mixed in the log-odds domain, plus an LM's prediction when given."""

    # Every bit is coded with a probability between 1/4096 and 4095/4096 (the kernel clamps it), so a
    # byte costs at least 8 * log2(4096/4095) bits; 0.1% less covers float rounding in the check.
    # Measured: 4 MiB of zero bytes, the most predictable input, code to 1,478 bytes, which the
    # bound allows 4,198,561 bytes for.
    min_symbol_bits = 8 * math.log2(4096 / 4095) * 0.999

    def __init__(
        self,
        name: str,
        params: MixParams,
        lm: LMPredictor | None = None,
        threads: int | None = None,
        probe: int = PROBE,
    ) -> None:
        if lm is not None and lm.tokenizer is not None:
            raise ModelError(f"{name!r}: the mixing model codes bytes, and {lm.name!r} predicts BPE tokens")
        self.name = name
        self.params = params
        self.lm = lm
        self.threads = threads
        """Threads that code streams at once; None: :func:`~lmarchive.models.threads.coding_threads` when coding."""
        self.probe = probe
        """A chunk's bytes coded both ways before the LM's coding goes on (see PROBE)."""
        # Whole entries up to 16 MiB in one chunk: the models learn from everything before (splitting
        # world192.txt in two for a second core cost 6%).  Threads share the files of a batch.
        self.chunking = (1 << 20, 16 << 20, 1)
        parts = [_ALGORITHM, params.encode()]
        if lm is not None:
            parts.append(lm.fingerprint)
        self._fingerprint = sha256_of(*parts)

    def _compiled_lm(self) -> CompiledLM:
        if self.lm is None:
            raise ValueError(f"{self.name} has no LM")
        return self.lm.compiled

    # -- one stream, start to finish, on a pool thread ------------------------------------------

    def _encode_one(self, seq: np.ndarray, lm: CompiledLM | None, progress: _Shared, job: int) -> bytes:
        stream = _StreamEncoder(seq, self.params, lm)
        stream.advance(len(seq), progress, job)
        return stream.finish()

    def _encode_probed(self, seq: np.ndarray, lm: CompiledLM, progress: _Shared, job: int) -> bytes | None:
        """The chunk coded with the LM, or None where its first ``probe`` bytes do not come out
        PROBE_GAIN_PERCENT smaller than without it (the rest is then never coded with the LM)."""
        stream = _StreamEncoder(seq, self.params, lm)
        if len(seq) > self.probe:
            stream.advance(self.probe, progress, job)
            alone = _StreamEncoder(seq, self.params, None)
            alone.advance(self.probe, None, job)
            if stream.coded_bytes() * 100 > alone.coded_bytes() * (100 - PROBE_GAIN_PERCENT):
                progress.done[job] = len(seq)
                return None
        stream.advance(len(seq), progress, job)
        return stream.finish()

    def _decode_one(
        self, data: bytes, length: int, bounded: bool, lm: CompiledLM | None, progress: _Shared, job: int
    ) -> np.ndarray:
        hist = np.zeros((1, length), dtype=np.uint8)
        dec = BatchDecoder([data], bounded=bounded)
        st = new_state(1, self.params)
        code = _coder(st, lm)
        piece = _PIECE if lm is None else _LM_PIECE
        for at in range(0, length, piece):
            progress.check()
            end = min(at + piece, length)
            code(True, at, end, hist, CoderState(dec.code, dec.rng, dec.pos, dec.buf))
            dec.check_end()  # the kernel reads zeros past the end; a piece later is soon enough to stop
            progress.done[job] += end - at
        return hist[0]

    def _encoding(self, seq: np.ndarray, lm: CompiledLM | None, weight: int = LM_COST) -> _Job:
        return _Job(self._encode_one, (seq, lm), len(seq), weight)

    def _decoding(self, data: bytes, length: int, bounded: bool, lm: CompiledLM | None) -> _Job:
        return _Job(self._decode_one, (data, length, bounded, lm), length, 1 if lm is None else LM_COST)

    def _parallel(self, jobs: list[_Job], tick: TickFn, symbols: int | None = None) -> list:
        """Run the jobs on threads, costliest first; meanwhile tick with the share of the work done
        (each job's bytes weighing ``weight``) times ``symbols`` (default: the jobs' sizes), so that
        progress moves at the pace of the work, whatever mix of codings it holds."""
        progress = _Shared(len(jobs))
        if not jobs:
            return []
        symbols = sum(job.size for job in jobs) if symbols is None else symbols
        work = max(sum(job.size * job.weight for job in jobs), 1)
        order = sorted(range(len(jobs)), key=lambda j: -jobs[j].cost)
        # Even one job runs on a pool thread: this thread ticks meanwhile (progress, cancel).
        threads = self.threads or coding_threads()
        with ThreadPoolExecutor(max_workers=max(1, min(threads, len(jobs)))) as pool:
            futures = {j: pool.submit(jobs[j].fn, *jobs[j].args, progress, j) for j in order}
            pending = set(futures.values())
            try:
                while pending:
                    _, pending = wait(pending, timeout=0.1)
                    tick(sum(d * job.weight for d, job in zip(progress.done, jobs, strict=True)) * symbols // work)
            except BaseException:
                progress.stop = True  # running jobs stop at their next piece
                raise
            return [futures[j].result() for j in range(len(jobs))]

    def encode_mixed(self, sequences: Sequence[np.ndarray], tick: TickFn) -> list[bytes]:
        """Every sequence coded with the LM (no flag byte)."""
        lm = self._compiled_lm()
        return self._parallel([self._encoding(s, lm) for s in sequences], tick)

    def decode_mixed(
        self, coded: Sequence[bytes], lengths: Sequence[int], tick: TickFn, *, bounded: bool = True
    ) -> list[np.ndarray]:
        """The inverse of :meth:`encode_mixed`."""
        lm = self._compiled_lm()
        return self._parallel([self._decoding(c, n, bounded, lm) for c, n in zip(coded, lengths, strict=True)], tick)

    # -- the predictor interface --------------------------------------------------------------------

    def encode_streams(self, sequences: Sequence[np.ndarray], tick: TickFn) -> list[bytes]:
        if self.lm is None:
            return self._parallel([self._encoding(s, None) for s in sequences], tick)
        # Both codings of every chunk in one pool; progress counts a byte's two codings as one
        # (the one without the LM as 1/LM_COST of it).
        jobs = [self._encoding(s, None, weight=1) for s in sequences]
        lm = self.lm.compiled
        jobs += [_Job(self._encode_probed, (s, lm), len(s), LM_COST - 1) for s in sequences]
        out = self._parallel(jobs, tick, sum(len(s) for s in sequences))
        alone, mixed = out[: len(sequences)], out[len(sequences) :]
        return [
            bytes([WITH_LM]) + m if m is not None and len(m) < len(a) else bytes([WITHOUT_LM]) + a
            for a, m in zip(alone, mixed, strict=True)
        ]

    def decode_streams(
        self, coded: Sequence[bytes], lengths: Sequence[int], tick: TickFn, *, bounded: bool = True
    ) -> list[np.ndarray]:
        if self.lm is None:
            jobs = [self._decoding(c, n, bounded, None) for c, n in zip(coded, lengths, strict=True)]
            return self._parallel(jobs, tick)
        if any(not c or c[0] not in (WITHOUT_LM, WITH_LM) for c in coded):
            raise FormatError(f"a {self.name} chunk does not start with a valid flag byte")
        # Progress follows the work: a byte of a chunk coded with the LM weighs LM_COST, one without it 1.
        jobs = [
            self._decoding(c[1:], n, bounded, self.lm.compiled if c[0] == WITH_LM else None)
            for c, n in zip(coded, lengths, strict=True)
        ]
        return self._parallel(jobs, tick)


def _coder(st: MixState, lm: CompiledLM | None) -> Callable[[bool, int, int, np.ndarray, CoderState], int]:
    """The compiled loop for one stream: (decode, start, end, hist, coder state) -> next index."""
    if lm is None:
        return lambda decode, start, end, hist, co: kernel.run(decode, 0, start, end, hist, st, co)
    lm_state = lm.new_state(1)
    return lambda decode, start, end, hist, co: kernel.run_lm(decode, 0, start, end, hist, st, co, lm.weights, lm_state)


class _StreamEncoder:
    """One stream being coded, a piece per compiled call, up to any point and then on."""

    def __init__(self, seq: np.ndarray, params: MixParams, lm: CompiledLM | None) -> None:
        self.hist = np.array(seq, dtype=np.uint8).reshape(1, -1)  # a writable copy: one compiled signature
        self.enc = BatchEncoder(1, capacity=len(seq) // 2 + 64)
        self.code = _coder(new_state(1, params), lm)
        self.piece = _PIECE if lm is None else _LM_PIECE
        self.at = 0

    def advance(self, to: int, progress: _Shared | None, job: int) -> None:
        """Code up to symbol ``to``, counting the symbols in ``progress`` (None: not counted)."""
        enc = self.enc
        while self.at < to:
            if progress is not None:
                progress.check()
            end = min(self.at + self.piece, to)
            reached = self.code(False, self.at, end, self.hist, CoderState(enc.low, enc.rng, enc.pos, enc.out))
            if reached < end:
                enc.reserve(enc.out.shape[1] * 2)
            if progress is not None:
                progress.done[job] += reached - self.at
            self.at = reached

    def coded_bytes(self) -> int:
        """Bytes out so far (the coder's pending bits not counted: alike for two codings of a prefix)."""
        return int(self.enc.pos[0])

    def finish(self) -> bytes:
        return self.enc.finish(0)


@dataclass(frozen=True)
class _Job:
    """One stream to code on a pool thread: ``fn(*args, progress, job index)``.

    ``weight``: the work of a byte, LM_COST for a byte coded with the LM (see :meth:`MixPredictor._parallel`).
    """

    fn: Callable[..., object]
    args: tuple
    """Ending with the compiled LM or None."""
    size: int
    weight: int

    @property
    def cost(self) -> int:
        """Time to code, in bytes coded without the LM."""
        return self.size * (1 if self.args[-1] is None else LM_COST)


class _Shared:
    """What the coding threads share with the caller: symbols done per job, and a stop flag."""

    def __init__(self, jobs: int) -> None:
        self.done = [0] * jobs
        self.stop = False

    def check(self) -> None:
        if self.stop:
            raise CancelledError("cancelled")
