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
    contexts: int = 6
    """Hashed contexts, each with a table of its own: the first this many of the kernel's list
    (6 to 10; see lmarchive.models.mix.kernel)."""

    def __post_init__(self) -> None:
        if not 6 <= self.contexts <= 10:
            raise ValueError(f"a mixing model has 6 to 10 hashed contexts, not {self.contexts}")

    def encode(self) -> bytes:
        text = f"hash_bits={self.hash_bits},match_bits={self.match_bits}"
        if self.contexts != 6:  # the models of six contexts keep the fingerprint they always had
            text += f",contexts={self.contexts}"
        return text.encode()


FAST_PARAMS = MixParams(hash_bits=22, match_bits=20)
"""The tables of both profiles, with and without the LM: about 110 MB per stream, one stream per thread."""
