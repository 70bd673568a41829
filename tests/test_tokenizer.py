"""The byte-level BPE tokenizer: every byte sequence comes back exactly.

A token model's archive decodes by the tokenizer's vocabulary alone, so a tokenization that does
not reproduce its input would lose data.  Checked over random bytes (hypothesis) and over real
files of every kind: source code, prose, JSON, CRLF text, other scripts, invalid UTF-8, binaries.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import text_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmarchive.models.tokenizer import BpeTokenizer, byte_chars, bytes_to_text, text_to_bytes, train_tokenizer
from lmarchive.training import train_tokenizer as train_tokenizer_cli

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "lmarchive" / "data" / "models" / "lmt-s1" / "tokenizer.json"
GPT2_TABLE_SHA256 = "3bd96da9fcd14021199c10cd38baa447294f336f25d71c2881b5cfabaf6f7c28"

MULTILINGUAL = (
    "Grüße aus Köln, ça va très bien. Ελληνικά κείμενα. Русский текст для проверки. "
    "日本語のテキストです。中文文本。한국어 텍스트. עברית. العربية. हिन्दी पाठ. 🙂🚀\n"
)


def training_text() -> list[bytes]:
    rng = random.Random(3)
    code = (ROOT / "lmarchive" / "archive.py").read_bytes()
    return [text_bytes(rng, 20000), code, MULTILINGUAL.encode() * 20, json.dumps({"k": list(range(300))}).encode()]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> BpeTokenizer:
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    train_tokenizer(training_text(), 600).save(str(path))
    return BpeTokenizer(path)


@pytest.fixture(scope="module", params=["small", "shipped"])
def tokenizer(request: pytest.FixtureRequest, small: BpeTokenizer) -> BpeTokenizer:
    return small if request.param == "small" else BpeTokenizer(SHIPPED)


def real_files() -> dict[str, bytes]:
    """One sample of each kind of file people archive."""
    rng = random.Random(9)
    prose = (ROOT / "README.md").read_bytes()
    records = [{"id": i, "name": f"item {i}", "tags": ["a", "b"], "price": i * 1.25} for i in range(200)]
    return {
        "python": (ROOT / "lmarchive" / "codec.py").read_bytes(),
        "markdown": prose,
        "json": json.dumps(records, indent=2).encode(),
        "crlf": prose.replace(b"\n", b"\r\n"),
        "multilingual": MULTILINGUAL.encode() * 5,
        "utf16": MULTILINGUAL.encode("utf-16"),
        "invalid_utf8": b"ok \xff\xfe \xc3 \xe2\x82 \xed\xa0\x80 end\n" * 10,
        "executable": Path(sys.executable).read_bytes()[:200_000],
        "random": rng.randbytes(50_000),
        "zeros": bytes(10_000),
        "every_byte": bytes(range(256)) * 4,
        "whitespace": b" \t\n\r\x0b\x0c" * 100 + b"    \n\n\n\t\t  x",
    }


def test_the_byte_table_is_gpt2s() -> None:
    """docs/FORMAT.md fixes the table; archives decode by it, so it must never change."""
    chars = byte_chars()
    assert [chars[b] for b in (0x00, 0x0A, 0x20, 0x21, 0x7E, 0x7F, 0xA0, 0xA1, 0xAC, 0xAD, 0xAE, 0xFF)] == [
        "\u0100",
        "\u010a",
        "\u0120",
        "!",
        "~",
        "\u0121",
        "\u0142",
        "\u00a1",
        "\u00ac",
        "\u0143",
        "\u00ae",
        "\u00ff",
    ]
    assert hashlib.sha256("".join(chars).encode()).hexdigest() == GPT2_TABLE_SHA256


def test_each_byte_stands_for_one_printable_character_that_is_not_whitespace() -> None:
    chars = byte_chars()
    assert len(set(chars)) == 256
    assert all(c.isprintable() and not c.isspace() for c in chars)
    data = bytes(range(256))
    assert text_to_bytes(bytes_to_text(data)) == data


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2000))
def test_any_bytes_round_trip(tokenizer: BpeTokenizer, data: bytes) -> None:
    ids = tokenizer.encode(data)
    assert ids.dtype == np.int64 and (ids.size == 0 or 0 <= ids.min() <= ids.max() < tokenizer.vocab_size)
    assert tokenizer.decode(ids) == data


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=500))
def test_any_unicode_text_round_trips(tokenizer: BpeTokenizer, text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    assert tokenizer.decode(tokenizer.encode(data)) == data


@pytest.mark.parametrize("kind", sorted(real_files()))
def test_real_files_of_every_kind_round_trip(tokenizer: BpeTokenizer, kind: str) -> None:
    data = real_files()[kind]
    ids = tokenizer.encode(data)
    assert tokenizer.decode(ids) == data
    (many,) = tokenizer.encode_many([data])
    assert np.array_equal(many, ids)


def test_text_takes_fewer_tokens_than_bytes(tokenizer: BpeTokenizer) -> None:
    for kind in ("python", "markdown", "json"):
        data = real_files()[kind]
        assert len(tokenizer.encode(data)) < len(data) / 1.5, kind


def test_the_shipped_vocabulary_holds_every_byte_and_is_the_models_size() -> None:
    tok = BpeTokenizer(SHIPPED)
    config = json.loads((SHIPPED.parent / "config.json").read_text())
    assert tok.vocab_size == config["vocab_size"]
    assert sorted(p for p in tok.pieces if len(p) == 1) == [bytes([b]) for b in range(256)]


def test_ids_outside_the_vocabulary_are_refused(small: BpeTokenizer) -> None:
    with pytest.raises(ValueError, match="outside the vocabulary"):
        small.decode(np.array([0, small.vocab_size]))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        small.decode(np.array([-1]))


@pytest.fixture(scope="module")
def tokenizer_json() -> dict:
    """A small trained tokenizer file, parsed, for tests that break it."""
    return json.loads(train_tokenizer(training_text(), 300).to_str())


def write_json(path: Path, raw: object) -> Path:
    path.write_text(json.dumps(raw))
    return path


def test_a_vocabulary_missing_a_byte_is_refused(tmp_path: Path, tokenizer_json: dict) -> None:
    raw = copy.deepcopy(tokenizer_json)
    vocab = raw["model"]["vocab"]
    missing = byte_chars()[0x07]
    gone = vocab.pop(missing)
    raw["model"]["vocab"] = {t: (i if i < gone else i - 1) for t, i in vocab.items()}
    raw["model"]["merges"] = [m for m in raw["model"]["merges"] if missing not in "".join(m)]
    with pytest.raises(ValueError, match="every single byte"):
        BpeTokenizer(write_json(tmp_path / "tokenizer.json", raw))


def test_added_tokens_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    tok = train_tokenizer(training_text(), 300)
    tok.add_special_tokens(["<|end|>"])
    tok.save(str(path))
    with pytest.raises(ValueError, match="added"):
        BpeTokenizer(path)


def test_a_file_the_library_cannot_load_is_a_value_error(tmp_path: Path, tokenizer_json: dict) -> None:
    raw = {**tokenizer_json, "pre_tokenizer": {"type": "NoSuchPreTokenizer"}}
    with pytest.raises(ValueError, match="cannot load"):
        BpeTokenizer(write_json(tmp_path / "tokenizer.json", raw))
    with pytest.raises(ValueError, match="not a BPE tokenizer file"):
        BpeTokenizer(write_json(tmp_path / "tokenizer.json", [1, 2]))


def test_gapped_token_ids_are_refused(tmp_path: Path, tokenizer_json: dict) -> None:
    raw = copy.deepcopy(tokenizer_json)
    raw["model"]["vocab"] = {t: i * 2 for t, i in raw["model"]["vocab"].items()}
    with pytest.raises(ValueError, match=r"are not 0\.\."):
        BpeTokenizer(write_json(tmp_path / "tokenizer.json", raw))


def test_the_cli_trains_and_measures_each_vocabulary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for i, doc in enumerate(training_text()):
        (data / f"{i}.txt").write_bytes(doc)
    train_tokenizer_cli.main(["--data", str(data), "--vocab", "400", "300", "--out", str(tmp_path / "out")])
    printed = capsys.readouterr().out
    assert "vocab 400:" in printed and "vocab 300:" in printed and "bytes per token" in printed
    assert BpeTokenizer(tmp_path / "out" / "tokenizer.json").vocab_size == 400
    assert BpeTokenizer(tmp_path / "out" / "tokenizer-300.json").vocab_size == 300
