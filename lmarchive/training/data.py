"""Byte-level training data: text files gathered into one array, split and cropped.

A root is a file, a folder of files, or a corpus folder built by ``lmarchive.training.corpus``
(one holding ``files.tsv``), whose files are read back from its shards.  Only text is useful to
a byte LM trained this small, so binary-looking and huge files are skipped.  The benchmark
corpus is never readable from here: training on it would make every benchmark number
meaningless.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lmarchive.models.tokenizer import BpeTokenizer

FORBIDDEN = ("/work/shared", "shared/corpus")
"""Path fragments of the benchmark data; the loader refuses them."""
MAX_FILE_BYTES = 5 << 20
"""Larger plain files are skipped (a corpus folder's files were already bounded by its builder)."""
SNIFF_BYTES = 8192
SEPARATOR = b"\n"
INDEX_NAME = "files.tsv"


def check_allowed(path: Path) -> None:
    """Raise if ``path`` (as given or resolved) lies in the benchmark corpus."""
    for text in (str(path), str(path.resolve())):
        if text.startswith(FORBIDDEN[0]) or FORBIDDEN[1] in text:
            raise ValueError(f"{path}: refusing to read benchmark data for training")


def looks_binary(path: Path) -> bool:
    """A NUL byte in the first 8 KB marks a binary file."""
    with path.open("rb") as f:
        return b"\0" in f.read(SNIFF_BYTES)


def iter_files(root: Path, suffixes: Sequence[str]) -> Iterable[Path]:
    """``root`` itself if a file, else its files in sorted order filtered by ``suffixes``."""
    check_allowed(root)
    if root.is_file():
        yield root
        return
    if not root.is_dir():
        raise FileNotFoundError(root)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if not suffixes or path.suffix in suffixes:
            check_allowed(path)
            yield path


def read_index(out: Path) -> list[tuple[str, int, int, str, str]]:
    """Rows of a corpus folder's ``files.tsv``: (shard, offset, length, source, path)."""
    rows = []
    for line in (out / INDEX_NAME).read_bytes().splitlines()[1:]:
        shard, offset, length, source, path = line.split(b"\t")
        rows.append(
            (shard.decode(), int(offset), int(length), source.decode(), path.decode("utf-8", "surrogateescape"))
        )
    return rows


def iter_documents(root: Path, suffixes: Sequence[str]) -> Iterable[tuple[Path, bytes]]:
    """(name, contents) of the text files of ``root``: a corpus folder's files in index order,
    named ``root/SOURCE/PATH``, or :func:`iter_files`'s files up to ``MAX_FILE_BYTES``."""
    check_allowed(root)
    if (root / INDEX_NAME).is_file():
        shard_name, shard = "", b""
        for name, offset, length, source, member in read_index(root):
            if name != shard_name:  # files are indexed shard by shard: hold one shard at a time
                shard_name, shard = name, (root / name).read_bytes()
            data = shard[offset : offset + length]
            if (not suffixes or Path(member).suffix in suffixes) and b"\0" not in data[:SNIFF_BYTES]:
                yield root / source / member, data
        return
    for path in iter_files(root, suffixes):
        if path.stat().st_size <= MAX_FILE_BYTES and not looks_binary(path):
            yield path, path.read_bytes()


@dataclass
class ByteCorpus:
    """Training and held-out bytes, and which files went where."""

    train: np.ndarray
    val: np.ndarray
    train_files: list[Path] = field(default_factory=list)
    val_files: list[Path] = field(default_factory=list)


def load_corpus(
    roots: Sequence[Path], suffixes: Sequence[str] = (), max_bytes: int | None = None, val_every: int = 50
) -> ByteCorpus:
    """Files of ``roots`` (in the given order, each sorted), every ``val_every``-th held out
    (or the last one, with fewer files than that).

    Reading stops once ``max_bytes`` are gathered, so earlier roots take precedence.
    """
    parts: dict[bool, list[bytes]] = {False: [], True: []}
    files: dict[bool, list[Path]] = {False: [], True: []}
    seen: set[Path] = set()
    total = 0
    for path, data in (doc for root in roots for doc in iter_documents(Path(root), suffixes)):
        real = path.resolve()
        if real in seen:
            continue
        seen.add(real)
        if max_bytes is not None and total + len(data) > max_bytes:
            break
        held_out = len(seen) % val_every == 0
        parts[held_out].append(data)
        files[held_out].append(path)
        total += len(data) + len(SEPARATOR)
    if not files[True] and len(files[False]) > 1:  # too few files for the stride: hold out the last
        parts[True].append(parts[False].pop())
        files[True].append(files[False].pop())
    train, val = (np.frombuffer(SEPARATOR.join(parts[k]), dtype=np.uint8) for k in (False, True))
    return ByteCorpus(train, val, files[False], files[True])


TOKENIZE_BLOCK = 1 << 20
"""Bytes per piece handed to the tokenizer (cut after a newline, so pieces tokenize as whole text)."""


def text_blocks(raw: bytes, size: int = TOKENIZE_BLOCK) -> list[bytes]:
    """``raw`` in pieces of about ``size`` bytes, each cut just after a newline, so that the text
    inside a piece (newlines and indentation included) is what a tokenizer sees in a file."""
    cuts = [0]
    while cuts[-1] + size < len(raw):
        newline = raw.find(SEPARATOR, cuts[-1] + size)
        if newline < 0:
            break
        cuts.append(newline + 1)
    cuts.append(len(raw))
    return [raw[a:b] for a, b in itertools.pairwise(cuts) if b > a]


def tokenize_bytes(data: np.ndarray, tokenizer: BpeTokenizer) -> np.ndarray:
    """``data`` (uint8) as token ids (uint16), tokenized in blocks on the library's threads."""
    if tokenizer.vocab_size > 1 << 16:
        raise ValueError(f"{tokenizer.vocab_size} tokens do not fit the uint16 training arrays")
    ids = tokenizer.encode_many(text_blocks(data.tobytes()))
    return np.concatenate([np.zeros(0, dtype=np.uint16), *(i.astype(np.uint16) for i in ids)])


def random_crops(
    data: np.ndarray, seq: int, batch: int, bos: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``[bos] + crop[:-1]`` and targets ``crop`` (both int64, (batch, seq)).

    Every crop starts at position 0 with BOS, as the archiver's chunks do, so the model learns
    the chunk start as well as (for ``seq`` past the window) the steady sliding-window state.
    """
    if len(data) < seq:
        raise ValueError(f"need at least {seq} symbols of data, have {len(data)}")
    starts = rng.integers(0, len(data) - seq + 1, size=batch)
    targets = np.stack([data[s : s + seq] for s in starts]).astype(np.int64)
    inputs = np.concatenate([np.full((batch, 1), bos, dtype=np.int64), targets[:, :-1]], axis=1)
    return inputs, targets
