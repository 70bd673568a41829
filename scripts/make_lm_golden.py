"""Regenerate lmarchive/data/selftest/lm-golden.json: the golden vectors that pin the exact LM engine.

Run this ONLY when the engine's arithmetic or the test model changes on purpose (a new model
format, a deliberate change of a quantization grid), never to make a failing test pass: every
archive coded with an LM depends on the tables staying bit-identical, so a changed hash is a
compatibility break that must be explained in the change that regenerates it.

The file holds the test model's fingerprint, a few token inputs (drawn here from a fixed seed and
stored, so the tests never regenerate them) and the sha256 of all their frequency tables, computed
by the parallel pass.  The hash is lmarchive.selftest.table_digest, the one the selftest and the
tests check with; the ways of running the engine are in tests/lm_child.py, shared with the tests.

Usage: python scripts/make_lm_golden.py [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import lm_child  # noqa: E402 - tests/ is put on the path above

from lmarchive.models.lm.model_dir import fingerprint  # noqa: E402

SEED = 20261128
LENGTHS = (1, 40, 100)
"""Input lengths in tokens (BOS included): a single position, and two past the window (32)."""
MODEL_NAME = lm_child.MODEL_DIR.name


def build() -> dict[str, object]:
    engine = lm_child.load_engine()
    rng = np.random.default_rng(SEED)
    inputs = [[engine.config.bos, *rng.integers(0, engine.config.vocab_size, n - 1).tolist()] for n in LENGTHS]
    tables = [lm_child.tables_of(engine, tokens) for tokens in inputs]
    hashes = lm_child.compute(engine, inputs)
    if len(set(hashes.values())) != 1:
        raise SystemExit(f"the ways of running the engine disagree, refusing to write golden values: {hashes}")
    return {
        "about": (
            "Golden vectors of the exact LM engine (tests/test_lm_exact.py). Regenerate with "
            "scripts/make_lm_golden.py only when the engine changes on purpose."
        ),
        "model": MODEL_NAME,
        "fingerprint": fingerprint(lm_child.MODEL_DIR).hex(),
        "hash": "sha256 of the concatenated tables of all inputs, int64 little-endian, row-major (positions x vocab)",
        "sha256": lm_child.digest(tables),
        "generated_with": {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()},
        "inputs": [
            {"length": len(tokens), "sha256": lm_child.digest([t]), "tokens": tokens}
            for tokens, t in zip(inputs, tables, strict=True)
        ],
    }


def dumps(golden: dict[str, object]) -> str:
    """JSON with one line per key and per input, so a diff shows what changed."""
    lines = []
    for key, value in golden.items():
        if key == "inputs" and isinstance(value, list):
            items = ",\n".join(f"  {json.dumps(item)}" for item in value)
            lines.append(f' "inputs": [\n{items}\n ]')
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}")
    text = "{\n" + ",\n".join(lines) + "\n}\n"
    assert json.loads(text) == golden
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the stored file instead of writing it")
    args = parser.parse_args()
    golden = build()
    if args.check:
        stored = lm_child.load_golden()
        keys = ("fingerprint", "sha256", "inputs")
        same = all(stored.get(k) == golden[k] for k in keys)
        print("golden vectors match" if same else "golden vectors DIFFER from lmarchive/data/selftest/lm-golden.json")
        return 0 if same else 1
    lm_child.GOLDEN_PATH.write_text(dumps(golden))
    print(f"wrote {lm_child.GOLDEN_PATH.relative_to(ROOT)}: sha256 {golden['sha256']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
