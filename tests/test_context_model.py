"""The cm2 context model: table invariants, independence of streams, fingerprint, tokenization."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from conftest import text_bytes
from hypothesis import given, settings
from hypothesis import strategies as st

from lmarchive.coding import MAX_TOTAL
from lmarchive.errors import ModelError
from lmarchive.models import ContextModel, ContextModelParams, Predictor, available_models, load_model, model_for
from lmarchive.models.base import sha256_of
from lmarchive.selftest import table_digest


def sequences_for(rng: random.Random) -> list[np.ndarray]:
    """Text, a long run of one byte (halving of counts), random bytes and a short periodic pattern."""
    model = ContextModel()
    return [
        model.tokenize(text_bytes(rng, 700)),
        model.tokenize(b"\x00" * 2500),
        model.tokenize(rng.randbytes(400)),
        model.tokenize(bytes([0xFF, 0x00, 0x80]) * 300),
    ]


def step_through(model: Predictor, sequences: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """What a decoder sees: open_batch, then frequencies/update one lock-step at a time."""
    lengths = np.array([len(s) for s in sequences])
    batch = model.open_batch(len(sequences))
    steps = []
    for position in range(int(lengths.max(initial=0))):
        streams = np.flatnonzero(lengths > position)
        symbols = np.array([int(sequences[i][position]) for i in streams], dtype=np.int64)
        steps.append((streams, batch.frequencies(streams), symbols))
        batch.update(streams, symbols)
    return steps


def test_frequencies_are_valid_tables(rng: random.Random) -> None:
    model = ContextModel()
    sequences = sequences_for(rng)
    for streams, tables, symbols in model.encode_tables(sequences):
        assert tables.dtype == np.int64
        assert tables.shape == (len(streams), model.vocab_size)
        assert tables.min() >= 1
        assert int(tables.sum(axis=1).max()) <= MAX_TOTAL
        assert symbols.dtype == np.int64


def test_frequencies_stay_valid_with_extreme_parameters(rng: random.Random) -> None:
    model = ContextModel(params=ContextModelParams(order2_bits=4, limit=60000, increment=200))
    data = [model.tokenize(b"a" * 1500 + text_bytes(rng, 500)), model.tokenize(rng.randbytes(300))]
    for _, tables, _ in model.encode_tables(data):
        assert tables.min() >= 1
        assert int(tables.sum(axis=1).max()) <= MAX_TOTAL


def test_model_learns() -> None:
    """Sanity of the fixture data: after a run of one byte, that byte is by far the likeliest."""
    model = ContextModel()
    steps = list(model.encode_tables([model.tokenize(b"q" * 300)]))
    first, last = steps[0][1][0], steps[-1][1][0]
    assert len(set(first.tolist())) == 1  # nothing seen yet: uniform
    assert last[ord("q")] > 0.9 * last.sum()


def table_hashes(steps: list[tuple[np.ndarray, np.ndarray, np.ndarray]], stream: int) -> list[str]:
    """sha256 of ``stream``'s table (int64 bytes) at every step it takes part in."""
    hashes = []
    for streams, tables, _ in steps:
        rows = np.flatnonzero(streams == stream)
        if rows.size:
            hashes.append(table_digest([tables[rows[0]]]))
    return hashes


@pytest.mark.parametrize(("batch_size", "position"), [(3, 1), (17, 11), (17, 0), (3, 2)])
def test_tables_do_not_depend_on_the_other_streams(rng: random.Random, batch_size: int, position: int) -> None:
    """The same sequence gives the same tables alone and inside batches of any size and neighbours.

    Neighbours are longer and shorter (they drop out of the lock-step at different steps).
    """
    model = ContextModel()
    target = model.tokenize(text_bytes(rng, 500))
    alone = table_hashes(step_through(model, [target]), 0)
    assert len(alone) == len(target)
    others = [model.tokenize(rng.randbytes(rng.randrange(0, 900))) for _ in range(batch_size - 1)]
    others[0] = model.tokenize(target.tobytes()[:37])  # a neighbour with the same beginning
    batch = [*others[:position], target, *others[position:]]
    hashes = table_hashes(step_through(model, batch), position)
    assert hashes == alone
    encoded = table_hashes(list(model.encode_tables(batch)), position)
    assert encoded == alone


def test_encode_tables_equals_open_batch_stepping(rng: random.Random) -> None:
    model = ContextModel()
    sequences = [*sequences_for(rng), np.zeros(0, dtype=np.int64), model.tokenize(b"x")]
    expected = step_through(model, sequences)
    got = list(model.encode_tables(sequences))
    assert len(got) == len(expected)
    for (s1, t1, y1), (s2, t2, y2) in zip(got, expected, strict=True):
        np.testing.assert_array_equal(s1, s2)
        np.testing.assert_array_equal(t1, t2)
        np.testing.assert_array_equal(y1, y2)


def test_encode_tables_of_nothing_yields_nothing() -> None:
    model = ContextModel()
    assert list(model.encode_tables([])) == []
    assert list(model.encode_tables([np.zeros(0, dtype=np.int64)])) == []


def test_fingerprint_is_stable() -> None:
    a, b = ContextModel(), ContextModel()
    assert isinstance(a.fingerprint, bytes)
    assert len(a.fingerprint) == 32
    assert a.fingerprint == b.fingerprint == load_model("cm2").fingerprint
    assert a.fingerprint == ContextModel(params=ContextModelParams()).fingerprint
    assert a.fingerprint == sha256_of(b"lmarchive.context-mix-wb/1", ContextModelParams().encode())


@pytest.mark.parametrize(
    "change", [{"order2_bits": 11}, {"order2_bits": 13}, {"limit": 4001}, {"limit": 2000}, {"increment": 1}]
)
def test_fingerprint_changes_with_every_parameter(change: dict[str, int]) -> None:
    params = dataclasses.replace(ContextModelParams(), **change)
    assert ContextModel(params=params).fingerprint != ContextModel().fingerprint


def test_different_parameters_give_different_tables() -> None:
    """The fingerprint guards something real: another limit changes the tables."""
    data = ContextModel().tokenize(b"ab" * 3000)
    default = list(ContextModel().encode_tables([data]))
    other = list(ContextModel(params=ContextModelParams(limit=500)).encode_tables([data]))
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(default, other, strict=True))


def test_registry() -> None:
    assert "cm2" in available_models()
    assert load_model("cm2") is load_model("cm2")
    model = load_model("cm2")
    assert model.name == "cm2"
    assert model_for("cm2", model.fingerprint) is model
    with pytest.raises(ModelError, match="no-such-model"):
        load_model("no-such-model")
    with pytest.raises(ModelError, match="no-such-model"):
        model_for("no-such-model", model.fingerprint)
    with pytest.raises(ModelError, match="differs"):
        model_for("cm2", bytes(32))


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=600))
def test_tokenize_detokenize_round_trip(data: bytes) -> None:
    model = ContextModel()
    symbols = model.tokenize(data)
    assert len(symbols) == len(data)
    assert all(0 <= int(s) < model.vocab_size for s in symbols)
    assert model.detokenize(symbols) == data
    assert model.detokenize(symbols.astype(np.int64)) == data
