"""The exact transformer as a :class:`Predictor`: bytes or BPE tokens (a model folder with a
``tokenizer.json``), batched KV-cache decoding, and a block-parallel pass for the encoder that
yields the very same tables.

On a CPU both directions run the compiled one-token step of :mod:`.compiled`: a torch step is
hundreds of tiny operations, and even torch's block-parallel pass is much slower than the
compiled step (docs/BENCHMARKS.md, "The exact transformer: speed").  On a GPU the encoder runs the
block-parallel pass and the decoder torch's batched step.  tests/test_lm_compiled.py holds the
engines to each other.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lmarchive.errors import FormatError, ModelError
from lmarchive.models.base import PredictorBatch, TablePredictor
from lmarchive.models.lm.compiled import CompiledLM, step_streams
from lmarchive.models.lm.model_dir import fingerprint, load_model_dir
from lmarchive.models.threads import coding_threads
from lmarchive.models.tokenizer import TOKENIZER_FILE, BpeTokenizer

if TYPE_CHECKING:
    from lmarchive.models.lm.exact import ExactTransformer

STREAMS_PER_THREAD = 4
"""A decoding step's streams go to several threads only in groups of at least this many (a
compiled step takes tens of microseconds, a hand-off to a thread about as long)."""


class LMPredictor(TablePredictor):
    """A model directory (see :mod:`.model_dir`) loaded onto a device."""

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
        self.device = device
        self.on_cpu = device.split(":")[0] == "cpu"
        self._tensors = tensors
        self.compiled = CompiledLM(config, tensors)
        if not self.on_cpu:
            self.engine  # noqa: B018 - built now: a bad device fails here, not mid-job
        self._fingerprint = fingerprint(directory)

    @cached_property
    def engine(self) -> ExactTransformer:
        """The torch engine on ``device``: the GPU path, and the CPU's check of the compiled one.
        Built on first use, so the CPU path never imports torch."""
        from lmarchive.models.lm.exact import ExactTransformer

        return ExactTransformer(self.config, self._tensors, self.device)

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
        if self.on_cpu:
            return _CompiledBatch(self.compiled, n)
        from lmarchive.models.lm.torch_path import TorchBatch

        return TorchBatch(self.engine, n)

    def encode_tables(self, sequences: Sequence[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        if self.on_cpu:
            return super().encode_tables(sequences)
        return self.parallel_tables(sequences)

    def parallel_tables(self, sequences: Sequence[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Blocks of positions for all streams at once in torch; yields the tables the decoder will compute."""
        from lmarchive.models.lm.torch_path import parallel_tables

        return parallel_tables(self.engine, sequences)


class _CompiledBatch(PredictorBatch):
    """Incremental decoding on the CPU: the compiled step, stream after stream, the streams of a
    step split over threads when there are enough of them (the step releases the GIL; how many
    threads: :mod:`lmarchive.models.threads`)."""

    def __init__(self, model: CompiledLM, n: int) -> None:
        self.model = model
        self.state = model.new_state(n)
        self.pending = np.full(n, model.config.bos, dtype=np.int64)

    def frequencies(self, streams: np.ndarray) -> np.ndarray:
        streams = np.ascontiguousarray(streams, dtype=np.int64)
        out = np.empty((len(streams), self.model.config.vocab_size), dtype=np.int64)
        tokens = self.pending[streams]
        threads = coding_threads()
        parts = min(threads, len(streams) // STREAMS_PER_THREAD)
        if parts <= 1:
            step_streams(self.model.weights, self.state, streams, tokens, out)
            return out
        bounds = np.linspace(0, len(streams), parts + 1).astype(int)
        done = [
            _pool(threads).submit(step_streams, self.model.weights, self.state, streams[a:b], tokens[a:b], out[a:b])
            for a, b in itertools.pairwise(bounds)
        ]
        for future in done:
            future.result()
        return out

    def update(self, streams: np.ndarray, symbols: np.ndarray) -> None:
        self.pending[streams] = symbols


@cache
def _pool(threads: int) -> ThreadPoolExecutor:
    """One pool of ``threads`` threads for every decoder in the process: batches come and go,
    threads stay (a new limit gets a pool of its own)."""
    return ThreadPoolExecutor(threads, thread_name_prefix="lm-step")
