"""The mixing model's parameters: table sizes, part of the model's identity (and fingerprint)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MixParams:
    """Everything besides the code that determines the probabilities; all of it is fingerprinted."""

    hash_bits: int = 22
    """log2 of the slots of each of the six hashed context tables (4 bytes each)."""
    match_bits: int = 20
    """log2 of the slots of the match model's table of earlier positions (4 bytes each)."""

    def encode(self) -> bytes:
        return f"hash_bits={self.hash_bits},match_bits={self.match_bits}".encode()


FAST_PARAMS = MixParams(hash_bits=22, match_bits=20)
"""Without an LM one stream per thread is in memory: large tables (about 110 MB per stream)."""
LM_MIX_PARAMS = MixParams(hash_bits=20, match_bits=20)
"""With an LM every stream of a lock-step group (up to 16) is in memory: smaller tables (about 34 MB each)."""
