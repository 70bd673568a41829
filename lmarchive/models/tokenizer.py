"""Byte-level BPE: any byte sequence to token ids and back, exactly.

Bytes are first mapped one-to-one onto printable characters (GPT-2's table), so the ``tokenizers``
library sees a string for any input: binary, invalid UTF-8, any language.  Pieces are split only
at whitespace (a piece is an optional leading space plus a run of other bytes, or a run of
whitespace), then merged by BPE.  Every single byte is in the vocabulary, so nothing is unknown.

Decoding never runs the library: each id maps to its bytes through the vocabulary alone.  An
archive therefore decodes by the vocabulary file, whatever the merge rules or library version
that produced its tokens.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

TOKENIZER_FILE = "tokenizer.json"
WHITESPACE = b" \t\n\r\x0b\x0c"


@cache
def byte_chars() -> tuple[str, ...]:
    """The printable character standing for each byte (GPT-2's ``bytes_to_unicode``)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars: dict[int, int] = {b: b for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = 256 + extra
            extra += 1
    return tuple(chr(chars[b]) for b in range(256))


@cache
def _to_chars() -> dict[int, str]:
    """``str.translate`` table from latin-1 code points (= bytes) to the printable characters."""
    return dict(enumerate(byte_chars()))


def bytes_to_text(data: bytes) -> str:
    """``data`` as the library's input: each byte as its printable character."""
    return data.decode("latin-1").translate(_to_chars())


@cache
def _to_bytes() -> dict[str, int]:
    return {c: b for b, c in enumerate(byte_chars())}


def text_to_bytes(text: str) -> bytes:
    """The bytes a token's characters stand for; ValueError for a character outside the table."""
    back = _to_bytes()
    try:
        return bytes(back[c] for c in text)
    except KeyError as exc:
        raise ValueError(f"character {exc.args[0]!r} stands for no byte") from None


def split_pattern() -> str:
    """Regex of the pieces BPE merges within: optional space + non-whitespace run, or a whitespace run."""
    space = byte_chars()[ord(" ")]
    ws = "".join(byte_chars()[b] for b in WHITESPACE)
    return f"{space}?[^{ws}]+|[{ws}]+"


def new_tokenizer() -> Tokenizer:
    """An untrained BPE tokenizer with this module's byte mapping and pre-tokenization."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(split_pattern()), behavior="isolated")
    return tok


def train_tokenizer(documents: Iterable[bytes], vocab_size: int) -> Tokenizer:
    """BPE trained on ``documents`` with every byte in the alphabet (ids 0-255 are not bytes)."""
    from tokenizers import trainers

    tok = new_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=list(byte_chars()), show_progress=False, special_tokens=[]
    )
    tok.train_from_iterator((bytes_to_text(d) for d in documents), trainer=trainer)
    return tok


class BpeTokenizer:
    """A trained tokenizer file: ``encode`` through the library, ``decode`` through the vocabulary."""

    def __init__(self, path: Path) -> None:
        """Raises ValueError (or OSError) for a file that is not a usable byte-level BPE."""
        from tokenizers import Tokenizer

        data = path.read_bytes()
        try:
            raw = data.decode("utf-8")
            spec = json.loads(raw)
            vocab: dict[str, int] = dict(spec["model"]["vocab"])
            added = spec.get("added_tokens") or []
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise ValueError(f"{path}: not a BPE tokenizer file ({exc})") from None
        if not all(type(i) is int for i in vocab.values()):  # JSON true and 1.0 are not ids
            raise ValueError(f"{path}: token ids must be integers")
        if added:  # the library could emit their ids, which decode by no vocabulary entry
            raise ValueError(f"{path}: added (special) tokens are not supported")
        self.vocab_size = len(vocab)
        if sorted(vocab.values()) != list(range(self.vocab_size)):
            raise ValueError(f"{path}: token ids are not 0..{self.vocab_size - 1}")
        pieces = [b""] * self.vocab_size
        for text, i in vocab.items():
            pieces[i] = text_to_bytes(text)
        if {p for p in pieces if len(p) == 1} != {bytes([b]) for b in range(256)} or not all(pieces):
            raise ValueError(f"{path}: the vocabulary must hold every single byte and no empty token")
        self.pieces = pieces
        offsets = np.cumsum([0, *map(len, pieces)])
        self._flat = np.frombuffer(b"".join(pieces), dtype=np.uint8)
        self._start = offsets[:-1]
        self.lengths = np.diff(offsets)
        """Bytes per token id (int64)."""
        try:
            self._tok = Tokenizer.from_str(raw)
        except Exception as exc:  # the library raises plain Exception for a bad file
            raise ValueError(f"{path}: the tokenizers library cannot load it ({exc})") from None
        # Ours, whatever the file says: the text is the bytes, split our way, never cut or padded.
        self._tok.normalizer = None
        self._tok.pre_tokenizer = new_tokenizer().pre_tokenizer
        self._tok.no_truncation()
        self._tok.no_padding()

    def encode(self, data: bytes) -> np.ndarray:
        """Token ids (int64) of ``data``; :meth:`decode` gives ``data`` back."""
        ids = self._tok.encode(bytes_to_text(data), add_special_tokens=False).ids
        return np.asarray(ids, dtype=np.int64)

    def encode_many(self, pieces: list[bytes]) -> list[np.ndarray]:
        """:meth:`encode` of each piece, on the library's threads."""
        done = self._tok.encode_batch([bytes_to_text(p) for p in pieces], add_special_tokens=False)
        return [np.asarray(e.ids, dtype=np.int64) for e in done]

    def _checked(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError("token id outside the vocabulary")
        return ids

    def decoded_size(self, ids: np.ndarray) -> int:
        """Bytes that :meth:`decode` would return (checked before decoding untrusted ids)."""
        return int(self.lengths[self._checked(ids)].sum())

    def decode(self, ids: np.ndarray) -> bytes:
        """The bytes of ``ids``: their vocabulary entries, concatenated."""
        ids = self._checked(ids)
        lengths = self.lengths[ids]
        # Output byte p of token k (which starts at output offset cumsum[k] - len[k]) is
        # _flat[start[k] + p - (cumsum[k] - len[k])]: one gather, no Python loop.
        index = np.repeat(self._start[ids] - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        return self._flat[index].tobytes()
