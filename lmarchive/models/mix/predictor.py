"""The mixing model as a predictor: adaptive models of the data, optionally mixed with an LM.

Without an LM each stream is coded start to finish in compiled code, streams spread over threads.
With an LM the streams advance in lock-step, in groups, because the LM (batched over streams) must
see each decoded byte before it can predict the next one.  With an LM every chunk is also coded
without it (large tables, fast to decode) and its stream starts with a flag byte saying which of
the two it holds, so the LM never makes a chunk larger and data it does not help stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from lmarchive.coding import BatchDecoder, BatchEncoder
from lmarchive.errors import CancelledError, FormatError
from lmarchive.models.base import TICK_EVERY, ByteSymbols, Predictor, TablePredictor, TickFn, sha256_of
from lmarchive.models.mix import kernel
from lmarchive.models.mix.state import MixParams, new_state

_ALGORITHM = b"lmarchive.mix/1"
_PIECE = 1 << 16
"""Bytes coded per compiled call without an LM: the interval between ticks."""
LM_MAX_CHUNK = 16 << 10
"""The encoder tries the LM only on chunks up to this size.  Decoding with the LM advances one byte
per model step (several milliseconds on this 2-core machine, whatever the number of streams up to
16), so longer chunks would take minutes to extract; they are coded without it, and the LM serves
the small files where a prior matters most.  An encoder choice only: decoders just read the flag."""
MAX_LOCKSTEP = 16
"""Streams coded together with an LM: bounds memory (16 x the state of ``params``)."""
WITHOUT_LM, WITH_LM = 0, 1
"""First byte of a stream coded by a model with an LM."""


class MixPredictor(ByteSymbols, Predictor):
    """Context, word and match models mixed in the log-odds domain, plus an LM's prediction when given."""

    def __init__(
        self,
        name: str,
        params: MixParams,
        lm: TablePredictor | None = None,
        threads: int | None = None,
        fallback: MixParams | None = None,
    ) -> None:
        """``fallback``: the parameters of the coding without the LM (default: ``params``)."""
        if lm is not None and lm.vocab_size != 256:
            raise ValueError("the mixing model needs a byte-level LM")
        self.name = name
        self.params = params
        self.lm = lm
        self.threads = threads or min(4, os.cpu_count() or 1)
        # Whole entries up to 16 MiB in one chunk: the models learn from everything before (splitting
        # world192.txt in two for a second core cost 6%).  Threads share the files of a batch.
        self.chunking = (1 << 20, 16 << 20, 1)
        self.alone = None if lm is None else MixPredictor(name, fallback or params, None, threads)
        parts = [_ALGORITHM, params.encode()]
        if lm is not None and self.alone is not None:
            parts += [lm.fingerprint, self.alone.params.encode()]
        self._fingerprint = sha256_of(*parts)

    # -- without an LM: one stream at a time per thread ------------------------------------------

    def _encode_one(self, seq: np.ndarray, progress: _Shared, job: int) -> bytes:
        hist = np.array(seq, dtype=np.uint8).reshape(1, -1)  # a writable copy: one compiled signature
        enc = BatchEncoder(1, capacity=len(seq) // 2 + 64)
        st = new_state(1, self.params)
        at = 0
        while at < len(seq):
            progress.check()
            end = min(at + _PIECE, len(seq))
            reached = kernel.run(False, 0, at, end, hist, st, (enc.low, enc.rng, enc.pos, enc.out))
            if reached < end:
                enc.reserve(enc.out.shape[1] * 2)
            progress.done[job] += reached - at
            at = reached
        return enc.finish(0)

    def _decode_one(self, data: bytes, length: int, progress: _Shared, job: int) -> np.ndarray:
        hist = np.zeros((1, length), dtype=np.uint8)
        dec = BatchDecoder([data])
        st = new_state(1, self.params)
        for at in range(0, length, _PIECE):
            progress.check()
            end = min(at + _PIECE, length)
            kernel.run(True, 0, at, end, hist, st, (dec.code, dec.rng, dec.pos, dec.buf))
            progress.done[job] += end - at
        return hist[0]

    def _parallel(self, jobs: list[tuple], tick: TickFn) -> list:
        """Run the per-stream jobs on threads (the kernel releases the GIL), ticking meanwhile."""
        progress = _Shared(len(jobs))
        if not jobs:
            return []
        # Even one job runs on a pool thread: this thread ticks meanwhile (progress, cancel).
        with ThreadPoolExecutor(max_workers=max(1, min(self.threads, len(jobs)))) as pool:
            futures = [pool.submit(fn, *args, progress, j) for j, (fn, *args) in enumerate(jobs)]
            pending = set(futures)
            try:
                while pending:
                    _, pending = wait(pending, timeout=0.1)
                    tick(sum(progress.done))
            except BaseException:
                progress.stop = True  # running jobs stop at their next piece
                raise
            return [f.result() for f in futures]

    # -- with an LM: lock-step ----------------------------------------------------------------------

    def _encode_with_lm(self, lm: TablePredictor, sequences: Sequence[np.ndarray], tick: TickFn) -> list[bytes]:
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        hist = np.zeros((len(sequences), int(lengths.max(initial=0))), dtype=np.uint8)
        for i, seq in enumerate(sequences):
            hist[i, : len(seq)] = seq
        enc = BatchEncoder(len(sequences), capacity=int(lengths.max(initial=0)) // 2 + 64)
        st = new_state(len(sequences), self.params)
        for at, (streams, tables, _) in enumerate(lm.encode_tables(sequences)):
            if int(enc.pos.max()) + 24 > enc.out.shape[1]:
                enc.reserve(enc.out.shape[1] * 2)
            co = (enc.low, enc.rng, enc.pos, enc.out)
            kernel.step(False, np.ascontiguousarray(streams), at, _int64(tables), hist, st, co)
            if at % TICK_EVERY == 0:
                tick(int(np.minimum(lengths, at).sum()))
        return [enc.finish(i) for i in range(len(sequences))]

    def _decode_with_lm(
        self, lm: TablePredictor, coded: Sequence[bytes], lengths: Sequence[int], tick: TickFn
    ) -> list[np.ndarray]:
        order = sorted(range(len(coded)), key=lambda i: -lengths[i])
        ordered = np.array([lengths[i] for i in order], dtype=np.int64)
        dec = BatchDecoder([coded[i] for i in order])
        co = (dec.code, dec.rng, dec.pos, dec.buf)
        st = new_state(len(order), self.params)
        batch = lm.open_batch(len(order))
        hist = np.zeros((len(order), int(ordered.max(initial=0))), dtype=np.uint8)
        active = len(order)
        for at in range(hist.shape[1]):
            while active and ordered[active - 1] <= at:
                active -= 1
            streams = np.arange(active)
            kernel.step(True, streams, at, _int64(batch.frequencies(streams)), hist, st, co)
            batch.update(streams, hist[:active, at].astype(np.int64))
            if at % TICK_EVERY == 0:
                tick(int(np.minimum(ordered, at).sum()))
        result: list[np.ndarray] = [hist[0, :0]] * len(order)
        for row, i in enumerate(order):
            result[i] = hist[row, : ordered[row]]
        return result

    # -- the predictor interface --------------------------------------------------------------------

    def encode_mixed(self, sequences: Sequence[np.ndarray], tick: TickFn) -> list[bytes]:
        """Every sequence coded with the LM (no flag byte), in lock-step groups."""
        if self.lm is None:
            raise ValueError(f"{self.name} has no LM")
        coded: list[bytes] = [b""] * len(sequences)
        offset = 0
        for group in _groups([len(s) for s in sequences]):
            members = [sequences[i] for i in group]
            out = self._encode_with_lm(self.lm, members, lambda done, base=offset: tick(base + done))
            for i, data in zip(group, out, strict=True):
                coded[i] = data
            offset += sum(len(m) for m in members)
        return coded

    def decode_mixed(self, coded: Sequence[bytes], lengths: Sequence[int], tick: TickFn) -> list[np.ndarray]:
        """The inverse of :meth:`encode_mixed`."""
        if self.lm is None:
            raise ValueError(f"{self.name} has no LM")
        result: list[np.ndarray] = [np.zeros(0, dtype=np.uint8)] * len(coded)
        offset = 0
        for group in _groups(lengths):
            out = self._decode_with_lm(
                self.lm, [coded[i] for i in group], [lengths[i] for i in group], lambda d, base=offset: tick(base + d)
            )
            for i, data in zip(group, out, strict=True):
                result[i] = data
            offset += sum(lengths[i] for i in group)
        return result

    def encode_streams(self, sequences: Sequence[np.ndarray], tick: TickFn) -> list[bytes]:
        if self.alone is None:
            return self._parallel([(self._encode_one, s) for s in sequences], tick)
        total = sum(len(s) for s in sequences)
        # Progress: the pass without the LM is the quick eighth of the work.
        alone = self.alone.encode_streams(sequences, lambda done: tick(done // 8))
        short = [i for i, s in enumerate(sequences) if len(s) <= LM_MAX_CHUNK]
        mixed = dict(
            zip(short, self.encode_mixed([sequences[i] for i in short], lambda d: tick(total // 8 + d)), strict=True)
        )
        return [
            bytes([WITH_LM]) + mixed[i] if i in mixed and len(mixed[i]) < len(a) else bytes([WITHOUT_LM]) + a
            for i, a in enumerate(alone)
        ]

    def decode_streams(self, coded: Sequence[bytes], lengths: Sequence[int], tick: TickFn) -> list[np.ndarray]:
        if self.alone is None:
            return self._parallel([(self._decode_one, c, n) for c, n in zip(coded, lengths, strict=True)], tick)
        if any(not c or c[0] not in (WITHOUT_LM, WITH_LM) for c in coded):
            raise FormatError(f"a {self.name} chunk does not start with a valid flag byte")
        result: list[np.ndarray] = [np.zeros(0, dtype=np.uint8)] * len(coded)
        parts = [[i for i, c in enumerate(coded) if c[0] == flag] for flag in (WITHOUT_LM, WITH_LM)]
        alone_done = sum(lengths[i] for i in parts[0])
        decoders = (
            (self.alone.decode_streams, tick),
            (self.decode_mixed, lambda done: tick(alone_done + done)),
        )
        for members, (decode, part_tick) in zip(parts, decoders, strict=True):
            decoded = decode([coded[i][1:] for i in members], [lengths[i] for i in members], part_tick)
            for i, data in zip(members, decoded, strict=True):
                result[i] = data
        return result


def _groups(lengths: Sequence[int]) -> list[list[int]]:
    """Indices in lock-step groups of at most MAX_LOCKSTEP, longest first (similar lengths together)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[k : k + MAX_LOCKSTEP] for k in range(0, len(order), MAX_LOCKSTEP)]


class _Shared:
    """What the coding threads share with the caller: symbols done per job, and a stop flag."""

    def __init__(self, jobs: int) -> None:
        self.done = [0] * jobs
        self.stop = False

    def check(self) -> None:
        if self.stop:
            raise CancelledError("cancelled")


def _int64(tables: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(tables, dtype=np.int64)
