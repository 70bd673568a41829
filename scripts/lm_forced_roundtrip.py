"""Model-code the start of every corpus file with an LM, forcing model chunks, and decode them.

The archive keeps whichever of model, zstd and store is smallest per chunk, so a weak model may
never be decoded in a normal round trip.  This forces the model path: one chunk per file (its
first --bytes bytes), all files coded together in lock-step (block-parallel pass), decoded
together (KV-cache pass), compared byte for byte, with bits per byte next to zstd -19 and the
coded size next to the ideal code length of the same tables.

Usage: LMARCHIVE_MODEL_PATH=tests/data/models python scripts/lm_forced_roundtrip.py --model lm-test
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import zlib
from pathlib import Path

import zstandard

from lmarchive.codec import decode_chunks, model_encode
from lmarchive.container import ChunkRecord, Method
from lmarchive.models import load_model

DEFAULT_CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--model", default="lm-test")
    parser.add_argument("--bytes", type=int, default=32 << 10)
    args = parser.parse_args()
    model = load_model(args.model)
    files = sorted(p for p in args.corpus.rglob("*") if p.is_file() and p.suffix not in (".md", ".csv", ".py"))
    chunks = [p.read_bytes()[: args.bytes] for p in files]
    sequences = [model.tokenize(c) for c in chunks]
    start = time.monotonic()
    coded = model_encode(model, sequences, [len(c) for c in chunks])
    middle = time.monotonic()
    records = [
        ChunkRecord(0, len(d), len(c), len(s), zlib.crc32(c), Method.MODEL)
        for d, c, s in zip(coded, chunks, sequences, strict=True)
    ]
    decoded = decode_chunks(list(zip(records, coded, strict=True)), model)
    end = time.monotonic()
    ideal = 0.0
    for streams, tables, symbols in model.encode_tables(sequences):
        rows = range(len(streams))
        ideal += sum(-math.log2(tables[r, symbols[r]] / tables[r].sum()) for r in rows) / 8
    total = sum(len(c) for c in chunks)
    ok = decoded == chunks
    zc = zstandard.ZstdCompressor(level=19)
    print(f"{'file':40} {'bytes':>7} {'model bpb':>9} {'zstd bpb':>8}")
    for path, chunk, data in zip(files, chunks, coded, strict=True):
        name = path.relative_to(args.corpus).as_posix()
        zstd_bpb = 8 * len(zc.compress(chunk)) / len(chunk)
        print(f"{name:40} {len(chunk):7} {8 * len(data) / len(chunk):9.3f} {zstd_bpb:8.3f}")
    size = sum(len(d) for d in coded)
    print(
        f"{len(files)} files, {total:,} bytes -> {size:,} coded ({8 * size / total:.3f} bpb); ideal {ideal:,.0f} bytes "
        f"(+{100 * (size / ideal - 1):.3f}%); encode {total / 1e3 / (middle - start):.1f} KB/s, "
        f"decode {total / 1e3 / (end - middle):.1f} KB/s; round-trip {'OK' if ok else 'FAILED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
