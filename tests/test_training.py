"""The LM training tools: data loading, crops, optimization, checkpoints and export."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import text_bytes

from lmarchive.models.lm import quant
from lmarchive.models.lm.config import LMConfig
from lmarchive.models.lm.predictor import LMPredictor
from lmarchive.training.data import load_corpus, random_crops
from lmarchive.training.shards import ShardWriter
from lmarchive.training.train_lm import (
    corpus_sources,
    load_checkpoint,
    main,
    new_state,
    save_checkpoint,
    train_step,
)

TINY = LMConfig(vocab_size=256, d_model=32, n_layers=1, n_heads=2, d_ffn=64, window=16, rope_period=64)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def params(state_model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in state_model.state_dict().items()}


@pytest.mark.parametrize("path", ["/work/shared/anything.txt", "data/shared/corpus/a.txt"])
def test_the_benchmark_corpus_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match="benchmark"):
        load_corpus([Path(path)])


def test_a_folder_link_into_the_corpus_is_refused(tmp_path: Path) -> None:
    corpus = tmp_path / "shared" / "corpus"
    corpus.mkdir(parents=True)
    (corpus / "a.txt").write_text("secret")
    (tmp_path / "innocent").symlink_to(corpus)
    with pytest.raises(ValueError, match="benchmark"):
        load_corpus([tmp_path / "innocent"])


def test_corpus_skips_binaries_and_holds_out_files(tmp_path: Path) -> None:
    for i in range(100):
        (tmp_path / f"t{i:03}.txt").write_bytes(b"x%d" % i)
    (tmp_path / "blob.bin").write_bytes(b"ab\0cd")
    corpus = load_corpus([tmp_path])
    assert len(corpus.val_files) == 2 and len(corpus.train_files) == 98
    assert b"\0" not in corpus.train.tobytes() + corpus.val.tobytes()
    assert corpus.val.tobytes() == b"x49\nx99"
    assert load_corpus([tmp_path]).train.tobytes() == corpus.train.tobytes()  # deterministic


def test_a_built_corpus_folder_is_read_from_its_shards(tmp_path: Path) -> None:
    writer = ShardWriter(tmp_path, shard_bytes=64)
    for i in range(60):
        writer.add("docs" if i < 30 else "code", f"d/f{i:02}.txt", b"y%d" % i)
    writer.add("bin", "a.out", b"\x7fELF\0")
    assert len(writer.close()) > 2
    corpus = load_corpus([tmp_path])
    assert corpus.val_files == [tmp_path / "code" / "d/f49.txt"] and corpus.val.tobytes() == b"y49"
    assert len(corpus.train_files) == 59 and b"\0" not in corpus.train.tobytes()
    assert corpus.train.tobytes().startswith(b"y0\ny1\ny2\n")
    assert corpus_sources(corpus.train_files, [tmp_path]) == Counter(docs=30, code=29)
    assert load_corpus([tmp_path], [".out"]).train_files == []  # suffixes apply to the indexed paths


def test_crops_start_with_bos_and_targets_are_shifted() -> None:
    data = np.arange(1000, dtype=np.int64).astype(np.uint8)
    inputs, targets = random_crops(data, 40, 8, 256, np.random.default_rng(1))
    assert inputs.shape == targets.shape == (8, 40)
    assert np.all(inputs[:, 0] == 256)
    assert np.array_equal(inputs[:, 1:], targets[:, :-1])
    assert np.all((np.diff(targets, axis=1) % 256) == 1)  # contiguous crops of the data


def test_training_steps_reduce_the_loss_on_repeated_text() -> None:
    data = np.frombuffer(b"the quick brown fox jumps over the lazy dog. " * 40, dtype=np.uint8)
    state = new_state(TINY, 1e-2, 0, torch.device("cpu"))
    losses = [train_step(state, *random_crops(data, 32, 8, TINY.bos, state.rng), 1e-2) for _ in range(20)]
    assert np.mean(losses[-3:]) < losses[0] - 1.0
    assert state.step == 20 and state.tokens == 20 * 8 * 32


def test_checkpoint_resumes_exactly(tmp_path: Path) -> None:
    data = np.frombuffer(text_bytes(random.Random(3), 4000), dtype=np.uint8)
    state = new_state(TINY, 1e-2, 0, torch.device("cpu"))
    for _ in range(3):
        train_step(state, *random_crops(data, 32, 4, TINY.bos, state.rng), 1e-2)
    save_checkpoint(state, tmp_path / "ck.pt")
    resumed = load_checkpoint(tmp_path / "ck.pt", 1e-2, torch.device("cpu"))
    assert (resumed.step, resumed.tokens) == (state.step, state.tokens)
    before = params(state.model)
    assert all(torch.equal(before[k], v) for k, v in params(resumed.model).items())
    for s in (state, resumed):  # the same batch and the same update: optimizer and RNG came back
        train_step(s, *random_crops(data, 32, 4, TINY.bos, s.rng), 1e-2)
    after = params(resumed.model)
    assert all(torch.equal(after[k], v) for k, v in params(state.model).items())
    assert not torch.equal(after["w_out"], before["w_out"])


def test_main_trains_exports_and_the_predictor_loads_it(tmp_path: Path) -> None:
    rng = random.Random(5)
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        (data / f"{i}.txt").write_bytes(text_bytes(rng, 3000))
    out = tmp_path / "model"
    argv = ["--data", str(data), "--out", str(out), "--name", "tiny", "--for-tests", "--minutes", "0.005"]
    argv += ["--d-model", "32", "--layers", "1", "--heads", "2", "--ffn", "64", "--window", "16"]
    argv += ["--rope-period", "64", "--seq", "32", "--batch", "4", "--checkpoint", str(tmp_path / "ck.pt")]
    main(argv)
    assert (tmp_path / "ck.pt").exists() and (tmp_path / "ck.csv").read_text().startswith("step,tokens")
    assert "for tests only" in (out / "MODEL_CARD.md").read_text().lower()
    predictor = LMPredictor("tiny", out)
    assert predictor.config.window == 16
    batch = predictor.open_batch(2)
    for symbol in (ord("a"), ord(" ")):
        tables = batch.frequencies(np.arange(2))
        assert tables.shape == (2, 256) and np.all(tables.sum(-1) == quant.FREQ_TOTAL) and np.all(tables >= 1)
        batch.update(np.arange(2), np.array([symbol, symbol]))
