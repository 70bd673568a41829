"""codec: chunk coding by each method with per-chunk fallback, verification, and the chunk plan."""

from __future__ import annotations

import gzip
import random
import zlib
from pathlib import Path

import numpy as np
import pytest
import zstandard
from conftest import text_bytes
from hypothesis import given, settings
from hypothesis import strategies as st

from lmarchive import codec
from lmarchive.archive import LMZFile
from lmarchive.codec import MAX_CHUNK_SIZE, ChunkPlan, CodedChunk, decode_chunks, encode_chunks, looks_compressed
from lmarchive.container import ChunkRecord, Method
from lmarchive.errors import CancelledError, ChecksumError, FormatError
from lmarchive.models import ContextModel, load_model


@pytest.fixture(scope="module")
def model() -> ContextModel:
    loaded = load_model("cm2")
    assert isinstance(loaded, ContextModel)
    return loaded


def record(coded: CodedChunk, offset: int = 0) -> ChunkRecord:
    return ChunkRecord(offset, len(coded.data), coded.orig_len, coded.symbols, coded.crc32, coded.method)


def round_trip(chunks: list[bytes], method: Method, predictor: ContextModel | None) -> list[CodedChunk]:
    coded = encode_chunks(method, chunks, predictor)
    assert len(coded) == len(chunks)
    decoded = decode_chunks([(record(c), c.data) for c in coded], predictor)
    assert decoded == chunks
    for chunk, c in zip(chunks, coded, strict=True):
        assert c.orig_len == len(chunk)
        assert c.crc32 == zlib.crc32(chunk)
        assert c.method <= method
        assert len(c.data) <= len(chunk)
    return coded


def sample_chunks(rng: random.Random) -> list[bytes]:
    return [
        text_bytes(rng, 1500),
        b"abc" * 400,
        rng.randbytes(300),
        b"z",
        text_bytes(rng, 40),
        bytes(range(256)) * 4,
    ]


@pytest.mark.parametrize("method", list(Method))
def test_round_trip_for_each_method(rng: random.Random, model: ContextModel, method: Method) -> None:
    chunks = sample_chunks(rng)
    coded = round_trip(chunks, method, model if method == Method.MODEL else None)
    methods = [c.method for c in coded]
    if method == Method.STORE:
        assert set(methods) == {Method.STORE}
        assert [c.data for c in coded] == chunks
    if method >= Method.ZSTD:
        assert methods[1] != Method.STORE  # a repeated pattern always shrinks
    if method == Method.MODEL:
        assert methods[0] == Method.MODEL  # text: the model wins
        assert coded[0].symbols == len(chunks[0])
        assert methods[2] == Method.STORE  # random bytes: nothing shrinks them
    for c in coded:
        if c.method != Method.MODEL:
            assert c.symbols == c.orig_len


def test_model_chunks_of_very_different_lengths_decode_in_one_batch(rng: random.Random, model: ContextModel) -> None:
    chunks = [text_bytes(rng, n) for n in (1, 2, 700, 3, 129, 128, 127, 256)]
    coded = encode_chunks(Method.MODEL, chunks, model)
    items = forced_model(model, chunks)  # every chunk through the model decoder, whatever form won
    assert decode_chunks(items, model) == chunks
    assert decode_chunks([(record(c), c.data) for c in coded], model) == chunks
    # The batch is not what makes them decode: one at a time gives the same bytes.
    assert [decode_chunks([item], model)[0] for item in items] == chunks


@settings(max_examples=25, deadline=None)
@given(data=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=4))
def test_a_chunk_never_grows(model: ContextModel, data: list[bytes]) -> None:
    """Whatever the bytes, each coded chunk is at most as long as its input (store fallback)."""
    coded = encode_chunks(Method.MODEL, data, model)
    for chunk, c in zip(data, coded, strict=True):
        assert len(c.data) <= len(chunk)
    assert decode_chunks([(record(c), c.data) for c in coded], model) == data


def test_random_bytes_are_stored(model: ContextModel) -> None:
    data = [random.Random(i).randbytes(n) for i, n in enumerate((1, 17, 500, 5000))]
    for method in Method:
        coded = encode_chunks(method, data, model if method == Method.MODEL else None)
        assert [c.method for c in coded] == [Method.STORE] * len(data)
        assert [c.data for c in coded] == data


def test_ties_go_to_the_cheaper_method() -> None:
    same = [
        CodedChunk(Method.MODEL, b"xx", 2, 2, 0),
        CodedChunk(Method.ZSTD, b"yy", 2, 2, 0),
        CodedChunk(Method.STORE, b"zz", 2, 2, 0),
    ]
    assert codec._smallest(same).method == Method.STORE
    assert codec._smallest(same[:2]).method == Method.ZSTD


@pytest.mark.parametrize("size", [0, MAX_CHUNK_SIZE + 1])
def test_chunks_outside_the_allowed_sizes_are_refused(size: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        encode_chunks(Method.STORE, [b"ok", bytes(size)])


def test_model_method_needs_a_predictor() -> None:
    with pytest.raises(ValueError, match="predictor"):
        encode_chunks(Method.MODEL, [b"text"], None)


MAGICS = [
    b"\xff\xd8\xff\xe0\x00\x10JFIF",
    b"\x89PNG\r\n\x1a\n",
    b"GIF89a",
    b"PK\x03\x04",
    b"\x1f\x8b\x08",
    b"(\xb5/\xfd",
    b"\x00\x00\x00\x18ftypmp42",
    b"\x89LMZ\r\n\x1a\n",
]


@pytest.mark.parametrize("magic", MAGICS)
def test_looks_compressed_on_magic(magic: bytes) -> None:
    text = b"plain looking text after the signature " * 10
    assert looks_compressed(magic + text)
    assert not looks_compressed(text + magic)  # the signature only counts at its offset


def test_looks_compressed_on_a_real_jpeg_header() -> None:
    assert looks_compressed(b"\xff\xd8\xff")
    assert not looks_compressed(b"\xff\xd8")  # too short to be the signature


def test_looks_compressed_on_random_bytes() -> None:
    noise = random.Random(1).randbytes(64 << 10)
    assert looks_compressed(noise)
    assert looks_compressed(noise[:4096])
    assert not looks_compressed(noise[:4095])  # too little to judge: the model gets a try


def test_looks_compressed_is_false_on_text(rng: random.Random) -> None:
    assert not looks_compressed(b"")
    assert not looks_compressed(b"hello")
    assert not looks_compressed(text_bytes(rng, 100_000))
    assert not looks_compressed(zstandard.ZstdCompressor().compress(text_bytes(rng, 10_000))[4:])


def test_plan_method(rng: random.Random, model: ContextModel) -> None:
    text = text_bytes(rng, 5000)
    assert codec.plan_method(model, text) == (Method.MODEL, model)
    assert codec.plan_method(None, text) == (Method.ZSTD, None)
    assert codec.plan_method(model, b"\xff\xd8\xff" + text) == (Method.ZSTD, None)  # not modelled, zstd shrinks it
    assert codec.plan_method(None, random.Random(2).randbytes(8192)) == (Method.STORE, None)


def forced_model(model: ContextModel, chunks: list[bytes]) -> list[tuple[ChunkRecord, bytes]]:
    """Chunks coded by the model whatever form would win, as (record, coded bytes) items."""
    coded = codec.model_encode(model, [model.tokenize(c) for c in chunks], [len(c) for c in chunks])
    return [
        (ChunkRecord(0, len(data), len(c), len(c), zlib.crc32(c), Method.MODEL), data)
        for data, c in zip(coded, chunks, strict=True)
    ]


def model_coded(model: ContextModel, data: bytes) -> tuple[ChunkRecord, bytes]:
    (item,) = forced_model(model, [data])
    assert decode_chunks([item], model) == [data]
    return item


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "append"])
def test_damaged_model_chunk_fails_its_checksum(rng: random.Random, model: ContextModel, damage: str) -> None:
    data = text_bytes(rng, 800)
    rec, coded = model_coded(model, data)
    assert len(coded) > 20
    if damage == "flip":
        broken = coded[:5] + bytes([coded[5] ^ 0x10]) + coded[6:]
    elif damage == "truncate":
        broken = coded[: len(coded) // 2]
    elif damage == "empty":
        broken = b""
    else:
        broken = coded[:10] + b"\x5a" * 5 + coded[10:]
    with pytest.raises(ChecksumError) as info:
        decode_chunks([(rec, broken)], model)
    assert isinstance(info.value, FormatError)


def test_a_damaged_chunk_fails_the_whole_batch(rng: random.Random, model: ContextModel) -> None:
    first, second = text_bytes(rng, 300), text_bytes(rng, 300)
    good = model_coded(model, first)
    rec, coded = model_coded(model, second)
    broken = (rec, bytes([coded[0] ^ 0xFF]) + coded[1:])
    with pytest.raises(ChecksumError):
        decode_chunks([good, broken], model)
    assert decode_chunks([good, (rec, coded)], model) == [first, second]


def test_wrong_record_fields_fail_the_checksum(rng: random.Random, model: ContextModel) -> None:
    data = text_bytes(rng, 400)
    rec, coded = model_coded(model, data)
    for wrong in (
        ChunkRecord(0, rec.coded_len, rec.orig_len, rec.symbols, rec.crc32 ^ 1, Method.MODEL),
        ChunkRecord(0, rec.coded_len, rec.orig_len, rec.symbols - 1, rec.crc32, Method.MODEL),
        ChunkRecord(0, rec.coded_len, rec.orig_len + 1, rec.symbols, rec.crc32, Method.MODEL),
    ):
        with pytest.raises(ChecksumError):
            decode_chunks([(wrong, coded)], model)
    stored = ChunkRecord(0, 5, 5, 5, zlib.crc32(b"hello"), Method.STORE)
    with pytest.raises(ChecksumError):
        decode_chunks([(stored, b"hellO")])


def test_damaged_zstd_chunk_is_a_format_error(rng: random.Random) -> None:
    data = text_bytes(rng, 3000)
    coded = encode_chunks(Method.ZSTD, [data])[0]
    assert coded.method == Method.ZSTD
    rec = record(coded)
    for broken in (coded.data[:-3], coded.data[:8] + b"\x00\xff" * 4 + coded.data[16:], b"not zstd at all"):
        with pytest.raises(FormatError):
            decode_chunks([(rec, broken)])


def test_hostile_records_are_refused_before_decoding(model: ContextModel) -> None:
    huge = ChunkRecord(0, 4, MAX_CHUNK_SIZE + 1, 4, 0, Method.STORE)
    with pytest.raises(FormatError, match="larger"):
        decode_chunks([(huge, b"abcd")])
    too_many_symbols = ChunkRecord(0, 4, 10, 11, 0, Method.MODEL)
    with pytest.raises(FormatError, match="symbols"):
        decode_chunks([(too_many_symbols, b"abcd")], model)


def test_cancel_and_progress(rng: random.Random, model: ContextModel) -> None:
    chunks = [text_bytes(rng, 600), text_bytes(rng, 200)]
    done: list[int] = []
    coded = encode_chunks(Method.MODEL, chunks, model, progress=done.append)
    assert all(d >= 0 for d in done)
    assert sum(done) == 800
    done.clear()
    decode_chunks([(record(c), c.data) for c in coded], model, progress=done.append)
    assert all(d >= 0 for d in done)
    assert sum(done) == 800
    # Cancelling is the progress handler's: it raises, and coding stops there, even in the steps
    # that code no bytes yet (a first call with 0), and without a model (zstd only).
    calls: list[int] = []

    def cancelled(delta: int) -> None:
        calls.append(delta)
        raise CancelledError("cancelled")

    with pytest.raises(CancelledError):
        encode_chunks(Method.MODEL, chunks, model, progress=cancelled)
    with pytest.raises(CancelledError):
        encode_chunks(Method.ZSTD, chunks, progress=cancelled)
    items = forced_model(model, chunks)
    with pytest.raises(CancelledError):
        decode_chunks(items, model, progress=cancelled)
    assert calls == [0, 0, 0]  # each stopped at its first checkpoint, before any byte was coded


def test_chunk_plan_sizes() -> None:
    plan = ChunkPlan()
    assert plan.size_for(0) == 64 << 10
    assert plan.size_for(1) == 64 << 10
    assert plan.size_for(1 << 20) == 64 << 10  # 16 chunks of the minimum
    assert plan.size_for(2 << 20) == 128 << 10  # 16 chunks
    assert plan.size_for((2 << 20) + 1) == (128 << 10) + 1  # rounded up, never 17 chunks
    assert plan.size_for(16 << 20) == 1 << 20
    assert plan.size_for(1 << 40) == 1 << 20
    sizes = [plan.size_for(n) for n in range(0, 40 << 20, 777_777)]
    assert sizes == sorted(sizes)
    for n in range(1, 40 << 20, 999_999):
        size = plan.size_for(n)
        assert plan.min_size <= size <= plan.max_size <= MAX_CHUNK_SIZE
        assert -(-n // size) <= max(plan.target_chunks, -(-n // plan.max_size))
    custom = ChunkPlan(min_size=10, max_size=100, target_chunks=4)
    assert [custom.size_for(n) for n in (0, 40, 41, 400, 401, 10_000)] == [10, 10, 11, 100, 100, 100]


def test_symbols_are_bytes_for_cm2(model: ContextModel) -> None:
    assert np.array_equal(model.tokenize(b"\x00\xff"), np.array([0, 255]))


def test_zstd_frame_claiming_a_huge_size_is_a_format_error() -> None:
    data = b"ab" * 3000
    frame = zstandard.ZstdCompressor(level=19, write_content_size=True).compress(data)
    assert frame[4] & 0xE0 == 0x60  # single segment, 2-byte content size right after the descriptor
    # The same frame with an 8-byte content size field that claims 2**40 bytes.
    hostile = frame[:4] + bytes([(frame[4] & 0x3F) | 0xC0]) + (1 << 40).to_bytes(8, "little") + frame[7:]
    assert zstandard.frame_content_size(hostile) == 1 << 40
    rec = ChunkRecord(0, len(hostile), len(data), len(data), zlib.crc32(data), Method.ZSTD)
    with pytest.raises(FormatError):
        decode_chunks([(rec, hostile)])


def test_compressed_formats_get_a_zstd_trial_not_a_blind_store() -> None:
    """A PNG of a screenshot (weak deflate) is zstd-coded; random bytes behind a JPEG signature are
    stored; neither runs the model."""
    rng = random.Random(7)
    # Repeats 40,000 bytes apart: beyond deflate's 32 KiB window, within zstd's (as a PNG's rows can be).
    weak = b"\x89PNG\r\n\x1a\n" + zlib.compress(rng.randbytes(40_000) * 4, 9)
    model = load_model("default")
    light = load_model("fast")
    assert codec.plan_method(model, weak, lambda: light) == (Method.ZSTD, None)
    assert codec.plan_method(model, b"\xff\xd8\xff\xe0" + rng.randbytes(70_000), lambda: light) == (Method.STORE, None)
    assert codec.plan_method(model, b"plain text, " * 1000, lambda: light) == (Method.MODEL, model)


def test_compressed_data_that_only_a_model_shrinks_gets_the_light_model() -> None:
    """Behind a JPEG signature, bytes that depend on the byte before but are uniform on their own and
    never repeat: zstd and gzip -9 cannot shrink them, the fast model's order-1 context can (65,536 ->
    about 50,800 bytes).  The entry is coded by the light model, never the archive's full one."""
    rng = random.Random(11)
    sample, last = bytearray(b"\xff\xd8\xff\xe0"), 0
    for _ in range(70_000):
        last = (last * 7 + rng.randrange(64)) % 256
        sample.append(last)
    model, light = load_model("default"), load_model("fast")
    assert codec.plan_method(model, bytes(sample), lambda: light) == (Method.MODEL, light)
    assert codec.plan_method(model, bytes(sample)) == (Method.STORE, None)  # without a light model
    assert codec.plan_method(None, bytes(sample), lambda: light) == (Method.STORE, None)  # no model: none


def test_screenshots_are_stored_smaller_than_gzip(tmp_path: Path) -> None:
    """The README's own PNG screenshots: the archive's entries are smaller than gzip -9 makes them
    (they used to be stored at 100% beside gzip's 84-91%)."""
    shots = sorted((Path(__file__).resolve().parent.parent / "docs" / "screenshots").glob("*.png"))
    assert shots
    archive = tmp_path / "shots.lmz"
    with LMZFile(archive, "w") as lmz:
        for shot in shots:
            lmz.write(shot, shot.name)
    with LMZFile(archive) as lmz:
        for shot in shots:
            info = lmz.getinfo(shot.name)
            assert info.compress_size < len(gzip.compress(shot.read_bytes(), 9)), shot.name
            assert lmz.read(shot.name) == shot.read_bytes()
