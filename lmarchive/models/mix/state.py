"""Fresh model state for a group of streams: the arrays the kernel reads and updates.

Memory per stream is fixed by the parameters (stated in docs/FORMAT.md with each profile): six
hashed tables of 4 * 2**hash_bits bytes, the match table of 4 * 2**match_bits bytes, and about
4.6 MB of direct tables (order 1 and the order-1 probability map).
"""

from __future__ import annotations

import numpy as np

from lmarchive.models.mix.kernel import APM_BINS, MATCH_BUCKETS, N_HASHED, N_INPUTS, N_REG
from lmarchive.models.mix.logistic import SQUASH
from lmarchive.models.mix.params import MixParams

_HALF = 1 << 31  # a context map cell at probability 1/2, count 0
_WEIGHT = 1 << 14  # initial mixer weight: a quarter for every model input, none for the bias


def bytes_per_stream(params: MixParams) -> int:
    """Memory one stream's state takes."""
    direct = 4 * (256 + 65536 + 2 * MATCH_BUCKETS) + 8 * ((256 + 32) * N_INPUTS + N_REG) + 2 * APM_BINS * (256 + 65536)
    return direct + 4 * N_HASHED * (1 << params.hash_bits) + 4 * (1 << params.match_bits)


def new_state(n: int, params: MixParams) -> tuple:
    """Model state of ``n`` streams, each at the start of a chunk (the tuple layout the kernel unpacks)."""
    apm_row = (SQUASH[np.minimum((np.arange(APM_BINS) - 16) * 128 + 2048, 4095)] * 16).astype(np.uint16)
    mixw = np.full((n, 256, N_INPUTS), _WEIGHT, dtype=np.int64)
    mixw[:, :, -1] = 0
    return (
        np.full((n, 256), _HALF, dtype=np.uint32),
        np.full((n, 65536), _HALF, dtype=np.uint32),
        np.zeros((n, N_HASHED, 1 << params.hash_bits), dtype=np.uint32),  # every bucket is claimed before use
        np.full((n, 2 * MATCH_BUCKETS), _HALF, dtype=np.uint32),
        mixw,
        np.full((n, 32, N_INPUTS), _WEIGHT, dtype=np.int64) * (np.arange(N_INPUTS) < N_INPUTS - 1),
        np.tile(apm_row, (n, 256, 1)),
        np.tile(apm_row, (n, 65536, 1)),
        np.zeros((n, N_REG), dtype=np.int64),
        np.zeros((n, 1 << params.match_bits), dtype=np.int32),
    )
