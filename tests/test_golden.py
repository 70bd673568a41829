"""Golden vectors: archives and tables made by format 1.0 / cm2 must decode the same forever."""

from __future__ import annotations

import hashlib
from pathlib import Path

import lmarchive
from lmarchive.container import ContainerReader, Method
from lmarchive.models import load_model
from lmarchive.selftest import cm2_sample, table_digest

GOLDEN = Path(__file__).parent / "data" / "golden-1.0.lmz"
CONTENT_SHA256 = {
    "folder/words.txt": "6e4d986e8bee7e4de22cc83ef847df5d0ecd05277e7b2668c5e5e2467852ce1d",
    "folder/ünïcødé 日本語.txt": "7f406628d7a1dc1a96a1d41bae960b730847934c8748b5f75685926815014a83",
    "noise.bin": "8d97ec826208b76d86d9bc6262c931085f10b79543658f1a834d4a187fe9e1bc",
    "repeat.bin": "79701ee9aff9597704a71232cf742b775a756f825532fbcb34c01c84894a6042",
    "empty": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
}
# The golden hash (selftest.table_digest) of every cm2 frequency table while coding selftest.cm2_sample().
CM2_TABLES_SHA256 = "372e9bfdf2b04a4a128ea2abbf41dd7b3604f1732f7e28da5b36eb9a23693505"


def test_golden_archive_decodes_to_the_pinned_contents(tmp_path: Path) -> None:
    with lmarchive.open(GOLDEN) as archive:
        assert archive.namelist() == ["folder", *CONTENT_SHA256]
        archive.test()
        archive.extractall(tmp_path)
    for name, digest in CONTENT_SHA256.items():
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == digest
    assert (tmp_path / "folder").is_dir()


def test_golden_archive_covers_every_chunk_method() -> None:
    with ContainerReader(GOLDEN) as reader:
        methods = {chunk.method for entry in reader.entries for chunk in entry.chunks}
        assert reader.version == (1, 0)
    assert methods == {Method.MODEL, Method.ZSTD, Method.STORE}


def test_reencoding_reproduces_the_golden_model_chunks(tmp_path: Path) -> None:
    """The encoder is deterministic too: the same content gives the same coded bytes."""
    with lmarchive.open(GOLDEN) as archive:
        data = {name: archive.read(name) for name in CONTENT_SHA256}
    again = tmp_path / "again.lmz"
    with lmarchive.open(again, "w", model="cm2") as archive:  # the model the golden archive was made with
        for name, content in data.items():
            archive.writestr(name, content, mtime_ns=0)
    with ContainerReader(GOLDEN) as old, ContainerReader(again) as new:
        for name in CONTENT_SHA256:
            a, b = old.get(name), new.get(name)
            assert a is not None and b is not None
            assert [old.read_chunk(c) for c in a.chunks] == [new.read_chunk(c) for c in b.chunks]


def test_cm2_tables_match_the_golden_hash() -> None:
    model = load_model("cm2")
    tables = [t for _, t, _ in model.encode_tables([model.tokenize(cm2_sample())])]
    assert table_digest(tables) == CM2_TABLES_SHA256
