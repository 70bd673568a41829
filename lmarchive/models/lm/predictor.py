"""The exact transformer as a :class:`Predictor`: bytes or BPE tokens (a model folder with a
``tokenizer.json``), batched KV-cache decoding, and a block-parallel pass for the encoder that
yields the very same tables.

On a CPU both directions run the compiled one-token step of :mod:`.compiled`: a torch step is
hundreds of tiny operations, and even the block-parallel torch pass was 3 times slower than the
compiled step on this project's 2-core machine.  On a GPU the encoder runs the block-parallel pass
and the decoder torch's batched step.  tests/test_lm_compiled.py holds the engines to each other.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import numpy as np
import torch

from lmarchive.errors import FormatError, ModelError
from lmarchive.models.base import PredictorBatch, TablePredictor
from lmarchive.models.lm.compiled import CompiledLM, step_streams
from lmarchive.models.lm.convert import fingerprint, load_model_dir
from lmarchive.models.lm.exact import Cache, ExactTransformer, LMConfig
from lmarchive.models.tokenizer import TOKENIZER_FILE, BpeTokenizer

TABLE_BUDGET = 1 << 24
"""Table cells (streams x positions x vocabulary) the encoder computes at once (128 MiB int64)."""
MAX_THREADS = 4
STREAMS_PER_THREAD = 4
"""A decoding step's streams go to several threads only in groups of at least this many (a
compiled step takes tens of microseconds, a hand-off to a thread about as long)."""
ATTENTION_BUDGET = 1 << 22
"""Attention scores (streams x heads x positions x slots) per encoder pass: beyond a few MB the
integer softmax runs from main memory instead of cache."""


def encoder_block(config: LMConfig, streams: int) -> int:
    """Positions per encoder pass for ``streams`` streams: as many as the budgets allow.

    Every position attends over the ring (window slots) plus its own block, so long blocks
    also waste work on masked slots.
    """
    n = min(config.window, TABLE_BUDGET // max(1, streams * config.vocab_size))
    while n > 1 and streams * config.n_heads * n * (config.window + n) > ATTENTION_BUDGET:
        n //= 2
    return max(1, n)


def _rows(streams: np.ndarray) -> slice | torch.Tensor:
    """A slice when the streams are 0..k-1 (a view of the cache, no copy), else an index tensor."""
    k = len(streams)
    if k and streams[0] == 0 and streams[-1] == k - 1 and np.all(np.diff(streams) == 1):
        return slice(0, k)
    return torch.as_tensor(streams, dtype=torch.int64)


class LMPredictor(TablePredictor):
    """A model directory (see :mod:`convert`) loaded onto a device."""

    def __init__(self, name: str, directory: Path, device: str = "cpu") -> None:
        self.name = name
        self.directory = directory
        self.tokenizer: BpeTokenizer | None = None
        try:
            config, tensors = load_model_dir(directory)
            if (directory / TOKENIZER_FILE).is_file():
                self.tokenizer = BpeTokenizer(directory / TOKENIZER_FILE)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"model {name!r} in {directory} cannot be loaded: {exc}") from None
        vocab = 256 if self.tokenizer is None else self.tokenizer.vocab_size
        if config.vocab_size != vocab:
            raise ModelError(f"model {name!r}: {config.vocab_size} outputs for a vocabulary of {vocab} symbols")
        self.config = config
        self.vocab_size = vocab
        self.engine = ExactTransformer(config, tensors, device)
        self.compiled = CompiledLM(config, tensors)
        self._fingerprint = fingerprint(directory)

    @property
    def fingerprint(self) -> bytes:
        return self._fingerprint

    def tokenize(self, data: bytes) -> np.ndarray:
        if self.tokenizer is None:
            return np.frombuffer(data, dtype=np.uint8)
        ids = self.tokenizer.encode(data)
        try:
            same = self.tokenizer.decode(ids) == data  # cannot differ with every byte a token; never risk it
        except ValueError:
            same = False
        if not same:
            raise ModelError(f"model {self.name!r}: its tokenizer does not reproduce the input")
        return ids

    def decoded_size(self, symbols: np.ndarray) -> int:
        if self.tokenizer is None:
            return super().decoded_size(symbols)
        try:
            return self.tokenizer.decoded_size(symbols)
        except ValueError:
            raise FormatError("a chunk decodes to symbols outside the model's vocabulary") from None

    def detokenize(self, symbols: np.ndarray) -> bytes:
        if self.tokenizer is None:
            return np.asarray(symbols, dtype=np.uint8).tobytes()
        return self.tokenizer.decode(symbols)

    def open_batch(self, n: int) -> PredictorBatch:
        if self.engine.device.type == "cpu":
            return _CompiledBatch(self.compiled, n)
        return _TorchBatch(self.engine, n)

    def encode_tables(self, sequences: Sequence[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        if self.engine.device.type == "cpu":
            return super().encode_tables(sequences)
        return self.parallel_tables(sequences)

    def parallel_tables(self, sequences: Sequence[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Blocks of positions for all streams at once in torch; yields the tables the decoder will compute."""
        if not sequences:
            return
        engine = self.engine
        order = np.array(sorted(range(len(sequences)), key=lambda i: -len(sequences[i])), dtype=np.int64)
        lengths = np.array([len(sequences[i]) for i in order], dtype=np.int64)
        inputs = np.full((len(order), int(lengths[0]) + 1), engine.config.bos, dtype=np.int64)
        for row, i in enumerate(order):
            inputs[row, 1 : lengths[row] + 1] = sequences[i]
        cache = engine.new_cache(len(order))
        start = 0
        with torch.no_grad():
            while start < lengths[0]:
                k = int(np.count_nonzero(lengths > start))
                n = encoder_block(engine.config, k)
                end = min(start + n, int(lengths[0]))
                tokens = torch.from_numpy(inputs[:k, start:end]).to(engine.device)
                tables = engine.forward(tokens, cache, slice(0, k)).cpu().numpy()
                for i in range(tokens.shape[1]):
                    active = int(np.count_nonzero(lengths > start + i))
                    yield order[:active], tables[:active, i], inputs[:active, start + i + 1]
                start += tokens.shape[1]


class _CompiledBatch(PredictorBatch):
    """Incremental decoding on the CPU: the compiled step, stream after stream, the streams of a
    step split over threads when there are enough of them (the step releases the GIL)."""

    def __init__(self, model: CompiledLM, n: int) -> None:
        self.model = model
        self.state = model.new_state(n)
        self.pending = np.full(n, model.config.bos, dtype=np.int64)

    def frequencies(self, streams: np.ndarray) -> np.ndarray:
        streams = np.ascontiguousarray(streams, dtype=np.int64)
        out = np.empty((len(streams), self.model.config.vocab_size), dtype=np.int64)
        tokens = self.pending[streams]
        parts = min(_threads(), len(streams) // STREAMS_PER_THREAD)
        if parts <= 1:
            step_streams(self.model.weights, self.state, streams, tokens, out)
            return out
        bounds = np.linspace(0, len(streams), parts + 1).astype(int)
        done = [
            _pool().submit(step_streams, self.model.weights, self.state, streams[a:b], tokens[a:b], out[a:b])
            for a, b in itertools.pairwise(bounds)
        ]
        for future in done:
            future.result()
        return out

    def update(self, streams: np.ndarray, symbols: np.ndarray) -> None:
        self.pending[streams] = symbols


def _threads() -> int:
    return min(MAX_THREADS, os.cpu_count() or 1)


@cache
def _pool() -> ThreadPoolExecutor:
    """One pool for every decoder in the process: batches come and go, threads stay."""
    return ThreadPoolExecutor(_threads(), thread_name_prefix="lm-step")


class _TorchBatch(PredictorBatch):
    """Incremental decoding on a GPU: one token per stream per step through the KV cache."""

    def __init__(self, engine: ExactTransformer, n: int) -> None:
        self.engine = engine
        self.cache: Cache = engine.new_cache(n)
        self.pending = np.full(n, engine.config.bos, dtype=np.int64)

    def frequencies(self, streams: np.ndarray) -> np.ndarray:
        """Streams left out of a step must never come back: the cache moves in lock-step."""
        tokens = torch.from_numpy(self.pending[streams][:, None]).to(self.engine.device)
        with torch.no_grad():
            tables = self.engine.forward(tokens, self.cache, _rows(np.asarray(streams)))
        return tables[:, 0].cpu().numpy()

    def update(self, streams: np.ndarray, symbols: np.ndarray) -> None:
        self.pending[streams] = symbols
