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
"""The tables of both profiles, with and without the LM: about 110 MB per stream, one stream per thread."""
