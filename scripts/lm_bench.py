"""Throughput of the exact transformer on this machine: tokens/s and KB/s, compress and extract.

Usage: python scripts/lm_bench.py [--layers 4 --d-model 256 --heads 4 --ffn 688 --window 256]
       [--vocab 256 4096] [--streams 1 16 64] [--tokens 512] [--threads N] [--profile]

Weights are random (speed does not depend on them); activation scales are calibrated on random
tokens so the integer pipeline runs in its normal ranges.  "compress" is the block-parallel
pass plus range coding (what the encoder runs), "extract" the incremental KV-cache pass plus
range decoding (the decoder).  KB/s assumes 1 byte per token (byte vocabulary); for a BPE
vocabulary multiply by its bytes per token.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lmarchive.coding import BatchDecoder, BatchEncoder, decode_step, encode_step
from lmarchive.models.lm.config import LMConfig
from lmarchive.models.lm.convert import export_tensors
from lmarchive.models.lm.exact import ExactTransformer
from lmarchive.models.lm.float_model import FloatTransformer
from lmarchive.models.lm.torch_path import encoder_block


def build(config: LMConfig) -> ExactTransformer:
    torch.manual_seed(0)
    model = FloatTransformer(config, observer_momentum=0.5)
    with torch.no_grad():
        for _ in range(4):
            model(torch.randint(0, config.vocab_size, (2, 128)))
    model.eval()
    tensors = {k: torch.from_numpy(v.astype(np.int64)) for k, v in export_tensors(model).items()}
    return ExactTransformer(config, tensors)


def compress(engine: ExactTransformer, tokens: np.ndarray) -> tuple[list[bytes], float]:
    b, t = tokens.shape
    bos = np.full((b, 1), engine.config.bos)
    inputs = torch.from_numpy(np.concatenate([bos, tokens[:, :-1]], axis=1))
    enc, streams = BatchEncoder(b), np.arange(b)
    cache = engine.new_cache(b)
    block = encoder_block(engine.config, b)
    start = time.perf_counter()
    with torch.no_grad():
        for a in range(0, t, block):
            tables = engine.forward(inputs[:, a : a + block], cache, slice(0, b)).numpy()
            for i in range(tables.shape[1]):
                encode_step(enc, streams, tables[:, i], tokens[:, a + i])
    coded = [enc.finish(i) for i in range(b)]
    return coded, time.perf_counter() - start


def extract(engine: ExactTransformer, coded: list[bytes], t: int) -> tuple[np.ndarray, float]:
    b = len(coded)
    dec, streams = BatchDecoder(coded), np.arange(b)
    cache = engine.new_cache(b)
    current = torch.full((b, 1), engine.config.bos)
    out = np.zeros((b, t), dtype=np.int64)
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(t):
            tables = engine.forward(current, cache, slice(0, b))[:, 0].numpy()
            out[:, i] = decode_step(dec, streams, tables)
            current = torch.from_numpy(out[:, i : i + 1])
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--ffn", type=int, default=688)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--vocab", type=int, nargs="+", default=[256, 4096])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="print where the extract time goes")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()}")
    for vocab in args.vocab:
        config = LMConfig(vocab, args.d_model, args.layers, args.heads, args.ffn, args.window, 4096)
        engine = build(config)
        for b in args.streams:
            tokens = np.random.default_rng(b).integers(0, vocab, size=(b, args.tokens))
            coded, enc_s = compress(engine, tokens)
            back, dec_s = extract(engine, coded, args.tokens)
            assert np.array_equal(back, tokens), "round-trip failed"
            n = b * args.tokens
            print(
                f"vocab {vocab:5} streams {b:3}: compress {n / enc_s:8.0f} tok/s ({n / enc_s / 1e3:6.1f} KB/s"
                f" at 1 B/tok)   extract {n / dec_s:8.0f} tok/s ({n / dec_s / 1e3:6.1f} KB/s)"
            )
        if args.profile:
            from torch.profiler import profile

            b = args.streams[-1]
            tokens = np.random.default_rng(0).integers(0, vocab, size=(b, 64))
            coded, _ = compress(engine, tokens)
            with profile() as prof:
                extract(engine, coded, 64)
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
