"""Model chunks whose coded bytes end too early stop at once (format 1.1), and 1.0 archives still decode.

A range decoder reads zeros past a stream's stored bytes.  Format 1.0 let the encoder drop every
trailing zero byte, so a chunk of very predictable data (a run of zero bytes) may legitimately
need many more bytes than it stores, and a hostile 1.0 chunk of no bytes can claim 16 MiB: its
decoder then runs for the whole claim before the checksum fails.  From 1.1 on the encoder drops
zeros only from its final flush, so a decoder that reads further than that is decoding damage.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import no_tick

import lmarchive
from lmarchive import cli
from lmarchive.codec import MAX_CHUNK_SIZE
from lmarchive.coding.rangecoder import FLUSH_BYTES
from lmarchive.container import ContainerReader, ContainerWriter, EntryRecord, EntryType, Method
from lmarchive.errors import FormatError
from lmarchive.jobs import Progress, TestJob
from lmarchive.models import load_model

ZEROS = bytes(256 << 10)
STOPPED = "ends too early|more than it can hold"
"""The two ways a bounded decoder refuses a chunk: it read past the end, or (with a model that
bounds its confidence) the claim is more than the coded bytes can hold, refused before decoding."""


def write_model_archive(
    path: Path, coded: bytes, size: int, crc: int, *, version: tuple[int, int], model: str = "fast"
) -> None:
    """An archive of one model-coded member whose single chunk holds ``coded``, built by hand."""
    predictor = load_model(model)
    with path.open("wb") as handle:
        writer = ContainerWriter(handle, version)
        chunk = writer.write_chunk(coded, size, size, crc, Method.MODEL)
        writer.add_entry(
            EntryRecord(
                "member", EntryType.FILE, size, 0, 0o644, Method.MODEL, predictor.name, predictor.fingerprint,
                crc32=crc, chunks=(chunk,),
            )
        )  # fmt: skip
        writer.close()


def test_the_encoder_keeps_what_the_decoder_needs() -> None:
    """A run of zero bytes codes to zero bytes; 1.0 dropped them (an empty stream), 1.1 keeps them."""
    model = load_model("fast")
    (coded,) = model.encode_streams([model.tokenize(ZEROS)], no_tick)
    legacy = coded.rstrip(b"\x00")  # what the 1.0 encoder stored
    assert legacy == b"" and len(coded) > FLUSH_BYTES
    (back,) = model.decode_streams([coded], [len(ZEROS)], no_tick)
    assert model.detokenize(back) == ZEROS
    (back,) = model.decode_streams([legacy], [len(ZEROS)], no_tick, bounded=False)
    assert model.detokenize(back) == ZEROS
    with pytest.raises(FormatError, match="ends too early"):
        model.decode_streams([legacy], [len(ZEROS)], no_tick)


@pytest.mark.parametrize("model", ["cm2", "fast"])
def test_a_chunk_of_no_bytes_claiming_16_mib_stops_at_once(tmp_path: Path, model: str) -> None:
    """The red team's bomb: about 170 bytes of archive, 16 MiB declared, a wrong CRC."""
    bomb = tmp_path / "bomb.lmz"
    write_model_archive(bomb, b"", MAX_CHUNK_SIZE, 1234, version=(1, 1), model=model)
    assert bomb.stat().st_size < 200
    done: list[int] = []
    job = TestJob(archive=bomb, on_event=lambda e: done.append(e.done_bytes) if isinstance(e, Progress) else None)
    with pytest.raises(FormatError, match=STOPPED):
        job.run()
    # Stopped within the first piece of work, not after decoding what the chunk claims.
    assert max(done, default=0) <= 1 << 16
    with lmarchive.open(bomb) as archive, pytest.raises(FormatError, match=rf"'member': .*({STOPPED})"):
        archive.extractall(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_cli_reports_the_bomb_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bomb = tmp_path / "bomb.lmz"
    write_model_archive(bomb, b"", MAX_CHUNK_SIZE, 1234, version=(1, 1))
    assert cli.main(["test", str(bomb)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lmarchive: error: 'member': ") and "more than it can hold" in err and err.count("\n") == 1


def test_a_1_0_archive_whose_stream_relies_on_dropped_zeros_still_extracts(tmp_path: Path) -> None:
    model = load_model("fast")
    (coded,) = model.encode_streams([model.tokenize(ZEROS)], no_tick)
    old = tmp_path / "old.lmz"
    write_model_archive(old, coded.rstrip(b"\x00"), len(ZEROS), zlib.crc32(ZEROS), version=(1, 0))
    with lmarchive.open(old) as archive:
        assert archive.read("member") == ZEROS
        archive.test()
    relabelled = tmp_path / "relabelled.lmz"  # the same chunk in a 1.1 archive breaks 1.1's promise
    write_model_archive(relabelled, coded.rstrip(b"\x00"), len(ZEROS), zlib.crc32(ZEROS), version=(1, 1))
    with lmarchive.open(relabelled) as archive, pytest.raises(FormatError, match=STOPPED):
        archive.read("member")


def version_of(path: Path) -> tuple[int, int]:
    with ContainerReader(path) as reader:
        return reader.version


def test_writers_label_what_the_archive_promises(tmp_path: Path) -> None:
    """New archives are 1.1; model chunks copied from a 1.0 archive keep it 1.0 until they are gone."""
    new = tmp_path / "new.lmz"
    with lmarchive.open(new, "w") as archive:
        archive.writestr("a.txt", b"some text " * 50)
    assert version_of(new) == (1, 1)
    model = load_model("fast")
    (coded,) = model.encode_streams([model.tokenize(ZEROS)], no_tick)
    old = tmp_path / "old.lmz"
    write_model_archive(old, coded.rstrip(b"\x00"), len(ZEROS), zlib.crc32(ZEROS), version=(1, 0))
    with lmarchive.open(old, "a", model=None) as archive:  # zstd: no model chunk of its own
        archive.writestr("b.txt", b"more text " * 50)
    assert version_of(old) == (1, 0)
    with lmarchive.open(old) as archive:
        assert archive.read("member") == ZEROS
        archive.test()
    assert cli.main(["delete", "-q", str(old), "member"]) == 0
    assert version_of(old) == (1, 1)
    with lmarchive.open(old) as archive:
        assert archive.namelist() == ["b.txt"]
        archive.test()


def test_streams_of_real_data_end_within_the_flush() -> None:
    """Whatever the data, the decoder of a 1.1 stream never reads past its bytes plus the flush."""
    rng = np.random.default_rng(5)
    payloads = [b"", b"a", bytes(5000), rng.integers(0, 256, 3000, dtype=np.uint8).tobytes(), b"xy" * 2000 + bytes(9)]
    for name in ("cm2", "fast"):
        model = load_model(name)
        coded = model.encode_streams([model.tokenize(p) for p in payloads], no_tick)
        back = model.decode_streams(coded, [len(p) for p in payloads], no_tick)
        assert [model.detokenize(b) for b in back] == payloads


@pytest.mark.parametrize("data", [bytes(1 << 20), b"ab" * (1 << 18), b"text " * 50_000, bytes(1)])
def test_what_a_stream_can_hold_bounds_every_real_stream(data: bytes) -> None:
    """The mixing model's limit is a theorem, not a guess: the most predictable input stays inside it."""
    model = load_model("fast")
    (coded,) = model.encode_streams([model.tokenize(data)], no_tick)
    most = model.max_symbols(len(coded))
    assert most is not None and len(data) <= most
    assert load_model("cm2").max_symbols(len(coded)) is None  # no bound known: decoded, bounded by bytes
