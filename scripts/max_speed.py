"""Speed of the ``max`` model's exact engine on this machine: where the time goes.

    .venv/bin/python scripts/max_speed.py [--streams 1 8 32 64] [--position 512]

Prints, for each number of windows decoded in lock-step, the time of one decoding step (every
window advances one token) at a given position in the window, as tokens per second; the encoder's
block pass (a whole window at once); and the float32 GEMM throughput that bounds both (135M
multiply-adds per token).  Needs the imported model (scripts/setup.sh).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lmarchive.models import registry
from lmarchive.models.pretrained import engine
from lmarchive.models.pretrained.model_dir import load_model_dir


def gemm_gflops(rows: int) -> float:
    a = np.random.default_rng(0).integers(-127, 128, (rows, 576)).astype(np.float32)
    b = np.random.default_rng(1).integers(-127, 128, (576, 1536)).astype(np.float32)
    np.matmul(a, b)
    start = time.perf_counter()
    for _ in range(10):
        np.matmul(a, b)
    return 2 * rows * 576 * 1536 * 10 / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--position", type=int, default=512)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    model = engine.ExactLlama(*load_model_dir(registry.model_dirs()[registry.PRETRAINED_LM]))
    c = model.config
    macs = c.n_layers * (2 * c.d_model * c.d_model + 2 * c.d_model * c.n_kv_heads * c.head_dim)
    macs += c.n_layers * 3 * c.d_model * c.d_ffn + c.d_model * c.vocab_size
    print(f"multiply-adds per token in the matrix products: {macs / 1e6:.0f} M")
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, c.vocab_size - 64, (max(args.streams), max(c.window, args.position + args.steps + 1)))
    for b in args.streams:
        cache = model.new_cache(b)
        model.forward(tokens[:b, : args.position], cache)  # fill the window up to the position
        start = time.perf_counter()
        for p in range(args.position, args.position + args.steps):
            x, (m, e) = model.forward(tokens[:b, p : p + 1], cache)
            model.frequencies(x[:, 0], (m[:, 0], e[:, 0]))
        step = (time.perf_counter() - start) / args.steps
        print(
            f"decode, {b:3d} windows at position {args.position}: {step * 1e3:7.1f} ms a step, {b / step:6.0f} tokens/s"
        )
    n = c.window - 1
    start = time.perf_counter()
    x, (m, e) = model.forward(tokens[:1, :n], model.new_cache(1))
    middle = time.perf_counter()
    for a in range(0, n, 32):  # the encoder's tables, 32 windows' rows at a time
        model.frequencies(x[0, a : a + 32], (m[0, a : a + 32], e[0, a : a + 32]))
    end = time.perf_counter()
    times = f"{middle - start:.2f} s forward + {end - middle:.2f} s tables"
    print(f"encode, block pass of {n} tokens: {times}, {n / (end - start):.0f} tokens/s")
    for rows in (1, 32, 1024):
        gflops = gemm_gflops(rows)
        bound = gflops * 1e9 / 2 / macs
        print(f"float32 GEMM, {rows} rows x 576 x 1536: {gflops:.0f} GFLOP/s, at most {bound:.0f} tokens/s")


if __name__ == "__main__":
    main()
