"""The mixing model (cmx): exact round trips, independence of how streams are grouped, pinned
streams (an archive made today must decode forever), the LM-mixed path, and cancel."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import no_tick
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmarchive import selftest
from lmarchive.errors import CancelledError, FormatError, ModelError
from lmarchive.models import registry
from lmarchive.models.lm.predictor import LMPredictor
from lmarchive.models.mix import predictor as predictor_module
from lmarchive.models.mix.params import FAST_PARAMS, MixParams
from lmarchive.models.mix.predictor import MixPredictor

SMALL = MixParams(hash_bits=16, match_bits=14)
REFERENCE_LM = Path(__file__).resolve().parent.parent / "lmarchive" / "data" / "selftest" / "lm-tiny-random"


def roundtrip(model: MixPredictor, payloads: list[bytes]) -> list[bytes]:
    coded = model.encode_streams([model.tokenize(p) for p in payloads], no_tick)
    back = model.decode_streams(coded, [len(p) for p in payloads], no_tick)
    assert [model.detokenize(b) for b in back] == payloads
    return coded


def kinds(rng: random.Random) -> list[bytes]:
    """Data of every kind the models treat differently: text, repeats, binary, constant, tiny."""
    words = [b"alpha", b"beta", b"gamma", b"delta", b"\xc3\xa9t\xc3\xa9", b"x" * 20]
    text = b" ".join(rng.choice(words) for _ in range(3000))
    block = rng.randbytes(5000)
    return [
        text,
        block * 4,  # long matches
        rng.randbytes(20_000),  # incompressible
        bytes(30_000),  # one symbol
        b"\xff" * 9000,  # carries through runs of 0xFF in the coder
        b"a",
        bytes(range(256)) * 7,
    ]


@pytest.fixture(scope="module")
def fast() -> MixPredictor:
    return MixPredictor("cmx", SMALL, threads=1)


def test_round_trips_every_kind_of_data(fast: MixPredictor) -> None:
    payloads = kinds(random.Random(1))
    coded = roundtrip(fast, payloads)
    text, repeated, noise, zeros = coded[0], coded[1], coded[2], coded[3]
    assert len(text) < len(payloads[0]) // 3
    assert len(repeated) < 5000 * 1.05 + 2000  # the three repeats cost little: the match model
    assert len(noise) <= 20_000 * 1.05  # the archive stores such chunks; the model itself costs a little
    assert len(zeros) < 200


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(min_size=1, max_size=3000), min_size=1, max_size=4))
def test_round_trips_any_bytes(payloads: list[bytes]) -> None:
    roundtrip(MixPredictor("cmx", SMALL, threads=1), payloads)


def test_streams_do_not_depend_on_grouping_or_threads() -> None:
    payloads = kinds(random.Random(2))
    alone = [roundtrip(MixPredictor("cmx", SMALL, threads=1), [p])[0] for p in payloads]
    together = roundtrip(MixPredictor("cmx", SMALL, threads=3), payloads)
    assert together == alone


def test_parameters_change_the_fingerprint_and_the_stream() -> None:
    payload = kinds(random.Random(3))[0]
    # Tables small enough to overflow on this text, so their size shows in the predictions.
    a, b = MixPredictor("cmx", MixParams(8, 14)), MixPredictor("cmx", MixParams(9, 14))
    assert a.fingerprint != b.fingerprint
    assert roundtrip(a, [payload]) != roundtrip(b, [payload])


def test_the_shipped_stream_is_pinned() -> None:
    """The selftest's golden streams: a change here means old archives no longer decode."""
    coded, back = selftest.cmx_stream(False)
    assert hashlib.sha256(coded).hexdigest() == selftest.CMX_SAMPLE_SHA256
    assert back == selftest.sample_text()


def test_the_lm_mixed_stream_is_pinned(mixed: MixPredictor) -> None:
    coded, back = selftest.cmx_stream(True)
    assert hashlib.sha256(coded).hexdigest() == selftest.CMX_LM_SAMPLE_SHA256
    assert back == selftest.sample_text(1500)


@pytest.fixture(scope="module")
def mixed() -> MixPredictor:
    return MixPredictor("cmx+lm-tiny-random", SMALL, LMPredictor("lm-tiny-random", REFERENCE_LM))


def test_lm_mixed_round_trips_streams_of_different_lengths(mixed: MixPredictor) -> None:
    """Each stream has its own LM state: coded together or alone, the streams are the same."""
    rng = random.Random(4)
    payloads = [p[: rng.randint(1, 300)] for p in kinds(rng)[:4]]
    together = roundtrip(mixed, payloads)
    alone = [roundtrip(mixed, [p])[0] for p in payloads]
    assert together == alone


def test_each_chunk_keeps_the_smaller_of_with_and_without_the_lm(mixed: MixPredictor) -> None:
    rng = random.Random(7)
    payloads = [p[:400] for p in kinds(rng)[:4]]
    seqs = [mixed.tokenize(p) for p in payloads]
    with_lm = mixed.encode_mixed(seqs, no_tick)
    without = MixPredictor("cmx", SMALL).encode_streams(seqs, no_tick)
    coded = roundtrip(mixed, payloads)
    for stream, a, b in zip(coded, with_lm, without, strict=True):
        assert stream == (bytes([1]) + a if len(a) < len(b) else bytes([0]) + b)


@pytest.mark.parametrize("gain", [-1000, 100])
def test_the_lm_codes_past_the_probe_only_where_it_gained_there(
    mixed: MixPredictor, monkeypatch: pytest.MonkeyPatch, gain: int
) -> None:
    """Chunks longer than the probe: where the LM's prefix passes (any gain, -1000%), the smaller of
    both codings as without a probe; where it cannot (100%), the coding without the LM; shorter
    chunks are coded both ways either way.  Progress counts every byte once."""
    monkeypatch.setattr(predictor_module, "PROBE_GAIN_PERCENT", gain)
    probed = MixPredictor(mixed.name, SMALL, mixed.lm, probe=256)
    rng = random.Random(9)
    payloads = [p[:600] for p in kinds(rng)[:4]] + [b"tiny text"]
    seqs = [probed.tokenize(p) for p in payloads]
    with_lm = probed.encode_mixed(seqs, no_tick)
    without = MixPredictor("cmx", SMALL).encode_streams(seqs, no_tick)
    seen: list[int] = []
    coded = probed.encode_streams(seqs, seen.append)
    assert seen[-1] == sum(len(p) for p in payloads)
    for stream, a, b, p in zip(coded, with_lm, without, payloads, strict=True):
        if gain == 100 and len(p) > 256:
            assert stream == bytes([0]) + b
        else:
            assert stream == (bytes([1]) + a if len(a) < len(b) else bytes([0]) + b)
    back = probed.decode_streams(coded, [len(p) for p in payloads], no_tick)
    assert [probed.detokenize(x) for x in back] == payloads
    # The LM's coding itself: abandoned at the probe, or the whole chunk's.
    lm = probed._compiled_lm()
    for seq, a, p in zip(seqs, with_lm, payloads, strict=True):
        result = probed._encode_probed(seq, lm, predictor_module._Shared(1), 0)
        assert result == (None if gain == 100 and len(p) > 256 else a)


@pytest.mark.parametrize("threads", [1, 3])
def test_threads_do_not_change_the_lm_mixed_streams(mixed: MixPredictor, threads: int) -> None:
    payloads = [p[:150] for p in kinds(random.Random(8))]
    seqs = [mixed.tokenize(p) for p in payloads]
    reference = mixed.encode_mixed(seqs, no_tick)
    model = MixPredictor(mixed.name, SMALL, mixed.lm, threads=threads)
    assert model.encode_mixed(seqs, no_tick) == reference
    back = model.decode_mixed(reference, [len(p) for p in payloads], no_tick)
    assert [model.detokenize(b) for b in back] == payloads


def test_lm_mixed_ticks_count_every_byte_once(mixed: MixPredictor) -> None:
    """Both codings of a chunk (with and without the LM) together advance progress by its length."""
    payloads = [bytes(9000), b"abc" * 2000]
    seen: list[int] = []
    coded = mixed.encode_streams([mixed.tokenize(p) for p in payloads], seen.append)
    assert seen == sorted(seen) and seen[-1] == 15_000
    seen.clear()
    mixed.decode_streams(coded, [len(p) for p in payloads], seen.append)
    assert seen == sorted(seen) and seen[-1] == 15_000


def test_a_bad_flag_byte_is_a_format_error(mixed: MixPredictor) -> None:
    [coded] = mixed.encode_streams([mixed.tokenize(b"some text " * 20)], no_tick)
    for bad in (b"", bytes([7]) + coded[1:]):
        with pytest.raises(FormatError):
            mixed.decode_streams([bad], [200], no_tick)


def test_lm_mixed_differs_from_the_adaptive_models_alone(mixed: MixPredictor) -> None:
    seq = mixed.tokenize(kinds(random.Random(5))[0][:500])
    assert mixed.encode_mixed([seq], no_tick) != MixPredictor("cmx", SMALL).encode_streams([seq], no_tick)
    assert mixed.fingerprint != MixPredictor("cmx", SMALL).fingerprint


def test_cancel_stops_between_pieces() -> None:
    model = MixPredictor("cmx", SMALL, threads=2)
    seqs = [model.tokenize(random.Random(i).randbytes(300_000)) for i in range(2)]

    def cancel(_: int) -> None:
        raise CancelledError("cancelled")

    with pytest.raises(CancelledError):
        model.encode_streams(seqs, cancel)


def test_ticks_count_up_to_every_symbol() -> None:
    model = MixPredictor("cmx", SMALL, threads=2)
    seqs = [model.tokenize(bytes(200_000)), model.tokenize(bytes(70_000))]
    seen: list[int] = []
    model.encode_streams(seqs, seen.append)
    assert seen == sorted(seen) and seen[-1] == 270_000


def test_profiles_resolve_and_are_recorded_concretely(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LMARCHIVE_MODEL_PATH", str(tmp_path))  # no extra models
    assert registry.resolve("fast") == "cmx"
    assert registry.load_model("fast").name == "cmx"
    assert registry.load_model("fast").fingerprint == MixPredictor("cmx", FAST_PARAMS).fingerprint
    assert registry.resolve("default") == "cmx"  # the tests run without the LM in the profiles
    assert "lm" not in registry.available_models()
    for variable in registry.PROFILE_LM_ENVS:
        monkeypatch.delenv(variable)  # as installed: the shipped LMs
    assert registry.resolve("lm") == registry.BUILTIN_TOKEN_LM
    assert registry.resolve("default") == registry.MIX_PREFIX + registry.BUILTIN_LM
    assert registry.available_models()[:3] == ["fast", "default", "lm"]


def test_mixing_needs_a_byte_lm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMARCHIVE_MODEL_PATH", str(REFERENCE_LM.parent))
    model = registry.load_model("cmx+lm-tiny-random")
    assert isinstance(model, MixPredictor) and model.lm is not None
    assert model.params == FAST_PARAMS
    with pytest.raises(ModelError):
        registry.load_model("cmx+cmx")
    with pytest.raises(ModelError):
        registry.load_model("cmx+no-such-model")


def test_memory_per_stream_is_what_the_docs_say() -> None:
    from lmarchive.models.mix.state import bytes_per_stream, new_state

    for params in (SMALL, FAST_PARAMS, MixParams(hash_bits=16, match_bits=14, contexts=10)):
        state = new_state(1, params)
        assert sum(a.nbytes for a in state if isinstance(a, np.ndarray)) == bytes_per_stream(params)


@pytest.mark.skipif(os.cpu_count() == 1, reason="needs two cores to run two streams at once")
def test_big_chunks_split_across_threads_still_round_trip() -> None:
    model = MixPredictor("cmx", SMALL, threads=2)
    rng = np.random.default_rng(6)
    text = bytes(rng.choice(np.frombuffer(b"etaoin shrdlu", dtype=np.uint8), 150_000))
    roundtrip(model, [text, text[::-1], text[:70_000]])


@pytest.mark.parametrize("env", [{"NUMBA_CPU_NAME": "generic"}, {"NUMBA_OPT": "0"}], ids=["generic-cpu", "unoptimised"])
def test_other_machine_code_gives_the_same_stream(env: dict[str, str], tmp_path: Path) -> None:
    """The kernel and the compiled LM step built for a baseline x86-64/arm64 (no host vector
    extensions), or without LLVM's optimiser, must code exactly the pinned streams: integer
    arithmetic, and float32 sums of integers that are exact in any order, leave no room to differ."""
    script = (
        "import hashlib; from lmarchive.selftest import cmx_stream; "
        "print(*(hashlib.sha256(cmx_stream(lm)[0]).hexdigest() for lm in (False, True)))"
    )
    run_env = {**os.environ, **env, "NUMBA_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], env=run_env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [selftest.CMX_SAMPLE_SHA256, selftest.CMX_LM_SAMPLE_SHA256]


@pytest.mark.shipped_lm
def test_the_default_profile_is_the_shipped_lm_mixed_in(tmp_path: Path) -> None:
    """The real default: cmx with the LM in lmarchive/data/models, recorded concretely, round-tripping."""
    import lmarchive
    from lmarchive.container import ContainerReader

    assert registry.builtin_lm() == registry.BUILTIN_LM, "the built-in LM must ship in lmarchive/data/models"
    assert registry.resolve("default") == registry.MIX_PREFIX + registry.BUILTIN_LM
    text = b"The archive keeps every byte of every file, and the model predicts the next one.\n" * 12
    archive = tmp_path / "d.lmz"
    with lmarchive.open(archive, "w") as lmz:
        lmz.writestr("a.txt", text)
    with lmarchive.open(archive) as lmz:
        assert lmz.getinfo("a.txt").model == registry.MIX_PREFIX + registry.BUILTIN_LM
        assert lmz.read("a.txt") == text
    with ContainerReader(archive) as reader:
        entry = reader.get("a.txt")
        assert entry is not None
        assert reader.read_chunk(entry.chunks[0])[0] in (predictor_module.WITHOUT_LM, predictor_module.WITH_LM)


def test_models_of_more_contexts_are_models_of_their_own() -> None:
    """contexts=10 adds the two-word and sparse contexts: its own streams and fingerprint, round
    trips; the six-context models keep the parameter text (so the fingerprint) they always had."""
    from lmarchive.models.mix import kernel

    assert FAST_PARAMS.encode() == b"hash_bits=22,match_bits=20"
    wide = MixPredictor("cmx-wide", MixParams(hash_bits=16, match_bits=14, contexts=kernel.MAX_CONTEXTS))
    narrow = MixPredictor("cmx", SMALL)
    assert wide.fingerprint != narrow.fingerprint
    payloads = [p[:3000] for p in kinds(random.Random(11))]
    assert roundtrip(wide, payloads) != roundtrip(narrow, payloads)
    for bad in (kernel.MIN_CONTEXTS - 1, kernel.MAX_CONTEXTS + 1):
        with pytest.raises(ValueError):
            MixParams(contexts=bad)


def test_sparse_contexts_predict_fixed_size_fields() -> None:
    """A table of 4-byte integers that each grow by a few, with noise: the contexts that skip the
    last byte see the fields' high bytes repeat, which the six contiguous ones do not."""
    rng = np.random.default_rng(12)
    values = np.cumsum(rng.integers(0, 300, 20_000)).astype("<u4")
    data = values.tobytes()
    wide = MixPredictor("cmx-wide", MixParams(hash_bits=18, match_bits=16, contexts=10))
    narrow = MixPredictor("cmx", MixParams(hash_bits=18, match_bits=16))
    [coded_wide] = roundtrip(wide, [data])
    [coded_narrow] = roundtrip(narrow, [data])
    assert len(coded_wide) < 0.97 * len(coded_narrow)
