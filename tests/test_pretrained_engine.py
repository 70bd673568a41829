"""The pretrained-model engine and the ``max`` predictor on a tiny random model of the same features.

Grouped-query attention (4 query heads over 2 key/value heads), an output layer tied to the
embedding, int8 rows from float weights as the importer makes them, a window of a few tokens so
that chunks span several windows.  What must hold: the encoder's block pass and the decoder's
one-token steps give the very same tables, whatever the batch and the thread count; chunks round
trip through both codings; a damaged LM chunk is refused.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmarchive.errors import FormatError
from lmarchive.models.base import ByteSymbols, Predictor, TickFn
from lmarchive.models.gguf_tokenizer import tokenizer_json
from lmarchive.models.pretrained import engine, model_dir, predictor, quantize, tables
from lmarchive.models.pretrained.config import LlamaConfig
from lmarchive.models.tokenizer import byte_chars

D, LAYERS, HEADS, KV_HEADS, FFN, WINDOW = 64, 2, 4, 2, 96, 12
DROPPED = (0x00, 0x41, 0xFF)  # bytes the vocabulary lacks, as SmolLM2's lacks 21
MERGES = ["h e", "l l", "Ġ t", "Ġt he", "i n", "Ġ a"]
TOKENS = [
    "<|endoftext|>",
    *(c for b, c in enumerate(byte_chars()) if b not in DROPPED),
    "he",
    "ll",
    "Ġt",
    "Ġthe",
    "in",
    "Ġa",
]
TEXT = b"In the hall the heralds call: all in, all in!\r\nThe 2,718 tellers tell the tale.\x00\xff\n" * 3


def tiny_tensors(config: LlamaConfig, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def normal(*shape: int, std: float = 0.15) -> np.ndarray:
        return rng.standard_normal(shape) * std

    out: dict[str, np.ndarray] = {}

    def put(name: str, w: np.ndarray) -> None:
        out[name], out[name + "_scale"], out[name + "_exp"] = quantize.int8_rows(w)

    kv = KV_HEADS * (D // HEADS)
    put("embed", normal(config.vocab_size, D, std=0.1))  # logits of a few units: not wildly wrong
    for i in range(LAYERS):
        p = f"layers.{i}."
        for name, shape in {"wq": (D, D), "wk": (kv, D), "wv": (kv, D), "wo": (D, D)}.items():
            put(p + name, normal(*shape))
        for name, shape in {"w1": (FFN, D), "w3": (FFN, D), "w2": (D, FFN)}.items():
            put(p + name, normal(*shape))
        out[p + "attn_gain"] = quantize.gains(1 + normal(D))
        out[p + "ffn_gain"] = quantize.gains(1 + normal(D))
    out["out_gain"] = quantize.gains(1 + normal(D))
    out.update(tables.all_tables(config.window, config.head_dim, 10000.0))
    return out


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = tokenizer_json(TOKENS, MERGES)
    config = LlamaConfig(len(TOKENS) + len(DROPPED), D, LAYERS, HEADS, KV_HEADS, FFN, WINDOW, 0)
    directory = tmp_path_factory.mktemp("models") / "tiny"
    model_dir.write_model_dir(directory, config, tiny_tensors(config), spec, "# tiny\n", "Apache-2.0\n")
    return directory


@pytest.fixture(scope="module")
def model(folder: Path) -> engine.ExactLlama:
    return engine.ExactLlama(*model_dir.load_model_dir(folder))


def block_tables(model: engine.ExactLlama, tokens: np.ndarray) -> np.ndarray:
    """Tables after each token of ``tokens`` (b, n), all positions in one forward pass."""
    x, (m, e) = model.forward(tokens, model.new_cache(len(tokens)))
    return np.stack([model.frequencies(x[i], (m[i], e[i])) for i in range(len(tokens))])


def step_tables(model: engine.ExactLlama, tokens: np.ndarray) -> np.ndarray:
    """The same, one position per call, the decoder's way."""
    cache = model.new_cache(len(tokens))
    rows = []
    for t in range(tokens.shape[1]):
        x, (m, e) = model.forward(tokens[:, t : t + 1], cache)
        rows.append(model.frequencies(x[:, 0], (m[:, 0], e[:, 0])))
    return np.stack(rows, axis=1)


def tokens_of(seed: int, b: int, vocab: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, vocab, (b, WINDOW))


def test_block_pass_and_one_token_steps_give_identical_tables(model: engine.ExactLlama) -> None:
    tokens = tokens_of(1, 3, model.config.vocab_size)
    block, steps = block_tables(model, tokens), step_tables(model, tokens)
    assert np.array_equal(block, steps)
    assert np.all(block >= 1) and np.all(block.sum(axis=-1) == engine.FREQ_TOTAL)
    assert len({hashlib.sha256(row.tobytes()).digest() for row in block.reshape(-1, block.shape[-1])}) > 30


def test_tables_do_not_depend_on_the_batch_or_the_thread_count(model: engine.ExactLlama) -> None:
    tokens = tokens_of(2, 4, model.config.vocab_size)
    together = step_tables(model, tokens)
    alone = np.concatenate([step_tables(model, tokens[i : i + 1]) for i in range(4)])
    assert np.array_equal(together, alone)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = block_tables(model, tokens)
    finally:
        numba.set_num_threads(threads)
    assert np.array_equal(together, single)


@pytest.mark.parametrize("split", [0, 5])
def test_attention_by_matrix_products_gives_the_loops_integers(model: engine.ExactLlama, split: int) -> None:
    """The encoder's long calls sum attention by matrix products; the decoder's steps by loops."""
    tokens = tokens_of(3, 2, model.config.vocab_size)
    steps = step_tables(model, tokens)
    rows, model.product_rows = model.product_rows, 2
    try:
        cache, parts = model.new_cache(2), []
        for start, stop in ((0, split), (split, WINDOW)) if split else ((0, WINDOW),):
            x, (m, e) = model.forward(tokens[:, start:stop], cache)
            parts.append(np.stack([model.frequencies(x[i], (m[i], e[i])) for i in range(2)]))
    finally:
        model.product_rows = rows
    assert np.array_equal(np.concatenate(parts, axis=1), steps)


class Inflating(ByteSymbols, Predictor):
    """A fallback that always codes larger than the input, so the LM's coding wins every chunk."""

    name = "inflating"
    chunking = (1 << 20, 16 << 20, 1)
    min_symbol_bits = 1.0
    _fingerprint = b"\1" * 32

    def encode_streams(self, sequences: Sequence[np.ndarray], tick: TickFn) -> list[bytes]:
        return [b"\0" + np.asarray(s, dtype=np.uint8).tobytes() * 2 for s in sequences]

    def decode_streams(
        self, coded: Sequence[bytes], lengths: Sequence[int], tick: TickFn, *, bounded: bool = True
    ) -> list[np.ndarray]:
        return [np.frombuffer(c[1 : 1 + n], dtype=np.uint8) for c, n in zip(coded, lengths, strict=True)]


class Storing(Inflating):
    """A fallback that stores: smaller than any LM coding of a random model."""

    def encode_streams(self, sequences: Sequence[np.ndarray], tick: TickFn) -> list[bytes]:
        return [b"\0" + np.asarray(s, dtype=np.uint8).tobytes() for s in sequences]


def max_model(folder: Path, fallback: Predictor) -> predictor.MaxPredictor:
    p = predictor.MaxPredictor("tiny", folder, fallback)
    p.min_bpt = 0.0  # the tiny vocabulary has few merges: every chunk goes to the LM
    return p


def round_trip(p: predictor.MaxPredictor, chunks: list[bytes]) -> list[bytes]:
    seqs = [np.frombuffer(c, dtype=np.uint8) for c in chunks]
    coded = p.encode_streams(seqs, lambda n: None)
    back = p.decode_streams(coded, [len(c) for c in chunks], lambda n: None)
    assert [b.tobytes() for b in back] == chunks
    return coded


def test_chunks_of_many_windows_round_trip_through_the_lm(folder: Path) -> None:
    p = max_model(folder, Inflating())
    chunks = [TEXT, TEXT[:7], TEXT[5:] * 2]
    coded = round_trip(p, chunks)
    assert all(c[0] == predictor.LM_CODED for c in coded)
    assert len(p.tokenizer.encode(TEXT)) > 3 * (WINDOW - 1)  # several windows per chunk


def test_the_smaller_coding_wins_each_chunk(folder: Path) -> None:
    chunks = [TEXT, bytes(range(256)) * 4, b"\x00" * 300]
    lm = round_trip(max_model(folder, Inflating()), chunks)
    coded = round_trip(max_model(folder, Storing()), chunks)
    assert coded == [min(a, b"\0" + c, key=len) for a, c in zip(lm, chunks, strict=True)]
    assert {c[0] for c in coded} == {0, predictor.LM_CODED}  # each coding wins somewhere


@settings(max_examples=15, deadline=None)
@given(st.binary(min_size=1, max_size=300))
def test_any_bytes_round_trip(folder: Path, data: bytes) -> None:
    round_trip(max_model(folder, Inflating()), [data])


def test_a_damaged_lm_chunk_is_refused(folder: Path) -> None:
    p = max_model(folder, Inflating())
    coded = p.encode_streams([np.frombuffer(TEXT, dtype=np.uint8)], lambda n: None)[0]
    for bad in (coded[:1], coded[:1] + b"\xff" * 12, bytes([predictor.LM_CODED]) + (10**6).to_bytes(3, "little")):
        with pytest.raises(FormatError):
            p.decode_streams([bad], [len(TEXT)], lambda n: None)


def test_the_plausibility_bound_admits_the_best_case(folder: Path) -> None:
    """A token holds at most the longest token's bytes and costs at least what its frequency leaves."""
    p = max_model(folder, Inflating())
    best_bits_per_byte = -math.log2(1 - (p.config.vocab_size - 1) / engine.FREQ_TOTAL) / max(p.tokenizer.lengths)
    assert 0 < p.min_symbol_bits <= best_bits_per_byte
