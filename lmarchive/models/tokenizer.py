"""Byte-level BPE: any byte sequence to token ids and back, exactly.

Bytes are first mapped one-to-one onto printable characters (GPT-2's table), so the ``tokenizers``
library sees a string for any input: binary, invalid UTF-8, any language.  The input is split into
pieces that BPE merges within, in one of two ways, by what the file's ``pre_tokenizer`` says:

* whitespace (our own models, and any file that names another pre-tokenizer): a piece is an
  optional leading space plus a run of other bytes, or a run of whitespace;
* smollm (a file whose pre_tokenizer is SmolLM2's ``Sequence[Digits, ByteLevel]``): each digit
  alone, then GPT-2's regex (contractions, words, punctuation runs, whitespace runs).  We split in
  Python, on the bytes, rather than let the library do it: its ByteLevel step takes text (valid
  Unicode) and maps it to bytes itself, while an archiver's input is any bytes.

Every single byte is in the vocabulary, so nothing is unknown.

Decoding never runs the library: each id maps to its bytes through the vocabulary alone.  An
archive therefore decodes by the vocabulary file, whatever the merge rules or library version
that produced its tokens.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

TOKENIZER_FILE = "tokenizer.json"
WHITESPACE = b" \t\n\r\x0b\x0c"

SMOLLM_PRE_TOKENIZER: dict[str, Any] = {
    "type": "Sequence",
    "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    ],
}
"""SmolLM2's pre-tokenizer in tokenizer.json form: a file that has it tokenizes the smollm way."""

PreTokenization = Literal["whitespace", "smollm"]


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


# Unicode's White_Space, spelt out: Python's \s also holds U+001C..U+001F, which the library's
# regex counts as punctuation; and a fixed list does not move with Python's Unicode version.
_SPACE = r"\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


@cache
def _smollm_split() -> re.Pattern[str]:
    r"""GPT-2's pattern after the Digits step, in Python's ``re``.

    The library's pattern is 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+.
    Python's \w is exactly \p{L}, \p{N} and "_", so letters are \w less numbers and "_", and
    anything else (lone surrogates, which stand for bytes that are not UTF-8, included) is
    punctuation.  \p{N} is \d plus the other numerals (², ½, Ⅳ), which ``re`` cannot name: they
    are found once in unicodedata (about 0.1 s) and written as ranges (a class of single characters
    would match 4 times slower).  Digits splits every numeral into a piece of its own, so a number
    is one character, and a whitespace run ends its piece at a numeral as at the end of the text:
    hence the lookahead "not followed by what is neither space nor numeral".
    """
    ranges: list[list[int]] = []
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)) in ("Nl", "No"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    num = r"\d" + "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)
    return re.compile(
        rf"'(?:[stmd]|re|ve|ll)| ?[^\W_{num}]+|[{num}]| ?(?:[^\w{_SPACE}]|_)+"
        rf"|[{_SPACE}]+(?![^{_SPACE}{num}])|[{_SPACE}]+"
    )


def is_smollm(pre_tokenizer: object) -> bool:
    """Whether a tokenizer.json ``pre_tokenizer`` entry is SmolLM2's (``trim_offsets`` aside: it
    moves offsets, never pieces)."""
    if not isinstance(pre_tokenizer, dict) or pre_tokenizer.get("type") != "Sequence":
        return False
    steps = pre_tokenizer.get("pretokenizers")
    if not isinstance(steps, list) or len(steps) != 2 or not all(isinstance(step, dict) for step in steps):
        return False
    digits, byte_level = steps
    want_digits, want_byte_level = SMOLLM_PRE_TOKENIZER["pretokenizers"]
    return digits == want_digits and all(
        byte_level.get(k) == v for k, v in want_byte_level.items() if k != "trim_offsets"
    )


def smollm_pieces(data: bytes) -> list[str]:
    """``data`` split the smollm way, each piece in byte characters (the library's input).

    Decoding with surrogateescape gives a string for any bytes (each byte that is not UTF-8 becomes
    a lone surrogate), and encoding a piece back gives exactly its bytes, so the pieces' bytes,
    concatenated, are ``data``: the pattern's alternatives between them match every character.
    """
    text = data.decode("utf-8", "surrogateescape")
    return [bytes_to_text(p.encode("utf-8", "surrogateescape")) for p in _smollm_split().findall(text)]


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
        self.pre_tokenization: PreTokenization = "smollm" if is_smollm(spec.get("pre_tokenizer")) else "whitespace"
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
        # The smollm split happens before the library, which then only merges within the pieces.
        self._tok.normalizer = None
        self._tok.pre_tokenizer = None if self.pre_tokenization == "smollm" else new_tokenizer().pre_tokenizer
        self._tok.no_truncation()
        self._tok.no_padding()

    def encode(self, data: bytes) -> np.ndarray:
        """Token ids (int64) of ``data``; :meth:`decode` gives ``data`` back."""
        if self.pre_tokenization == "smollm":
            ids = self._tok.encode(smollm_pieces(data), is_pretokenized=True, add_special_tokens=False).ids
        else:
            ids = self._tok.encode(bytes_to_text(data), add_special_tokens=False).ids
        return np.asarray(ids, dtype=np.int64)

    def encode_many(self, pieces: list[bytes]) -> list[np.ndarray]:
        """:meth:`encode` of each piece, on the library's threads."""
        if self.pre_tokenization == "smollm":
            split = [smollm_pieces(p) for p in pieces]
            done = self._tok.encode_batch(split, is_pretokenized=True, add_special_tokens=False)
        else:
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
