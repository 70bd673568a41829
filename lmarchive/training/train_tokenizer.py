"""Train the byte-level BPE tokenizer of a token LM, measuring vocabulary sizes on held-out files.

    python -m lmarchive.training.train_tokenizer --data build/corpus --vocab 4096 8192 16384 --out DIR

Trains one tokenizer per vocabulary size on the training files of ``--data`` (the split of
:func:`lmarchive.training.data.load_corpus`), prints bytes per token on the held-out files for
each, and writes the first size's tokenizer to ``DIR/tokenizer.json``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from lmarchive.models.tokenizer import TOKENIZER_FILE, BpeTokenizer, train_tokenizer
from lmarchive.training.data import load_corpus, text_blocks


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", type=Path, required=True)
    ap.add_argument("--max-bytes", type=int, default=None)
    ap.add_argument("--vocab", nargs="+", type=int, default=[4096])
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    corpus = load_corpus(args.data, max_bytes=args.max_bytes)
    train = text_blocks(corpus.train.tobytes())  # whole text: newlines and indentation can merge
    held_out = corpus.val.tobytes()
    print(f"{len(corpus.train)} training bytes, {len(held_out)} held-out bytes")
    args.out.mkdir(parents=True, exist_ok=True)
    for i, size in enumerate(args.vocab):
        start = time.monotonic()
        path = args.out / (TOKENIZER_FILE if i == 0 else f"tokenizer-{size}.json")
        train_tokenizer(train, size).save(str(path))
        tok = BpeTokenizer(path)
        ids = tok.encode(held_out)
        if tok.decode(ids) != held_out:
            raise SystemExit(f"vocabulary {size}: held-out text does not round-trip")
        print(
            f"vocab {size}: {len(held_out) / len(ids):.3f} held-out bytes per token "
            f"({time.monotonic() - start:.0f} s) -> {path}",
            flush=True,
        )


if __name__ == "__main__":
    main()
