"""Regenerate lmarchive/data/selftest/lm-tiny-random: the reference LM of the golden vectors.

Its weights are random (seeded here once) and its activation scales calibrated on random tokens;
what matters is that the shipped integer files never change, so the golden hashes in
lmarchive/data/selftest/lm-golden.json (checked by the tests and by `lmarchive selftest`) pin the exact
engine.  Never regenerate it casually: the files are the reference, not this script's output on
another machine.
"""

from __future__ import annotations

from pathlib import Path

import torch

from lmarchive.models.lm.config import LMConfig
from lmarchive.models.lm.convert import export_tensors, save_model
from lmarchive.models.lm.float_model import FloatTransformer

TARGET = Path(__file__).resolve().parent.parent / "lmarchive" / "data" / "selftest" / "lm-tiny-random"
CONFIG = LMConfig(vocab_size=256, d_model=64, n_layers=2, n_heads=4, d_ffn=128, window=32, rope_period=256)
CARD = """# lm-tiny-random

A 2-layer, d_model 64 transformer with random weights, for tests only: it pins the exact engine
(golden vectors in lmarchive/data/selftest/lm-golden.json). It compresses nothing well.
"""


def main() -> None:
    torch.manual_seed(20261128)
    model = FloatTransformer(CONFIG, observer_momentum=0.5)
    model.train()
    with torch.no_grad():
        for _ in range(8):
            model(torch.randint(0, CONFIG.vocab_size, (4, 64)))
    model.eval()
    print(save_model(TARGET, CONFIG, export_tensors(model), CARD).hex())


if __name__ == "__main__":
    main()
