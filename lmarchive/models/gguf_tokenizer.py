"""A GGUF model's GPT-2-style tokenizer (SmolLM2's) as a tokenizer.json that :class:`BpeTokenizer` loads.

A GGUF file carries its vocabulary and merges in GPT-2's byte-to-character form, the same form as
:func:`~lmarchive.models.tokenizer.byte_chars`, so they carry over unchanged: token ids stay the
model's own, which is what its logits are indexed by.  Two things are added.  SmolLM2 lacks 21 of
the 256 single bytes (six control characters, and bytes that UTF-8 text never or hardly ever
holds: 0xC0, 0xC1, 0xF1, 0xF2, 0xF5..0xFF), without which some inputs would have no tokenization:
each missing byte becomes a new token after the model's last id.  And the file names SmolLM2's
pre-tokenization (digits one by one, then GPT-2's regex), which :class:`BpeTokenizer` recognises
and runs itself, on bytes.

The control tokens (``<|endoftext|>`` ...) stay plain vocabulary entries: as added tokens the
library would match them inside the data, and :class:`BpeTokenizer` refuses added tokens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmarchive.models.tokenizer import SMOLLM_PRE_TOKENIZER, byte_chars

if TYPE_CHECKING:
    from gguf import GGUFReader


def missing_bytes(tokens: list[str]) -> list[int]:
    """The bytes (ascending) that no single-character token of ``tokens`` stands for."""
    present = set(tokens)
    return [b for b, c in enumerate(byte_chars()) if c not in present]


def tokenizer_json(tokens: list[str], merges: list[str]) -> str:
    """tokenizer.json text: ``tokens`` at their ids, then the missing single bytes, with ``merges``
    (each ``"left right"``) and the smollm pre-tokenization."""
    if len(set(tokens)) != len(tokens):  # a repeated token would leave a gap in the ids
        raise ValueError("the vocabulary repeats a token")
    pairs = [m.split(" ") for m in merges]
    if any(len(pair) != 2 for pair in pairs):  # a token never holds a space (it is "Ġ")
        raise ValueError("a merge is not two tokens")
    vocab = {t: i for i, t in enumerate(tokens)}
    for b in missing_bytes(tokens):
        vocab[byte_chars()[b]] = len(vocab)
    spec: dict[str, Any] = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [],
        "normalizer": None,
        "pre_tokenizer": SMOLLM_PRE_TOKENIZER,
        "post_processor": None,
        # Unused by BpeTokenizer (it decodes by the vocabulary), but the file then works on its own
        # as the model's tokenizer in the library.
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": pairs,
        },
    }
    return json.dumps(spec, ensure_ascii=False)


def read_gguf(source: str | Path | GGUFReader) -> tuple[list[str], list[str]]:
    """(tokens, merges) of a GGUF file or reader; ValueError unless its tokenizer is smollm's kind."""
    from gguf import GGUFReader  # set-up time only: archiving never reads a GGUF file

    reader = source if isinstance(source, GGUFReader) else GGUFReader(source)

    def strings(key: str) -> list[str]:
        field = reader.fields.get(key)
        if field is None:
            raise ValueError(f"the GGUF file has no {key}")
        return [bytes(field.parts[i]).decode("utf-8") for i in field.data]

    (kind,) = strings("tokenizer.ggml.model")
    if kind != "gpt2":  # a SentencePiece ("llama") vocabulary is not in byte-character form
        raise ValueError(f"the GGUF tokenizer is {kind!r}, not a GPT-2-style byte-level BPE")
    # Other GPT-2-style models split differently (llama3's numbers in threes, say); the file
    # tokenizer_json writes names smollm's, so it would tokenize them unlike their training.
    (pre,) = strings("tokenizer.ggml.pre")
    if pre != "smollm":
        raise ValueError(f"the GGUF pre-tokenizer is {pre!r}; only 'smollm' is supported")
    return strings("tokenizer.ggml.tokens"), strings("tokenizer.ggml.merges")
