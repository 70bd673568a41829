"""Token LMs: a model folder with a tokenizer.json codes BPE tokens and gives back the exact bytes.

The model here has random weights over a small trained vocabulary: it compresses little, but
every path a shipped token model takes is the same (tokenize, the exact engine with more than
256 outputs, the compiled step, the range coder, detokenize).
"""

from __future__ import annotations

import json
import random
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import forget_loaded_models, make_tree, text_bytes, use_model_folder

import lmarchive
from lmarchive import codec
from lmarchive.container import ChunkRecord, ContainerReader, Method
from lmarchive.errors import ChecksumError, ModelError
from lmarchive.models import registry
from lmarchive.models.lm.compiled import CompiledLM
from lmarchive.models.lm.config import LMConfig
from lmarchive.models.lm.convert import export_tensors, save_model
from lmarchive.models.lm.exact import ExactTransformer
from lmarchive.models.lm.float_model import FloatTransformer
from lmarchive.models.lm.model_dir import fingerprint, load_model_dir
from lmarchive.models.lm.predictor import LMPredictor
from lmarchive.models.tokenizer import TOKENIZER_FILE, BpeTokenizer, train_tokenizer
from lmarchive.training.train_lm import main as train_main

ROOT = Path(__file__).resolve().parent.parent
VOCAB = 600


def documents() -> list[bytes]:
    rng = random.Random(4)
    return [text_bytes(rng, 30000), (ROOT / "lmarchive" / "codec.py").read_bytes()]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of model folders holding ``tok-tiny``: random weights, a trained 600-token vocabulary."""
    root = tmp_path_factory.mktemp("models")
    tokenizer = root / "tokenizer.json"
    train_tokenizer(documents(), VOCAB).save(str(tokenizer))
    config = LMConfig(vocab_size=VOCAB, d_model=32, n_layers=1, n_heads=2, d_ffn=64, window=16, rope_period=64)
    torch.manual_seed(0)
    save_model(root / "tok-tiny", config, export_tensors(FloatTransformer(config)), "# tok-tiny\n", tokenizer)
    return root


@pytest.fixture
def use_models(models: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    use_model_folder(monkeypatch, models)
    yield models
    forget_loaded_models()


def test_the_compiled_step_gives_the_torch_tables_for_a_token_vocabulary(models: Path) -> None:
    config, tensors = load_model_dir(models / "tok-tiny")
    engine, compiled = ExactTransformer(config, tensors), CompiledLM(config, tensors)
    ids = BpeTokenizer(models / "tok-tiny" / TOKENIZER_FILE).encode(documents()[1][:3000])
    tokens = np.concatenate([[config.bos], ids[:80]]).astype(np.int64)
    with torch.no_grad():
        expected = engine.forward(torch.from_numpy(tokens)[None], engine.new_cache(1), slice(0, 1))[0].numpy()
    assert expected.shape == (len(tokens), VOCAB)
    assert np.array_equal(compiled.tables(tokens), expected)


def test_streams_of_tokens_round_trip(models: Path) -> None:
    lm = LMPredictor("tok-tiny", models / "tok-tiny")
    assert lm.vocab_size == VOCAB
    chunks = [documents()[1][:4000], random.Random(1).randbytes(700), b"", b" \r\n\xff"]
    sequences = [lm.tokenize(c) for c in chunks]
    assert len(sequences[0]) < len(chunks[0]) / 1.5  # source code: more than a byte per token
    coded = lm.encode_streams(sequences, lambda n: None)
    back = lm.decode_streams(coded, [len(s) for s in sequences], lambda n: None)
    assert [lm.detokenize(s) for s in back] == chunks


def sample(lm: LMPredictor, tokens: int, seed: int) -> bytes:
    """Text drawn from the model's own tables, token by token: data it codes better than zstd."""
    rng = np.random.default_rng(seed)
    batch = lm.open_batch(1)
    ids = []
    for _ in range(tokens):
        table = batch.frequencies(np.arange(1))[0]
        ids.append(int(np.searchsorted(np.cumsum(table), rng.integers(0, table.sum()), side="right")))
        batch.update(np.arange(1), np.array(ids[-1:]))
    return lm.detokenize(np.array(ids))


def test_an_archive_made_with_a_token_model_extracts_exactly(use_models: Path, tmp_path: Path) -> None:
    files = {
        "sampled.txt": sample(registry.load_model("tok-tiny"), 1500, seed=1),
        "code.py": documents()[1],
        "notes.txt": text_bytes(random.Random(2), 5000),
        "noise.bin": random.Random(3).randbytes(3000),
        "empty": b"",
    }
    src = make_tree(tmp_path / "src", files)
    archive = tmp_path / "a.lmz"
    with lmarchive.open(archive, "w", model="tok-tiny") as zf:
        for name in files:
            zf.write(src / name, name)
    forget_loaded_models()  # the reader loads the model again, by name and fingerprint
    with lmarchive.open(archive) as zf:
        assert {i.filename: i.model for i in zf.infolist()}["code.py"] == "tok-tiny"
        assert {name: zf.read(name) for name in zf.namelist()} == files
        zf.extractall(tmp_path / "out")
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == files
    with ContainerReader(archive) as reader:
        entry = reader.get("sampled.txt")
        assert entry is not None and {c.method for c in entry.chunks} == {Method.MODEL}
        assert sum(c.symbols for c in entry.chunks) < len(files["sampled.txt"])  # tokens, not bytes


def test_a_chunk_whose_tokens_spell_more_bytes_than_recorded_is_refused(models: Path) -> None:
    lm = LMPredictor("tok-tiny", models / "tok-tiny")
    chunk = documents()[1][:2000]
    seq = lm.tokenize(chunk)
    (coded,) = codec.model_encode(lm, [seq], [len(chunk)])
    record = ChunkRecord(0, len(coded), len(chunk) - 1, len(seq), zlib.crc32(chunk), Method.MODEL)
    with pytest.raises(ChecksumError, match="failed its checksum"):
        codec.decode_chunks([(record, coded)], lm)


def test_the_fingerprint_covers_the_tokenizer(models: Path, tmp_path: Path) -> None:
    copy = tmp_path / "tok-tiny"
    shutil.copytree(models / "tok-tiny", copy)
    before = fingerprint(copy)
    text = (copy / TOKENIZER_FILE).read_text()
    raw = json.loads(text)
    vocab = raw["model"]["vocab"]
    first, second = (t for t, i in vocab.items() if i in (VOCAB - 2, VOCAB - 1))
    vocab[first], vocab[second] = vocab[second], vocab[first]  # two ids swapped: other bytes decode
    (copy / TOKENIZER_FILE).write_text(json.dumps(raw, indent=2, ensure_ascii=False))
    assert fingerprint(copy) != before
    (copy / TOKENIZER_FILE).write_text(text)
    assert fingerprint(copy) == before


def test_a_tokenizer_of_another_size_than_the_model_is_refused(models: Path, tmp_path: Path) -> None:
    copy = tmp_path / "tok-tiny"
    shutil.copytree(models / "tok-tiny", copy)
    train_tokenizer(documents(), VOCAB - 100).save(str(copy / TOKENIZER_FILE))
    with pytest.raises(ModelError, match="600 outputs for a vocabulary of 500"):
        LMPredictor("tok-tiny", copy)


def test_a_broken_tokenizer_file_is_a_model_error(models: Path, tmp_path: Path) -> None:
    copy = tmp_path / "tok-tiny"
    shutil.copytree(models / "tok-tiny", copy)
    (copy / TOKENIZER_FILE).write_text("{not json")
    with pytest.raises(ModelError, match="cannot be loaded"):
        LMPredictor("tok-tiny", copy)


def test_the_mixing_model_refuses_a_token_lm(use_models: Path) -> None:
    assert "tok-tiny" in registry.available_models()
    assert "cmx+tok-tiny" not in registry.available_models()
    with pytest.raises(ModelError, match="predicts BPE tokens"):
        registry.load_model("cmx+tok-tiny")


def test_a_token_model_serves_the_lm_profile_but_cannot_be_the_default_profiles_lm(
    use_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(registry.LM_PROFILE_ENV, "tok-tiny")
    assert registry.resolve("lm") == "tok-tiny"
    assert registry.resolve("default") == "cmx"  # $LMARCHIVE_LM is the lm profile's alone
    monkeypatch.setenv(registry.DEFAULT_LM_ENV, "tok-tiny")
    assert registry.resolve("default") == "cmx"  # the mixer codes bytes: no LM for it
    assert registry.load_model("default").name == "cmx"


def test_training_with_a_tokenizer_exports_a_token_model(tmp_path: Path, models: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for i, doc in enumerate(documents() * 2):
        (data / f"{i}.txt").write_bytes(doc)
    out = tmp_path / "model"
    argv = ["--data", str(data), "--out", str(out), "--name", "t", "--for-tests", "--minutes", "0.005"]
    argv += ["--tokenizer", str(models / "tokenizer.json"), "--d-model", "32", "--layers", "1", "--heads", "2"]
    argv += ["--ffn", "64", "--window", "16", "--seq", "32", "--batch", "4", "--checkpoint", str(tmp_path / "ck.pt")]
    train_main(argv)
    card = (out / "MODEL_CARD.md").read_text()
    assert f"BPE ({VOCAB} tokens" in card and "bits/byte" in card
    assert (out / TOKENIZER_FILE).read_bytes() == (models / "tokenizer.json").read_bytes()
    lm = LMPredictor("t", out)
    assert lm.vocab_size == VOCAB and lm.detokenize(lm.tokenize(documents()[1])) == documents()[1]


def test_a_shard_written_once_trains_without_the_data(tmp_path: Path, models: Path) -> None:
    """What a GPU machine gets: the tokenized shard and the tokenizer, not the corpus."""
    data = tmp_path / "data"
    data.mkdir()
    for i, doc in enumerate(documents() * 2):
        (data / f"{i}.txt").write_bytes(doc)
    shard, tokenizer = tmp_path / "tokens.npz", str(models / "tokenizer.json")
    common = ["--name", "t", "--minutes", "0.003", "--tokenizer", tokenizer, "--shard", str(shard)]
    common += ["--d-model", "32", "--layers", "1", "--heads", "2", "--ffn", "64", "--window", "16", "--seq", "32"]
    common += ["--batch", "4", "--eval-bytes", "4096"]
    train_main(["--data", str(data), "--out", str(tmp_path / "a"), "--checkpoint", str(tmp_path / "a.pt"), *common])
    assert shard.is_file()
    shutil.rmtree(data)
    train_main(["--out", str(tmp_path / "b"), "--checkpoint", str(tmp_path / "b.pt"), *common])
    section = [(tmp_path / m / "MODEL_CARD.md").read_text().split("## Model")[0] for m in ("a", "b")]
    assert section[0] == section[1] and "training files" in section[0]
    as_bytes = ["--out", str(tmp_path / "c"), "--checkpoint", str(tmp_path / "c.pt"), "--name", "c"]
    with pytest.raises(SystemExit, match="was not made with"):
        train_main([*as_bytes, "--minutes", "0.003", "--shard", str(shard)])


def test_a_byte_model_saved_over_a_token_models_folder_drops_its_tokenizer(models: Path, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    shutil.copytree(models / "tok-tiny", folder)
    config = LMConfig(vocab_size=256, d_model=32, n_layers=1, n_heads=2, d_ffn=64, window=16, rope_period=64)
    save_model(folder, config, export_tensors(FloatTransformer(config)), "# m\n")
    assert not (folder / TOKENIZER_FILE).exists()
    assert LMPredictor("m", folder).tokenizer is None
