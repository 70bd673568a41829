"""Train a byte or token LM with fake quantization and export it as an exact model directory.

Self-contained so that it runs unchanged on a GPU machine: ``--device auto`` picks CUDA when
present.  The schedule is time-based (a budget in minutes), and the whole training state is
checkpointed atomically every few minutes, so a run can be stopped and resumed over days.
With ``--tokenizer`` (see :mod:`lmarchive.training.train_tokenizer`) the model predicts BPE
tokens; losses are still reported in bits per byte of the text.  ``--shard FILE`` saves the
tokenized data (and the card's data section) on first use and trains from it afterwards, without
``--data``: a file small enough to take to a GPU machine.

    python -m lmarchive.training.train_lm --data PATH... --out DIR --name NAME [options]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import os
import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from lmarchive.models.base import sha256_of
from lmarchive.models.lm import quant
from lmarchive.models.lm.config import LMConfig
from lmarchive.models.lm.convert import export_tensors, save_model
from lmarchive.models.lm.exact import ExactTransformer
from lmarchive.models.lm.float_model import FloatTransformer
from lmarchive.models.tokenizer import BpeTokenizer
from lmarchive.training.data import INDEX_NAME, ByteCorpus, load_corpus, random_crops, tokenize_bytes

LN2 = math.log(2.0)
WARMUP_STEPS = 100
CLIP_NORM = 1.0
WEIGHT_DECAY = 0.1
VAL_BYTES = 64 << 10
"""Held-out bytes scored at each log line (the final evaluation may use more)."""
EVAL_CHUNK = 2048
"""Chunk length (symbols) of the evaluations: each starts at position 0 with BOS, as archive chunks do."""


@dataclass
class Symbols:
    """The corpus as the model sees it: bytes, or token ids, and how many bytes each symbol stands for."""

    train: np.ndarray
    val: np.ndarray
    data_lines: list[str]
    """The model card's account of where the data came from."""
    tokenizer: BpeTokenizer | None = None

    @property
    def piece_bytes(self) -> np.ndarray:
        """Bytes per symbol id (all ones for a byte model)."""
        return np.ones(256, dtype=np.int64) if self.tokenizer is None else self.tokenizer.lengths

    @property
    def vocab_size(self) -> int:
        return len(self.piece_bytes)

    @property
    def bytes_per_symbol(self) -> float:
        """Over the training data: converts the training loss to bits per byte."""
        return float(self.piece_bytes[self.train].sum()) / max(1, len(self.train))

    def bytes_of(self, chunks: np.ndarray) -> int:
        return int(self.piece_bytes[chunks].sum())


def symbols_of(corpus: ByteCorpus, tokenizer: Path | None, data_lines: list[str]) -> Symbols:
    if tokenizer is None:
        return Symbols(corpus.train, corpus.val, data_lines)
    tok = BpeTokenizer(tokenizer)
    return Symbols(tokenize_bytes(corpus.train, tok), tokenize_bytes(corpus.val, tok), data_lines, tok)


def vocabulary_digest(tokenizer: BpeTokenizer | None) -> str:
    """sha256 over the vocabulary's byte strings in id order ('bytes' for a byte model)."""
    if tokenizer is None:
        return "bytes"
    return sha256_of(*tokenizer.pieces).hex()


def save_shard(path: Path, symbols: Symbols) -> None:
    """The symbols, their vocabulary's digest and the card's data section in one .npz (temp + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    lines = np.array(json.dumps(symbols.data_lines))
    vocabulary = np.array(vocabulary_digest(symbols.tokenizer))
    np.savez(tmp, train=symbols.train, val=symbols.val, data_lines=lines, vocabulary=vocabulary)
    os.replace(tmp, path)


def load_shard(path: Path, tokenizer: Path | None) -> Symbols:
    """A shard written by :func:`save_shard`; it must have been tokenized with ``tokenizer``."""
    tok = BpeTokenizer(tokenizer) if tokenizer is not None else None
    with np.load(path) as shard:
        if str(shard["vocabulary"]) != vocabulary_digest(tok):
            raise SystemExit(f"{path} was not made with {tokenizer or 'bytes (no tokenizer)'}")
        lines = json.loads(str(shard["data_lines"]))
        return Symbols(shard["train"], shard["val"], lines, tok)


@dataclass
class TrainState:
    """Everything a resumed run needs to continue exactly where it stopped."""

    model: FloatTransformer
    optimizer: torch.optim.AdamW
    rng: np.random.Generator
    step: int = 0
    tokens: int = 0
    seconds: float = 0.0
    recent_bits: list[float] = dataclasses.field(default_factory=list)
    """Train loss of the last batches in bits per symbol (per byte for a byte model)."""


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def new_state(config: LMConfig, lr: float, seed: int, device: torch.device) -> TrainState:
    """A fresh model and AdamW; weight decay only on the matrices (not gains or embeddings)."""
    torch.manual_seed(seed)
    model = FloatTransformer(config).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and not n.startswith("embed")]
    other = [p for n, p in model.named_parameters() if not (p.dim() == 2 and not n.startswith("embed"))]
    groups = [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": other, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95))
    return TrainState(model, optimizer, np.random.default_rng(seed))


def learning_rate(base: float, step: int, seconds: float, budget: float) -> float:
    """Linear warmup over steps, then cosine decay to 10% over the time budget."""
    warm = min(1.0, (step + 1) / WARMUP_STEPS)
    progress = min(1.0, seconds / budget)
    return base * warm * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def train_step(state: TrainState, inputs: np.ndarray, targets: np.ndarray, lr: float) -> float:
    """One optimizer step; returns the batch loss in bits per symbol."""
    device = next(state.model.parameters()).device
    x, y = torch.from_numpy(inputs).to(device), torch.from_numpy(targets).to(device)
    state.model.train()
    logits = state.model(x)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    for group in state.optimizer.param_groups:
        group["lr"] = lr
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(state.model.parameters(), CLIP_NORM)
    state.optimizer.step()
    state.step += 1
    state.tokens += targets.size
    bits = float(loss.detach()) / LN2
    state.recent_bits = [*state.recent_bits[-49:], bits]
    return bits


def save_checkpoint(state: TrainState, path: Path) -> None:
    """Write temp + rename, so a crash never leaves a torn checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "config": dataclasses.asdict(state.model.config),
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "rng": state.rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
        "step": state.step,
        "tokens": state.tokens,
        "seconds": state.seconds,
        "recent_bits": state.recent_bits,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(blob, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, lr: float, device: torch.device) -> TrainState:
    """The state saved by :func:`save_checkpoint`, on ``device`` (its config wins over the CLI's)."""
    blob = torch.load(path, map_location=device, weights_only=False)
    state = new_state(LMConfig(**blob["config"]), lr, 0, device)
    state.model.load_state_dict(blob["model"])
    state.optimizer.load_state_dict(blob["optimizer"])
    state.rng.bit_generator.state = blob["rng"]
    torch.set_rng_state(blob["torch_rng"])
    state.step, state.tokens, state.seconds = blob["step"], blob["tokens"], blob["seconds"]
    state.recent_bits = blob.get("recent_bits", blob.get("recent_bpb", []))  # older checkpoints: bpb
    return state


def eval_chunks(data: np.ndarray, limit: int, chunk: int = EVAL_CHUNK) -> np.ndarray:
    """Whole chunks of up to ``limit`` symbols of ``data``, (n, chunk); one shorter chunk when
    there is less than a whole one (evaluating nothing would divide by zero)."""
    usable = min(len(data), limit)
    if usable < chunk:
        if usable == 0:
            raise SystemExit("no held-out data to evaluate on")
        return data[:usable].reshape(1, usable)
    n = usable // chunk
    return data[: n * chunk].reshape(n, chunk)


def with_bos(chunks: np.ndarray, bos: int) -> np.ndarray:
    return np.concatenate([np.full((len(chunks), 1), bos, dtype=np.int64), chunks[:, :-1].astype(np.int64)], axis=1)


@torch.no_grad()
def float_bits(model: FloatTransformer, chunks: np.ndarray, batch: int = 4) -> float:
    """Total bits of the float model (log_softmax) on the chunks, each coded from BOS."""
    device = next(model.parameters()).device
    model.eval()
    total = 0.0
    for start in range(0, len(chunks), batch):
        part = chunks[start : start + batch]
        x = torch.from_numpy(with_bos(part, model.config.bos)).to(device)
        y = torch.from_numpy(part.astype(np.int64)).to(device)
        logp = F.log_softmax(model(x).float(), dim=-1).gather(-1, y[..., None])
        total -= float(logp.sum()) / LN2
    return total


@torch.no_grad()
def exact_bits(engine: ExactTransformer, chunks: np.ndarray, batch: int = 4) -> float:
    """Total bits of the exact model's integer tables: -log2(freq / 2**24) of each true symbol."""
    total = 0.0
    for start in range(0, len(chunks), batch):
        part = chunks[start : start + batch]
        x = torch.from_numpy(with_bos(part, engine.config.bos)).to(engine.device)
        y = torch.from_numpy(part.astype(np.int64)).to(engine.device)
        freq = engine.forward(x, engine.new_cache(len(part)), slice(0, len(part))).gather(-1, y[..., None])
        total -= float(torch.log2(freq.double() / quant.FREQ_TOTAL).sum())
    return total


def debian_packages(files: Sequence[Path]) -> Counter[str]:
    """Files per Debian package that ships them (``dpkg -S``), 'unknown' where none does."""
    found: dict[str, str] = {}
    try:
        listing = subprocess.run(["dpkg", "-S", *map(str, files)], capture_output=True, text=True, check=False).stdout
    except OSError:  # no dpkg (not Debian): every file is 'unknown'
        listing = ""
    for line in listing.splitlines():
        pkgs, _, path = line.partition(": ")
        found[path] = pkgs
    return Counter(found.get(str(f), "unknown") for f in files)


def corpus_sources(files: Sequence[Path], roots: Sequence[Path]) -> Counter[str]:
    """Files per source of those ``files`` that come from corpus folders (roots with an index)."""
    built = [root for root in roots if (root / INDEX_NAME).is_file()]
    return Counter(f.relative_to(root).parts[0] for f in files for root in built if f.is_relative_to(root))


def describe_paths(paths: Sequence[Path]) -> str:
    """Paths that differ in one middle folder only, such as /usr/share/doc/*/copyright, as one pattern."""
    groups: dict[Path, list[Path]] = {}
    for path in paths:
        groups.setdefault(path.parent.parent / "*" / path.name, []).append(path)
    return ", ".join(
        str(group[0]) if len(group) == 1 else f"{pattern} ({len(group)} paths)" for pattern, group in groups.items()
    )


def model_card(
    args: argparse.Namespace,
    device: str,
    config: LMConfig,
    symbols: Symbols,
    state: TrainState,
    results: dict[str, float],
) -> str:
    """The card: what the model is, what it was trained on and how well it codes held-out bytes."""
    params = sum(p.numel() for p in state.model.parameters())
    if symbols.tokenizer is None:
        kind = "A byte-level (256-symbol)"
    else:
        kind = f"A byte-level BPE ({symbols.vocab_size} tokens, tokenizer.json)"
    lines = [
        f"# {args.name}",
        "",
        f"{kind} transformer LM in lmarchive's exact integer format: every",
        "frequency table is bit-identical on any device, so it can drive the archiver's range coder.",
    ]
    if args.for_tests:
        lines += ["", "**For tests only**: small on purpose, so that it codes quickly on a couple of CPU cores."]
    lines += [
        "",
        "## Training data",
        "",
        *symbols.data_lines,
        "",
        "## Model",
        "",
        f"Config: {dataclasses.asdict(config)}; {params} float parameters.",
        "",
        "## Training",
        "",
        f"AdamW (lr {args.lr}, warmup {WARMUP_STEPS} steps, cosine over {args.minutes} min), "
        f"crops of {args.seq} symbols from BOS, batch {args.batch}, seed {args.seed}.",
        f"{state.step} steps, {state.tokens} symbols seen "
        f"(about {state.tokens * symbols.bytes_per_symbol / 1e6:.1f} MB of text), "
        f"{state.seconds / 60:.1f} min on {device}.",
        f"Final train loss {results['train_bpb']:.3f} bits/byte (recent batches).",
        "",
        "## Evaluation",
        "",
        f"Held-out: {results['eval_bytes']} bytes ({results['eval_symbols']} symbols) "
        f"in chunks of {EVAL_CHUNK} symbols from BOS.",
        f"- float model: {results['float_bpb']:.4f} bits/byte",
        f"- exact model: {results['exact_bpb']:.4f} bits/byte "
        f"(exact loses {results['exact_loss_pct']:.2f}% bits vs float)",
        "",
    ]
    return "\n".join(lines)


def data_section(args: argparse.Namespace, corpus: ByteCorpus) -> list[str]:
    """The card's lines on the training data: arguments, sources, Debian packages, the split."""
    files = corpus.train_files + corpus.val_files
    sources = corpus_sources(files, args.data)
    plain = [f for f in files if f.is_file()]  # a corpus folder's files live in its shards
    packages = debian_packages(plain) if plain else Counter()
    single = sorted(pkg for pkg, n in packages.items() if n == 1)  # listed in full they would swamp the card
    return [
        f"Data arguments: {describe_paths(args.data)}"
        + (f" (files ending in {', '.join(args.suffix)} inside folders)" if args.suffix else "")
        + (f", capped at {args.max_bytes} bytes" if args.max_bytes else "")
        + ".",
        "",
        *(["Files per corpus source (see TRAINING_DATA.md):", ""] if sources else []),
        *(f"- {name}: {n} files" for name, n in sources.items()),
        *([""] if sources else []),
        *(["Files per Debian package (`dpkg -S`):", ""] if packages else []),
        *(f"- {pkg}: {n} files" for pkg, n in sorted(packages.items()) if n > 1),
        *([f"- one file each from {len(single)} more packages, e.g. {', '.join(single[:5])}"] if single else []),
        *([""] if packages else []),
        f"{len(corpus.train_files)} training files ({len(corpus.train)} bytes), "
        f"{len(corpus.val_files)} held-out files ({len(corpus.val)} bytes; every 50th file).",
    ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", type=Path, help="files or folders of training text")
    ap.add_argument("--suffix", action="append", default=[], help="only these file suffixes inside folders")
    ap.add_argument("--max-bytes", type=int, default=None, help="stop gathering data after this many bytes")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--for-tests", action="store_true", help="say 'for tests only' in the model card")
    ap.add_argument("--tokenizer", type=Path, default=None, help="tokenizer.json: train a token model")
    ap.add_argument("--shard", type=Path, default=None, help=".npz of the tokenized data: written once, then read")
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=192)
    ap.add_argument("--window", type=int, default=128)
    ap.add_argument("--rope-period", type=int, default=1024)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--minutes", type=float, default=10.0, help="training time budget (the schedule's length)")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--resume", type=Path, default=None, help="checkpoint to continue from")
    ap.add_argument("--checkpoint", type=Path, default=None, help="default build/train/NAME/checkpoint.pt")
    ap.add_argument("--checkpoint-minutes", type=float, default=3.0)
    ap.add_argument("--log-seconds", type=float, default=30.0)
    ap.add_argument("--eval-bytes", type=int, default=256 << 10, help="held-out bytes of the final evaluation")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    checkpoint = args.checkpoint or Path("build") / "train" / args.name / "checkpoint.pt"
    if args.shard is not None and args.shard.is_file():
        symbols = load_shard(args.shard, args.tokenizer)
    elif args.data:
        corpus = load_corpus(args.data, args.suffix, args.max_bytes)
        print(f"data: {len(corpus.train)} train bytes, {len(corpus.val)} held-out bytes", flush=True)
        symbols = symbols_of(corpus, args.tokenizer, data_section(args, corpus))
        if args.shard is not None:
            save_shard(args.shard, symbols)
    else:
        raise SystemExit("give --data, or a --shard that exists")
    ratio = symbols.bytes_per_symbol
    print(f"{len(symbols.train)} train symbols ({ratio:.3f} bytes each)", flush=True)
    if args.resume:
        state = load_checkpoint(args.resume, args.lr, device)
        if state.model.config.vocab_size != symbols.vocab_size:
            raise SystemExit(f"{args.resume}: vocabulary {state.model.config.vocab_size}, data {symbols.vocab_size}")
    else:
        config = LMConfig(
            vocab_size=symbols.vocab_size,
            d_model=args.d_model,
            n_layers=args.layers,
            n_heads=args.heads,
            d_ffn=args.ffn,
            window=args.window,
            rope_period=args.rope_period,
        )
        state = new_state(config, args.lr, args.seed, device)
    config = state.model.config
    if args.seq < 2 * config.window:
        print(f"warning: --seq {args.seq} < 2 x window: the steady sliding-window state is barely trained")
    val_chunks = eval_chunks(symbols.val, int(VAL_BYTES / ratio))
    log_path = checkpoint.with_suffix(".csv")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    new_log = not (args.resume and log_path.exists())
    with log_path.open("w" if new_log else "a", newline="") as log_file:
        log = csv.writer(log_file)
        if new_log:
            log.writerow(["step", "tokens", "seconds", "train_bpb", "val_bpb"])
        budget = args.minutes * 60.0
        last_log = last_save = state.seconds
        clock = time.monotonic() - state.seconds
        while state.seconds < budget:
            inputs, targets = random_crops(symbols.train, args.seq, args.batch, config.bos, state.rng)
            lr = learning_rate(args.lr, state.step, state.seconds, budget)
            train_step(state, inputs, targets, lr)
            state.seconds = time.monotonic() - clock
            done = state.seconds >= budget
            if done or state.seconds - last_log >= args.log_seconds:
                val = float_bits(state.model, val_chunks) / symbols.bytes_of(val_chunks)
                train_bpb = sum(state.recent_bits) / len(state.recent_bits) / ratio
                log.writerow([state.step, state.tokens, f"{state.seconds:.1f}", f"{train_bpb:.4f}", f"{val:.4f}"])
                log_file.flush()
                print(
                    f"step {state.step} tokens {state.tokens} {state.seconds:.0f}s lr {lr:.2e} "
                    f"train {train_bpb:.3f} val {val:.3f} bpb",
                    flush=True,
                )
                last_log = state.seconds
                clock = time.monotonic() - state.seconds  # evaluation time is not training time
            if done or state.seconds - last_save >= args.checkpoint_minutes * 60.0:
                save_checkpoint(state, checkpoint)
                last_save = state.seconds
    chunks = eval_chunks(symbols.val, int(args.eval_bytes / ratio))
    eval_bytes = symbols.bytes_of(chunks)
    results = {
        "train_bpb": sum(state.recent_bits) / max(1, len(state.recent_bits)) / ratio,
        "eval_bytes": eval_bytes,
        "eval_symbols": chunks.size,
    }
    results["float_bpb"] = float_bits(state.model, chunks) / eval_bytes
    tensors = export_tensors(state.model)
    engine = ExactTransformer(config, {k: torch.from_numpy(v.astype(np.int64)) for k, v in tensors.items()}, device)
    results["exact_bpb"] = exact_bits(engine, chunks) / eval_bytes
    results["exact_loss_pct"] = 100.0 * (results["exact_bpb"] / results["float_bpb"] - 1.0)
    device_name = str(device) if device.type == "cpu" else torch.cuda.get_device_name(device)
    card = model_card(args, device_name, config, symbols, state, results)
    digest = save_model(args.out, config, tensors, card, args.tokenizer)
    print(
        f"float {results['float_bpb']:.4f} bpb, exact {results['exact_bpb']:.4f} bpb: "
        f"exact loses {results['exact_loss_pct']:.2f}% bits vs float"
    )
    print(f"model {args.out} fingerprint {digest.hex()}")


if __name__ == "__main__":
    main()
