"""Fresh model state for a group of streams: the arrays the kernel reads and updates.

Memory per stream is fixed by the parameters (stated in docs/FORMAT.md with each profile): a
hashed table of 4 * 2**hash_bits bytes per context (six today), the match table of 4 * 2**match_bits bytes, and about
4.6 MB of direct tables (order 1 and the order-1 probability map).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lmarchive.models.mix.kernel import APM_BINS, EXTRA_INPUTS, MATCH_BUCKETS, N_REG
from lmarchive.models.mix.logistic import SQUASH
from lmarchive.models.mix.params import MixParams

_HALF = 1 << 31  # a context map cell at probability 1/2, count 0
_WEIGHT = 1 << 14  # initial mixer weight: a quarter for every model input, none for the bias


def bytes_per_stream(params: MixParams) -> int:
    """Memory one stream's state takes."""
    inputs = params.contexts + EXTRA_INPUTS
    direct = 4 * (256 + 65536 + 2 * MATCH_BUCKETS) + 8 * ((256 + 32) * inputs + N_REG) + 2 * APM_BINS * (256 + 65536)
    return direct + 4 * params.contexts * (1 << params.hash_bits) + 4 * (1 << params.match_bits)


class MixState(NamedTuple):
    """What the kernel learns as it codes: every array indexed by stream first."""

    o0: np.ndarray
    """Order-0 context map (stream, partial byte) uint32: 22-bit probability, 10-bit count."""
    o1: np.ndarray
    """Order-1 context map (stream, previous byte << 8 | partial byte) uint32."""
    hashed: np.ndarray
    """The hashed context maps (stream, context, slot) uint32, in buckets of 16 slots."""
    msm: np.ndarray
    """The match model's context map (stream, match length bucket * 2 + expected bit) uint32."""
    mixw: np.ndarray
    """First mixer's weights (stream, partial byte, input) int64."""
    mixw2: np.ndarray
    """Second mixer's weights (stream, match state * 8 + bit position, input) int64."""
    apm1: np.ndarray
    """Probability map on the partial byte (stream, partial byte, bin) uint16."""
    apm2: np.ndarray
    """Probability map on the previous byte and the partial byte (stream, context, bin) uint16."""
    reg: np.ndarray
    """Scalar registers (stream, R_*) int64: context hashes, match pointer and length, position."""
    mht: np.ndarray
    """The match model's table of earlier positions (stream, hash of the last 6 bytes) int32."""
    contexts: tuple[int, ...]
    """The hashed contexts in use, 0 .. n-1: a tuple, so that numba compiles the kernel for its
    length, and the loops over the contexts run as fast as with a constant count."""


class CoderState(NamedTuple):
    """The range coder's arrays the kernel codes with (those of lmarchive.coding's batch coders)."""

    low: np.ndarray
    rng: np.ndarray
    pos: np.ndarray
    """Next byte of ``buf`` to write (encoder) or read (decoder), per stream."""
    buf: np.ndarray
    """The coded bytes (stream, byte)."""


def new_state(n: int, params: MixParams) -> MixState:
    """Model state of ``n`` streams, each at the start of a chunk."""
    apm_row = (SQUASH[np.minimum((np.arange(APM_BINS) - 16) * 128 + 2048, 4095)] * 16).astype(np.uint16)
    inputs = params.contexts + EXTRA_INPUTS
    mixw = np.full((n, 256, inputs), _WEIGHT, dtype=np.int64)
    mixw[:, :, -1] = 0
    return MixState(
        o0=np.full((n, 256), _HALF, dtype=np.uint32),
        o1=np.full((n, 65536), _HALF, dtype=np.uint32),
        # every bucket of the hashed tables is claimed before use
        hashed=np.zeros((n, params.contexts, 1 << params.hash_bits), dtype=np.uint32),
        msm=np.full((n, 2 * MATCH_BUCKETS), _HALF, dtype=np.uint32),
        mixw=mixw,
        mixw2=np.full((n, 32, inputs), _WEIGHT, dtype=np.int64) * (np.arange(inputs) < inputs - 1),
        apm1=np.tile(apm_row, (n, 256, 1)),
        apm2=np.tile(apm_row, (n, 65536, 1)),
        reg=np.zeros((n, N_REG), dtype=np.int64),
        mht=np.zeros((n, 1 << params.match_bits), dtype=np.int32),
        contexts=tuple(range(params.contexts)),
    )
