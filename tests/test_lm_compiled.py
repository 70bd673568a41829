"""The compiled one-token step computes the torch engine's tables exactly.

The CPU decoder (and the mixing model) run :mod:`lmarchive.models.lm.compiled`; the encoder of an
LM-alone archive runs torch's block-parallel pass.  Any difference between the two engines would
make archives undecodable, so they are compared table by table: on the tiny reference model past
its window (32) and rope period (256), on random weights, and on the shipped model over real text.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmarchive.models.lm.compiled import CompiledLM, _matvec
from lmarchive.models.lm.config import LMConfig
from lmarchive.models.lm.exact import ExactTransformer
from lmarchive.models.lm.model_dir import load_model_dir
from lmarchive.models.lm.predictor import LMPredictor

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "lmarchive" / "data" / "selftest" / "lm-tiny-random"
SHIPPED = ROOT / "lmarchive" / "data" / "models" / "lmb-s1"


def torch_tables(engine: ExactTransformer, tokens: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return engine.forward(torch.from_numpy(tokens)[None], engine.new_cache(1), slice(0, 1))[0].numpy()


def with_bos(config: LMConfig, body: np.ndarray) -> np.ndarray:
    return np.concatenate([[config.bos], body]).astype(np.int64)


@pytest.fixture(scope="module")
def reference() -> tuple[ExactTransformer, CompiledLM]:
    config, tensors = load_model_dir(REFERENCE)
    return ExactTransformer(config, tensors), CompiledLM(config, tensors)


@pytest.mark.parametrize("length", [1, 2, 31, 32, 33, 300, 600])
def test_compiled_tables_equal_the_torch_engines(reference: tuple[ExactTransformer, CompiledLM], length: int) -> None:
    engine, compiled = reference
    tokens = with_bos(engine.config, np.random.default_rng(length).integers(0, 256, length - 1))
    assert np.array_equal(compiled.tables(tokens), torch_tables(engine, tokens))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(min_size=0, max_size=120))
def test_compiled_tables_on_any_bytes(reference: tuple[ExactTransformer, CompiledLM], body: bytes) -> None:
    engine, compiled = reference
    tokens = with_bos(engine.config, np.frombuffer(body, dtype=np.uint8))
    assert np.array_equal(compiled.tables(tokens), torch_tables(engine, tokens))


def test_random_weights_with_large_activations_agree(reference: tuple[ExactTransformer, CompiledLM]) -> None:
    """Weights and multipliers drawn at random over their whole ranges: saturating residuals,
    clamped gates and logits, peaked attention; the two engines must still agree."""
    config, tensors = load_model_dir(REFERENCE)
    rng = np.random.default_rng(11)
    changed = {}
    for name, value in tensors.items():
        if name.rsplit(".", 1)[-1] in ("wq", "wk", "wv", "wo", "w1", "w3", "w2", "w_out"):
            changed[name] = torch.from_numpy(rng.integers(-127, 128, tuple(value.shape)))
        elif name.endswith("_mult") and "score" not in name:
            changed[name] = torch.from_numpy(rng.integers(1 << 28, 1 << 30, tuple(value.shape)))
        else:
            changed[name] = value
    engine, compiled = ExactTransformer(config, changed), CompiledLM(config, changed)
    tokens = with_bos(config, rng.integers(0, 256, 299))
    expected = torch_tables(engine, tokens)
    assert len(np.unique(expected.argmax(1))) > 1, "the random model should not be constant"
    assert np.array_equal(compiled.tables(tokens), expected)


def test_products_wider_than_one_exact_float32_block_stay_exact() -> None:
    """1,500 inputs at full range sum past 2**24, where float32 can no longer hold every integer:
    the product must split its sum (as ``exact_matmul`` does) and still be exact."""
    wt = np.full((1500, 4), 127, dtype=np.float32)
    x = np.full(1500, 127, dtype=np.float32)
    x[-1] = 1  # makes the total odd: 1499 * 127**2 + 127 = 24,177,498 > 2**24
    acc, out = np.zeros(4, dtype=np.float32), np.zeros(4, dtype=np.int64)
    _matvec(wt, x, acc, out)
    assert out.tolist() == [1499 * 127 * 127 + 127] * 4


def test_decoder_batches_give_each_stream_its_own_tables(reference: tuple[ExactTransformer, CompiledLM]) -> None:
    """The CPU decoder's batch steps any subset of its streams; each stream sees only its own tokens."""
    engine, _ = reference
    lm = LMPredictor("lm-tiny-random", REFERENCE)
    rng = np.random.default_rng(3)
    bodies = [rng.integers(0, 256, n) for n in (70, 5, 40)]
    batch = lm.open_batch(3)
    got: list[list[np.ndarray]] = [[], [], []]
    for _ in range(400):  # each stream steps at its own pace, in any subset
        streams = np.array([i for i, b in enumerate(bodies) if len(got[i]) < len(b) and rng.random() < 0.6])
        if not len(streams):
            continue
        tables = batch.frequencies(streams)
        for row, i in enumerate(streams):
            got[i].append(tables[row])
        batch.update(streams, np.array([bodies[i][len(got[i]) - 1] for i in streams]))
    for i, body in enumerate(bodies):
        tokens = with_bos(engine.config, body)
        assert len(got[i]) == len(body)
        assert np.array_equal(np.array(got[i]), torch_tables(engine, tokens)[: len(body)])


def test_a_step_of_many_streams_is_split_over_threads_with_the_same_tables(
    reference: tuple[ExactTransformer, CompiledLM],
) -> None:
    engine, _ = reference
    lm = LMPredictor("lm-tiny-random", REFERENCE)
    rng = np.random.default_rng(9)
    bodies = rng.integers(0, 256, (23, 40))
    batch = lm.open_batch(23)
    got = []
    for i in range(40):
        got.append(batch.frequencies(np.arange(23)))
        batch.update(np.arange(23), bodies[:, i])
    for row in (0, 11, 22):
        expected = torch_tables(engine, with_bos(engine.config, bodies[row]))[:40]
        assert np.array_equal(np.array([g[row] for g in got]), expected)


def test_the_shipped_model_agrees_on_text() -> None:
    config, tensors = load_model_dir(SHIPPED)
    text = (ROOT / "README.md").read_bytes()[:700] + (ROOT / "lmarchive" / "codec.py").read_bytes()[:700]
    tokens = with_bos(config, np.frombuffer(text, dtype=np.uint8))
    engine = ExactTransformer(config, tensors)
    assert np.array_equal(CompiledLM(config, tensors).tables(tokens), torch_tables(engine, tokens))


def test_tables_are_valid_frequency_tables(reference: tuple[ExactTransformer, CompiledLM]) -> None:
    _, compiled = reference
    tables = compiled.tables(with_bos(compiled.config, np.arange(100) % 256))
    assert tables.min() >= 1
    assert set(tables.sum(1).tolist()) == {1 << 24}


def test_a_model_whose_exp_table_does_not_end_in_zero_is_refused() -> None:
    config, tensors = load_model_dir(REFERENCE)
    bad = dict(tensors, exp_table=tensors["exp_table"] + 1)
    with pytest.raises(ValueError, match="exp table"):
        CompiledLM(config, bad)


def test_reference_config_is_what_this_test_assumes() -> None:
    meta = json.loads((REFERENCE / "config.json").read_text())
    assert meta["window"] == 32 and meta["rope_period"] == 256
