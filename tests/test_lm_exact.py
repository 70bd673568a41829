"""The exact LM engine's promise: tables are a pure function of the model files and the preceding tokens.

Bit-identical whatever way they are computed: one forward over everything, one token at a time,
any block size; alone or inside any batch; with any thread count or CPU code path.  Golden hashes
(lmarchive/data/selftest/lm-golden.json, written once by scripts/make_lm_golden.py) pin the integers
themselves, so a change of the engine's arithmetic, of torch, or of the model file is caught.
The model is lmarchive/data/selftest/lm-tiny-random (window 32, rope period 256).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import lm_child
import numpy as np
import pytest
import torch

from lmarchive.models.lm import exact, quant
from lmarchive.models.lm.exact import ExactTransformer, exact_matmul, isqrt, requant
from lmarchive.models.lm.model_dir import fingerprint

LENGTHS = [1, 7, 31, 32, 33, 100, 257]
"""Around the window (32), and past the rope period (256): positions wrap in the rope tables."""
BLOCKS = [1, 5, 32, 50]
IRREGULAR = [3, 1, 17, 40, 2, 32, 9]
"""A schedule of block sizes: blocks smaller, equal and larger than the window, in any order."""


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # thread counts are compared in child processes below


@pytest.fixture(scope="module")
def engine() -> ExactTransformer:
    return lm_child.load_engine()


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    return lm_child.load_golden()


def random_tokens(rng: np.random.Generator, batch: int, length: int) -> torch.Tensor:
    """(batch, length) token ids as the predictor feeds them: BOS, then bytes."""
    tokens = rng.integers(0, 256, (batch, length))
    tokens[:, 0] = 256
    return torch.from_numpy(tokens)


def sha(tables: torch.Tensor) -> str:
    return lm_child.digest([tables])


def check_tables(tables: torch.Tensor, shape: tuple[int, ...]) -> None:
    assert tables.dtype == torch.int64
    assert tuple(tables.shape) == shape
    assert int(tables.min()) >= 1
    assert bool((tables.sum(-1) == quant.FREQ_TOTAL).all())


# -- one sequence, every way of feeding it -----------------------------------------------------
@pytest.mark.parametrize("length", LENGTHS)
def test_every_block_size_gives_the_same_tables(engine: ExactTransformer, length: int) -> None:
    tokens = random_tokens(np.random.default_rng(length), 1, length)
    whole = lm_child.run_blocks(engine, tokens, length)
    check_tables(whole, (1, length, 256))
    expected = sha(whole)
    for block in BLOCKS:
        assert sha(lm_child.run_blocks(engine, tokens, block)) == expected, f"blocks of {block}"
    assert sha(lm_child.run_blocks(engine, tokens, IRREGULAR)) == expected, "irregular blocks"


def test_tables_depend_on_the_tokens(engine: ExactTransformer) -> None:
    """The comparisons above would pass for a constant function: a changed token changes the tables."""
    tokens = random_tokens(np.random.default_rng(1), 1, 60)
    changed = tokens.clone()
    changed[0, 20] = (changed[0, 20] + 1) % 256
    a, b = lm_child.run_blocks(engine, tokens, 60), lm_child.run_blocks(engine, changed, 60)
    assert torch.equal(a[:, :20], b[:, :20])  # causal: earlier positions cannot see the change
    assert not torch.equal(a[:, 20], b[:, 20])


def test_distant_tokens_fall_out_of_the_window(engine: ExactTransformer) -> None:
    """The ring buffer forgets: a changed token stops mattering once every layer's window has passed it.

    Each layer attends to the last ``window`` positions, so with two layers a token reaches at
    most 2 * (window - 1) positions ahead; from there on the tables equal those of the unchanged
    input, one token at a time as in one pass.
    """
    window = engine.config.window
    tokens = random_tokens(np.random.default_rng(2), 1, 3 * window + 5)
    changed = tokens.clone()
    changed[0, 3] = (changed[0, 3] + 1) % 256
    for block in (1, tokens.shape[1]):
        a, b = lm_child.run_blocks(engine, tokens, block), lm_child.run_blocks(engine, changed, block)
        assert not torch.equal(a[:, 3], b[:, 3])
        far = 3 + 2 * window
        assert torch.equal(a[:, far:], b[:, far:]), f"blocks of {block}"


# -- batches -------------------------------------------------------------------------------------
@pytest.mark.parametrize("batch", [1, 3, 64])
def test_a_stream_is_the_same_alone_or_in_any_batch(engine: ExactTransformer, batch: int) -> None:
    length = 70
    rng = np.random.default_rng(batch)
    target = random_tokens(np.random.default_rng(1234), 1, length)
    alone = sha(lm_child.run_blocks(engine, target, length))
    tokens = random_tokens(rng, batch, length)
    place = batch // 2
    tokens[place] = target[0]

    whole = lm_child.run_blocks(engine, tokens, length)
    check_tables(whole, (batch, length, 256))
    assert sha(whole[place]) == alone
    # One token per step, the cache holding exactly these streams: rows=slice(0, batch).
    assert sha(lm_child.run_blocks(engine, tokens, 1)[place]) == alone
    # The streams scattered over a larger cache, in no particular order: rows is an index tensor.
    rows = torch.from_numpy(rng.permutation(batch + 5)[:batch])
    if rows.tolist() == list(range(batch)):
        rows = rows.flip(0)
    for blocks in (1, 5, IRREGULAR):
        assert sha(lm_child.run_blocks(engine, tokens, blocks, rows)[place]) == alone, f"rows {blocks}"


def test_index_rows_leave_the_other_streams_alone(engine: ExactTransformer) -> None:
    """Gathering and scattering ``rows`` writes back exactly those streams' keys and values."""
    cache = engine.new_cache(6)
    rows = torch.tensor([4, 1, 3])
    tokens = random_tokens(np.random.default_rng(3), 3, 40)
    with torch.no_grad():
        engine.forward(tokens[:, :9], cache, rows)
        for i in range(9, 12):
            engine.forward(tokens[:, i : i + 1], cache, rows)
    for ring in (*cache.keys, *cache.values):
        assert not bool(ring[[0, 2, 5]].any())
        assert bool(ring[[4, 1, 3]].any(dim=(1, 2, 3)).all())


def test_streams_in_a_batch_do_not_see_each_other(engine: ExactTransformer) -> None:
    """Changing every other stream of a batch changes nothing in the stream kept fixed."""
    rng = np.random.default_rng(4)
    a = random_tokens(rng, 5, 45)
    b = random_tokens(rng, 5, 45)
    b[2] = a[2]
    for block in (1, 45):
        ta, tb = lm_child.run_blocks(engine, a, block), lm_child.run_blocks(engine, b, block)
        assert torch.equal(ta[2], tb[2])
        assert not torch.equal(ta[1], tb[1])


# -- golden vectors ------------------------------------------------------------------------------
def test_the_model_file_is_the_golden_one(golden: dict[str, Any]) -> None:
    assert fingerprint(lm_child.MODEL_DIR).hex() == golden["fingerprint"]


def test_golden_inputs_are_stored_token_lists(golden: dict[str, Any]) -> None:
    inputs = golden["inputs"]
    assert [item["length"] for item in inputs] == [len(item["tokens"]) for item in inputs]
    assert max(item["length"] for item in inputs) > 32  # past the window
    for item in inputs:
        assert item["tokens"][0] == 256
        assert all(0 <= t < 256 for t in item["tokens"][1:])


@pytest.mark.parametrize("mode", ["parallel", "incremental"])
def test_golden_hashes(engine: ExactTransformer, golden: dict[str, Any], mode: str) -> None:
    block = 1 if mode == "incremental" else None
    tables = [lm_child.tables_of(engine, x, block) for x in lm_child.golden_inputs(golden)]
    for t, item in zip(tables, golden["inputs"], strict=True):
        check_tables(t, (item["length"], 256))
        assert lm_child.digest([t]) == item["sha256"], f"input of length {item['length']}"
    assert lm_child.digest(tables) == golden["sha256"]


def test_golden_hash_inside_a_batch(engine: ExactTransformer, golden: dict[str, Any]) -> None:
    tables = lm_child.batched_tables(engine, lm_child.golden_inputs(golden))
    assert lm_child.digest(tables) == golden["sha256"]


# -- other processes: thread counts and CPU code paths -------------------------------------------
CAPABILITIES = {
    # ATEN_CPU_CAPABILITY picks torch's own kernels; MKL_ENABLE_INSTRUCTIONS caps the matmul kernels.
    "default": "SSE4_2",
    "avx2": "AVX2",
    None: None,  # unset: the best the machine has
}
_children: dict[str | None, dict[str, Any]] = {}


def child_result(capability: str | None) -> dict[str, Any]:
    """The child's JSON for ``capability`` (one process per capability, running both thread counts)."""
    if capability not in _children:
        env = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS")}
        env["OMP_WAIT_POLICY"] = "PASSIVE"  # idle threads sleep: two threads stay quick on a busy machine
        if capability is not None:
            env["ATEN_CPU_CAPABILITY"] = capability
            env["MKL_ENABLE_INSTRUCTIONS"] = CAPABILITIES[capability]
        done = subprocess.run(
            [sys.executable, str(Path(lm_child.__file__)), "--threads", "1", "2"],
            env=env,
            cwd=lm_child.ROOT,
            capture_output=True,
            text=True,
            timeout=500,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        _children[capability] = json.loads(done.stdout.strip().splitlines()[-1])
    return _children[capability]


X86_LEVELS = ["default", "avx2", "avx512"]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("capability", list(CAPABILITIES), ids=["default", "avx2", "unset"])
def test_golden_hashes_in_a_child_process(
    golden: dict[str, Any], capability: str | None, threads: int, record_property: Callable[[str, object], None]
) -> None:
    result = child_result(capability)
    used = result["cpu_capability"].lower()
    record_property("cpu_capability", used)
    record_property("blas_isa", result["blas_isa"])
    if capability is not None and used != capability:
        best = child_result(None)["cpu_capability"].lower()
        if best in X86_LEVELS and X86_LEVELS.index(best) >= X86_LEVELS.index(capability):
            pytest.fail(f"ATEN_CPU_CAPABILITY={capability} was ignored: torch runs {used} (best here: {best})")
        pytest.skip(f"this CPU lacks {capability} (torch runs {used})")
    if capability is not None and result["blas_isa"] is not None:  # MKL took its cap as well
        assert "512" not in result["blas_isa"]
        if capability == "default":
            assert "AVX" not in result["blas_isa"]
    (run,) = [r for r in result["runs"] if r["threads"] == threads]
    assert run["hashes"] == dict.fromkeys(("parallel", "incremental", "batched"), golden["sha256"])


def test_the_child_runs_the_machines_best_capability_when_unset() -> None:
    if "ATEN_CPU_CAPABILITY" in os.environ:
        pytest.skip("this process itself runs under ATEN_CPU_CAPABILITY")
    result = child_result(None)
    assert result["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert [r["threads"] for r in result["runs"]] == [1, 2]


# -- devices --------------------------------------------------------------------------------------
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("block", [None, 1, 7])
def test_golden_hashes_on_cuda(golden: dict[str, Any], block: int | None) -> None:
    engine = lm_child.load_engine(device="cuda")
    tables = [lm_child.tables_of(engine, x, block) for x in lm_child.golden_inputs(golden)]
    assert lm_child.digest(tables) == golden["sha256"]


# -- a global torch setting -----------------------------------------------------------------------
def float32_matmul_is_exact(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether torch.matmul of these integer-valued operands, as float32, equals the int64 product."""
    return torch.equal(torch.matmul(a.float(), b.float()).to(torch.int64), a @ b)


def test_tables_ignore_a_later_float32_matmul_precision(engine: ExactTransformer, golden: dict[str, Any]) -> None:
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium")
    try:
        seeded = torch.Generator().manual_seed(0)
        probs = torch.randint(0, 1 << 14, (1, 4, 100, 132), generator=seeded)
        if float32_matmul_is_exact(probs, torch.randint(-127, 128, (1, 4, 132, 16), generator=seeded)):
            pytest.skip("float32 matmul stays exact under 'medium' here (no bf16 matmul on this CPU)")
        inputs = lm_child.golden_inputs(golden)
        parallel = lm_child.digest([lm_child.tables_of(engine, x) for x in inputs])
        incremental = lm_child.digest([lm_child.tables_of(engine, x, 1) for x in inputs])
    finally:
        torch.set_float32_matmul_precision(before)
    assert (parallel, incremental) == (golden["sha256"], golden["sha256"])


# -- the integer helpers ------------------------------------------------------------------------
def test_exact_matmul_splits_the_inner_dimension(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    big = 1000
    x = rng.integers(-big, big + 1, (3, 4, 200))
    w = rng.integers(-big, big + 1, (24, 200))
    x[0, 0, :], w[0, :] = big, big  # a row whose unsplit sum is 200 * 10**6 > 2**24
    bound = big * big
    assert 200 * bound >= quant.MATMUL_EXACT_LIMIT  # the premise: one float32 sum could be inexact
    inner_dims: list[int] = []
    matmul = torch.matmul

    def spy(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        inner_dims.append(a.shape[-1])
        return matmul(a, b)

    monkeypatch.setattr(exact.torch, "matmul", spy)
    got = exact_matmul(torch.from_numpy(x).float(), torch.from_numpy(w).float(), bound)
    monkeypatch.undo()
    assert got.dtype == torch.int64
    assert np.array_equal(got.numpy(), x @ w.T)  # int64 reference
    assert np.array_equal(got.numpy(), (x.astype(np.float64) @ w.T.astype(np.float64)).astype(np.int64))
    assert len(inner_dims) > 1
    assert sum(inner_dims) == 200
    assert all(d * bound < quant.MATMUL_EXACT_LIMIT for d in inner_dims)


@pytest.mark.parametrize("inner", [1, 15, 16, 17, 64])
def test_exact_matmul_at_the_split_boundary(inner: int) -> None:
    """``bound`` allows exactly 16 terms per sum: 16 inner values stay one product, 17 split."""
    bound = (quant.MATMUL_EXACT_LIMIT - 1) // 16
    side = math.isqrt(bound)
    rng = np.random.default_rng(inner)
    x = rng.integers(-side, side + 1, (5, inner))
    w = rng.integers(-side, side + 1, (7, inner))
    x[0], w[0] = side, side
    got = exact_matmul(torch.from_numpy(x).float(), torch.from_numpy(w).float(), bound)
    assert np.array_equal(got.numpy(), x @ w.T)


ISQRT_EDGES = [0, 1, 2, 3, 4, 5, 8, 9, 10, 15, 16, 17, 2**44, 2**44 + 1, 2**53 - 1, 2**53, 2**53 + 1, 2**54 - 1, 2**54]


def test_isqrt_matches_math_isqrt() -> None:
    rng = np.random.default_rng(6)
    roots = [*rng.integers(1, 2**27, 200).tolist(), 2**22, 2**26 - 1, 2**27 - 1, 2**27]
    values = [*ISQRT_EDGES, *rng.integers(0, 2**54, 2000).tolist(), *rng.integers(0, 2**20, 500).tolist()]
    for r in roots:
        values += [r * r - 1, r * r, r * r + 1]
    values += [2**e + d for e in range(1, 55) for d in (-1, 0, 1)]
    got = isqrt(torch.tensor(values, dtype=torch.int64)).tolist()
    assert got == [math.isqrt(v) for v in values]


def test_isqrt_at_the_top_of_its_domain() -> None:
    values = [2**62 - 1, (2**31 - 1) ** 2, (2**31) ** 2 - 1]
    assert isqrt(torch.tensor(values, dtype=torch.int64)).tolist() == [math.isqrt(v) for v in values]


def requant_reference(acc: int, mult: int, shift: int, low: int, high: int) -> int:
    """round-half-up(acc * mult / 2**shift), clamped: exact rational arithmetic."""
    return min(max(math.floor(Fraction(acc * mult, 2**shift) + Fraction(1, 2)), low), high)


def test_requant_rounds_negative_values_like_the_reference() -> None:
    rng = np.random.default_rng(7)
    channels = 16
    mult = rng.integers(1, 2**30, channels)
    shift = rng.integers(1, 63, channels)
    shift[:4] = [1, 2, 30, 62]
    acc = rng.integers(-(2**32), 2**32, (40, channels))
    acc[:6] = [[-1], [1], [-3], [0], [-(2**32)], [2**32 - 1]]
    # Exact halves: acc * mult = odd * 2**(shift - 1), negative and positive.
    mult[4:8], shift[4:8] = 1, [1, 2, 3, 4]
    acc[6:10, 4:8] = [[-1, -2, -4, -8], [-3, -6, -12, -24], [1, 2, 4, 8], [-5, -10, -20, -40]]
    low, high = -(2**40), 2**40
    got = requant(torch.from_numpy(acc), torch.from_numpy(mult), torch.from_numpy(shift), low, high)
    want = [
        [requant_reference(int(a), int(m), int(s), low, high) for a, m, s in zip(row, mult, shift, strict=True)]
        for row in acc
    ]
    assert got.dtype == torch.int64
    assert got.tolist() == want
    assert got[6, 4] == 0  # -0.5 rounds up, to 0
    assert got[7, 4] == -1  # -1.5 rounds up, to -1
    assert bool((got[:, :4] < 0).any())


def test_requant_clamps() -> None:
    acc = torch.tensor([[-1000, -3, 3, 1000]])
    got = requant(acc, torch.ones(4, dtype=torch.int64), torch.ones(4, dtype=torch.int64), -100, 100)
    assert got.tolist() == [[-100, -1, 2, 100]]
