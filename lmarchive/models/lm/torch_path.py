"""The torch side of the LM predictor: the block-parallel encoder pass and the incremental decoder
on a GPU (or on the CPU, where tests hold it to the compiled step).  Imported only when a torch
path runs, so a CPU archive job never loads torch (about a second of start-up)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from lmarchive.models.base import PredictorBatch
from lmarchive.models.lm.config import LMConfig
from lmarchive.models.lm.exact import Cache, ExactTransformer

TABLE_BUDGET = 1 << 24
"""Table cells (streams x positions x vocabulary) the encoder computes at once (128 MiB int64)."""
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


def parallel_tables(
    engine: ExactTransformer, sequences: Sequence[np.ndarray]
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Blocks of positions for all streams at once; yields the tables the decoder will compute."""
    if not sequences:
        return
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


class TorchBatch(PredictorBatch):
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
