"""The LM golden vectors' ways of running the torch engine, and a child process that recomputes them.

Imported by tests/test_lm_exact.py (in-process checks) and scripts/make_lm_golden.py (which writes
lmarchive/data/selftest/lm-golden.json); run as a script it is the child process the tests start with a chosen
thread count and CPU code path (``ATEN_CPU_CAPABILITY``, ``MKL_ENABLE_INSTRUCTIONS``).  It prints
one JSON object on stdout: the code path torch and MKL actually used and the hashes it computed.

The golden hash of a list of inputs is :func:`lmarchive.selftest.table_digest` of their frequency
tables (positions x vocabulary each), the one the selftest checks too.  Every input is a token
list fed to ``ExactTransformer.forward`` as given (it starts with the BOS token).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__" and str(ROOT) not in sys.path:  # a child process: the source tree next to this file
    sys.path.insert(0, str(ROOT))

from lmarchive.models.lm.exact import ExactTransformer  # noqa: E402
from lmarchive.models.lm.model_dir import load_model_dir  # noqa: E402 - after the path set-up above
from lmarchive.selftest import table_digest  # noqa: E402

MODEL_DIR = ROOT / "lmarchive" / "data" / "selftest" / "lm-tiny-random"
GOLDEN_PATH = ROOT / "lmarchive" / "data" / "selftest" / "lm-golden.json"
BATCH = 64
"""Streams of the batched variant: the golden inputs among random companions."""
BATCH_BLOCK = 40
"""Positions per forward call in the batched variant (more than the model's window)."""


def load_engine(directory: Path = MODEL_DIR, device: str = "cpu") -> ExactTransformer:
    return ExactTransformer(*load_model_dir(directory), device=device)


def load_golden(path: Path = GOLDEN_PATH) -> dict[str, object]:
    return json.loads(path.read_text())


def golden_inputs(golden: dict[str, object]) -> list[list[int]]:
    inputs = golden["inputs"]
    assert isinstance(inputs, list)
    return [list(item["tokens"]) for item in inputs]


def as_array(tables: torch.Tensor) -> np.ndarray:
    """The tables as numpy int64, as the engine computes them (a float tensor here is a bug, not
    something to round)."""
    array = tables.detach().cpu().numpy()
    assert array.dtype == np.int64
    return array


def digest(tables: Sequence[torch.Tensor]) -> str:
    """The golden hash (:func:`lmarchive.selftest.table_digest`) of torch tables."""
    return table_digest(as_array(t) for t in tables)


def run_blocks(
    engine: ExactTransformer, tokens: torch.Tensor, blocks: int | Sequence[int], rows: torch.Tensor | None = None
) -> torch.Tensor:
    """Tables (b, n, vocab) for tokens (b, n) from a fresh cache, fed ``blocks`` positions per call.

    ``blocks`` is one block size or a schedule of sizes (repeated until the tokens run out).  With
    ``rows`` the streams live at those indices of a larger cache (an index tensor, so the engine
    gathers and scatters them); otherwise the cache holds exactly these streams (a slice).
    """
    b, n = tokens.shape
    schedule = [blocks] if isinstance(blocks, int) else list(blocks)
    if rows is None:
        cache, where = engine.new_cache(b), slice(0, b)
    else:
        cache, where = engine.new_cache(int(rows.max()) + 1), rows
    out = []
    start, i = 0, 0
    with torch.no_grad():
        while start < n:
            step = schedule[i % len(schedule)]
            out.append(engine.forward(tokens[:, start : start + step].to(engine.device), cache, where))
            start += step
            i += 1
    assert cache.position == n
    return torch.cat(out, dim=1).cpu()


def tables_of(engine: ExactTransformer, tokens: Sequence[int], block: int | None = None) -> torch.Tensor:
    """Tables (n, vocab) of one token list: the whole list in one call, or ``block`` per call."""
    t = torch.tensor([list(tokens)], dtype=torch.int64)
    return run_blocks(engine, t, block or len(tokens))[0]


def batched_tables(engine: ExactTransformer, inputs: Sequence[Sequence[int]], seed: int = 7) -> list[torch.Tensor]:
    """The inputs' tables computed inside one batch of BATCH streams, BATCH_BLOCK positions per call.

    The other streams are random, and each input is padded at its end with random tokens: tables
    only depend on preceding tokens, so the input's own rows must not change.
    """
    rng = np.random.default_rng(seed)
    length = max(len(x) for x in inputs)
    tokens = rng.integers(0, engine.config.vocab_size, (BATCH, length))
    tokens[:, 0] = engine.config.bos
    places = np.linspace(0, BATCH - 1, len(inputs)).astype(int)
    for place, x in zip(places, inputs, strict=True):
        tokens[place, : len(x)] = x
    tables = run_blocks(engine, torch.from_numpy(tokens), BATCH_BLOCK)
    return [tables[place, : len(x)] for place, x in zip(places, inputs, strict=True)]


def compute(engine: ExactTransformer, inputs: Sequence[Sequence[int]]) -> dict[str, str]:
    """The golden hash of ``inputs`` by each way of running the engine."""
    return {
        "parallel": digest([tables_of(engine, x) for x in inputs]),
        "incremental": digest([tables_of(engine, x, 1) for x in inputs]),
        "batched": digest(batched_tables(engine, inputs)),
    }


def blas_isa() -> str | None:
    """The instruction set MKL picked (from its verbose banner), or None without MKL on Linux."""
    if not torch.backends.mkl.is_available() or not sys.platform.startswith("linux"):
        return None
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as capture:
        try:
            os.dup2(capture.fileno(), 1)
            with torch.backends.mkl.verbose(torch.backends.mkl.VERBOSE_ON):
                torch.matmul(torch.ones(3, 64), torch.ones(128, 64).T)
            ctypes.CDLL(None).fflush(None)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode(errors="replace")
    banner = next((line for line in text.splitlines() if line.startswith("MKL_VERBOSE oneMKL")), "")
    found = re.search(r"\(Intel\(R\) ([A-Za-z0-9.\-]+)\)", banner)
    return found.group(1) if found else (banner[:120] or None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[], help="torch.set_num_threads for each run, in turn"
    )
    parser.add_argument("--golden", type=Path, default=GOLDEN_PATH)
    parser.add_argument("--model", type=Path, default=MODEL_DIR)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    engine = load_engine(args.model, args.device)
    inputs = golden_inputs(load_golden(args.golden))
    runs = []
    for threads in args.threads or [torch.get_num_threads()]:
        torch.set_num_threads(threads)
        runs.append({"threads": torch.get_num_threads(), "hashes": compute(engine, inputs)})
    result = {
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "blas_isa": blas_isa(),
        "device": str(engine.device),
        "runs": runs,
    }
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
