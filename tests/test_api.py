"""The zipfile-like API, exercised through real archives on disk: lmarchive.open and friends."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import os
import random
import shutil
import stat
import tempfile
import zlib
from pathlib import Path

import pytest
from conftest import partial_files, snapshot, text_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lmarchive
from lmarchive.container import ContainerReader
from lmarchive.errors import ChecksumError, LMArchiveError, MemberNotFoundError, OverwriteError, UnsafePathError
from lmarchive.models import DEFAULT_MODEL, load_model

MTIME = 1_600_000_000_123_456_789
JPEG = Path("/work/shared/corpus/snappy/fireworks.jpeg")

# --- property tests -------------------------------------------------------------------------

component = st.text(
    alphabet=st.one_of(
        st.characters(categories=["L", "N"]),  # letters and digits of every script
        st.sampled_from(" -_.~+=,;'()[]{}!@#$%^&"),
    ),
    min_size=1,
    max_size=12,
).filter(lambda c: c not in (".", "..") and (len(c) < 2 or c[1] != ":"))
member_name = st.lists(component, min_size=1, max_size=3).map("/".join)
content = st.one_of(
    st.binary(max_size=300),
    st.just(b""),
    st.binary(min_size=1, max_size=1),
    st.tuples(st.binary(min_size=1, max_size=6), st.integers(1, 120)).map(lambda t: t[0] * t[1]),
)


def without_conflicts(names: list[str]) -> list[str]:
    """Drop names that would need another member to be both a file and a folder."""
    kept: list[str] = []
    for name in names:
        clash = any(name.startswith(k + "/") or k.startswith(name + "/") for k in kept)
        if not clash:
            kept.append(name)
    return kept


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(member_name, min_size=1, max_size=5, unique=True), data=st.data())
def test_round_trip_through_the_archive(names: list[str], data: st.DataObject) -> None:
    members = {name: data.draw(content, label=name) for name in without_conflicts(names)}
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "t.lmz"
        with lmarchive.open(archive, "w") as lmz:
            for name, payload in members.items():
                lmz.writestr(name, payload, mtime_ns=MTIME)
        assert lmarchive.is_lmzfile(archive)
        with lmarchive.open(archive) as lmz:
            assert lmz.namelist() == list(members)
            for info in lmz.infolist():
                payload = members[info.name]
                assert info.size == len(payload)
                assert info.crc32 == zlib.crc32(payload)
                assert info.packed <= len(payload)
                assert info.type == "file"
            for name, payload in members.items():
                assert lmz.read(name) == payload
                with lmz.open(name) as stream:
                    assert stream.read() == payload
            lmz.test()
            out = Path(tmp) / "out"
            lmz.extractall(out)
        for name, payload in members.items():
            assert (out / name).read_bytes() == payload
            assert (out / name).stat().st_mtime_ns == MTIME
        files = {rel for rel, value in snapshot(out).items() if value is not None}
        assert files == set(members)
        assert not partial_files(Path(tmp))


@pytest.mark.parametrize(
    "payload",
    [b"", b"x", b"\x00", b"\xff" * 5000, b"ab" * 3000, bytes(range(256)) * 20],
    ids=["empty", "one-byte", "one-zero-byte", "run", "period-2", "all-bytes"],
)
def test_special_contents_round_trip(tmp_path: Path, payload: bytes) -> None:
    archive = tmp_path / "s.lmz"
    with lmarchive.open(archive, "w") as lmz:
        lmz.writestr("member", payload)
    with lmarchive.open(archive) as lmz:
        info = lmz.getinfo("member")
        assert lmz.read("member") == payload
        lmz.extractall(tmp_path / "out")
    assert (tmp_path / "out" / "member").read_bytes() == payload
    assert info.size == len(payload)
    if len(payload) > 1000:
        assert info.packed < len(payload) // 10  # repetitive data shrinks a lot
    assert info.chunks == (1 if payload else 0)


# --- listing --------------------------------------------------------------------------------


def make_sample(tmp_path: Path, rng: random.Random) -> tuple[Path, dict[str, bytes]]:
    """An archive with a model-coded text, a stored JPEG-like blob, an empty file and folders."""
    src = tmp_path / "src"
    (src / "sub" / "deep").mkdir(parents=True)
    (src / "empty-dir").mkdir()
    files = {
        "src/text.txt": text_bytes(rng, 3000),
        "src/sub/photo.jpg": b"\xff\xd8\xff\xe0" + rng.randbytes(2000),
        "src/sub/deep/empty": b"",
        "src/sub/one": b"1",
    }
    for name, payload in files.items():
        (tmp_path / name).write_bytes(payload)
    archive = tmp_path / "sample.lmz"
    with lmarchive.open(archive, "w") as lmz:
        lmz.add(src)
    return archive, files


def test_listing_fields(tmp_path: Path, rng: random.Random) -> None:
    archive, files = make_sample(tmp_path, rng)
    with lmarchive.open(archive) as lmz:
        names = lmz.namelist()
        infos = {info.name: info for info in lmz.infolist()}
        assert list(infos) == names
        assert [i.name for i in lmz] == names
        assert set(names) == set(files) | {"src", "src/sub", "src/sub/deep", "src/empty-dir"}
        for name, payload in files.items():
            info = lmz.getinfo(name)
            assert info == infos[name]
            assert (info.size, info.file_size, info.filename) == (len(payload), len(payload), name)
            assert info.crc32 == zlib.crc32(payload)
            assert info.type == "file"
            assert not info.is_dir()
            assert info.packed == info.compress_size
            assert info.mtime_ns == (tmp_path / name).stat().st_mtime_ns
            assert info.modified.timestamp() == pytest.approx(info.mtime_ns / 1e9)
            assert info.mode == stat.S_IMODE((tmp_path / name).stat().st_mode)
            if payload:
                assert info.gzip_size > 0
                assert info.chunks >= 1
            else:
                assert (info.packed, info.chunks, info.method) == (0, 0, "store")
        text = infos["src/text.txt"]
        default = load_model(DEFAULT_MODEL)  # resolved as the tests resolve it (conftest.py)
        assert (text.method, text.model, text.fingerprint) == ("model", default.name, default.fingerprint.hex())
        assert text.packed < text.gzip_size < text.size
        photo = infos["src/sub/photo.jpg"]
        assert (photo.method, photo.model, photo.fingerprint) == ("store", "", None)
        assert photo.packed == photo.size
        for folder in ("src", "src/sub", "src/sub/deep", "src/empty-dir"):
            info = infos[folder]
            assert info.is_dir()
            assert (info.type, info.size, info.packed, info.chunks, info.method) == ("dir", 0, 0, 0, "store")
        with pytest.raises(MemberNotFoundError):
            lmz.getinfo("src/missing")
        with pytest.raises(KeyError):  # zipfile's contract
            lmz.getinfo("missing")


def test_modified_is_exact_for_every_mtime_the_format_holds(tmp_path: Path) -> None:
    stamps = {
        "now": (1_700_000_000_123_456_789, dt.datetime(2023, 11, 14, 22, 13, 20, 123456)),  # float seconds: ...457
        "just before 1970": (-1, dt.datetime(1969, 12, 31, 23, 59, 59, 999999)),
        "latest": ((1 << 63) - 1, dt.datetime(2262, 4, 11, 23, 47, 16, 854775)),
        "earliest": (-(1 << 63), dt.datetime(1677, 9, 21, 0, 12, 43, 145224)),
    }
    archive = tmp_path / "t.lmz"
    with lmarchive.open(archive, "w", model=None) as lmz:
        for name, (mtime_ns, _) in stamps.items():
            lmz.writestr(name, b"x", mtime_ns=mtime_ns)
    with lmarchive.open(archive) as lmz:
        for name, (mtime_ns, moment) in stamps.items():
            info = lmz.getinfo(name)
            assert (info.mtime_ns, info.modified) == (mtime_ns, moment.replace(tzinfo=dt.UTC))


def test_packed_is_the_sum_of_the_coded_chunks(tmp_path: Path, rng: random.Random) -> None:
    archive, _ = make_sample(tmp_path, rng)
    with lmarchive.open(archive) as lmz, ContainerReader(archive) as reader:
        for info in lmz.infolist():
            entry = reader.get(info.name)
            assert entry is not None
            assert info.packed == sum(c.coded_len for c in entry.chunks)
            assert info.chunks == len(entry.chunks)


def test_zstd_entries_without_a_model(tmp_path: Path, rng: random.Random) -> None:
    archive = tmp_path / "z.lmz"
    payload = text_bytes(rng, 5000)
    with lmarchive.open(archive, "w", model=None) as lmz:
        lmz.writestr("t.txt", payload)
    with lmarchive.open(archive) as lmz:
        info = lmz.getinfo("t.txt")
        assert (info.method, info.model, info.fingerprint) == ("zstd", "", None)
        assert info.packed < info.size
        assert lmz.read("t.txt") == payload


# --- reading ----------------------------------------------------------------------------------


def test_read_and_streaming_open_of_a_multi_chunk_member(tmp_path: Path) -> None:
    payload = random.Random(4).randbytes(2_500_000)  # incompressible: stored in 1 MiB chunks, so quick
    text = text_bytes(random.Random(5), 200_000)
    archive = tmp_path / "m.lmz"
    with lmarchive.open(archive, "w", model=None) as lmz:
        lmz.writestr("noise", payload)
        lmz.writestr("text", text)
    with lmarchive.open(archive) as lmz:
        assert lmz.getinfo("noise").chunks == 3
        assert lmz.getinfo("text").chunks == 4
        for name, expected in (("noise", payload), ("text", text)):
            assert lmz.read(name) == expected
            assert lmz.read(lmz.getinfo(name)) == expected
            pieces = []
            with lmz.open(name) as stream:
                while piece := stream.read(10_007):
                    pieces.append(piece)
            assert b"".join(pieces) == expected
            with lmz.open(name) as stream:
                assert stream.read(5) == expected[:5]
                assert io.BufferedReader.readable(stream)


def test_streaming_a_damaged_member_raises(tmp_path: Path) -> None:
    payload = random.Random(6).randbytes(2_500_000)
    archive = tmp_path / "d.lmz"
    with lmarchive.open(archive, "w", model=None) as lmz:  # stored in 1 MiB chunks
        lmz.writestr("noise", payload)
    with ContainerReader(archive) as reader:
        entry = reader.get("noise")
        assert entry is not None
        offset = entry.chunks[2].offset + 10
    blob = bytearray(archive.read_bytes())
    blob[offset] ^= 0x01
    archive.write_bytes(bytes(blob))
    with lmarchive.open(archive) as lmz:
        with pytest.raises(ChecksumError), lmz.open("noise") as stream:
            stream.read()
        with pytest.raises(ChecksumError):
            lmz.test()


def test_extract_single_members(tmp_path: Path, rng: random.Random, monkeypatch: pytest.MonkeyPatch) -> None:
    archive, files = make_sample(tmp_path, rng)
    out = tmp_path / "out"
    with lmarchive.open(archive) as lmz:
        target = lmz.extract("src/sub/one", out)
        assert Path(target) == (out / "src/sub/one").resolve()
        assert snapshot(out) == {"src": None, "src/sub": None, "src/sub/one": b"1"}
        lmz.extract(lmz.getinfo("src/text.txt"), out)
        assert (out / "src/text.txt").read_bytes() == files["src/text.txt"]
        lmz.extract("src/empty-dir", out)
        assert (out / "src/empty-dir").is_dir()
        monkeypatch.chdir(tmp_path)
        (tmp_path / "src").rename(tmp_path / "original")
        lmz.extract("src/sub/deep/empty")  # default: the current folder
        assert (tmp_path / "src/sub/deep/empty").read_bytes() == b""
        with pytest.raises(MemberNotFoundError):
            lmz.extract("src/nope", out)
        with pytest.raises(LMArchiveError, match="folder"):
            lmz.read("src/sub")


def test_extractall_all_and_some(tmp_path: Path, rng: random.Random) -> None:
    archive, files = make_sample(tmp_path, rng)
    with lmarchive.open(archive) as lmz:
        lmz.extractall(tmp_path / "all")
        lmz.extractall(tmp_path / "some", members=["src/text.txt", lmz.getinfo("src/sub/one")])
    everything = snapshot(tmp_path / "all")
    expected: dict[str, bytes | None] = dict(files)
    expected |= {"src": None, "src/sub": None, "src/sub/deep": None, "src/empty-dir": None}
    assert everything == expected
    assert snapshot(tmp_path / "some") == {
        "src": None,
        "src/sub": None,
        "src/text.txt": files["src/text.txt"],
        "src/sub/one": b"1",
    }


def test_extracted_files_keep_mode_and_mtime(tmp_path: Path) -> None:
    archive = tmp_path / "m.lmz"
    with lmarchive.open(archive, "w") as lmz:
        lmz.writestr("ro.txt", "read only", mtime_ns=MTIME, mode=0o440)
        lmz.writestr("x.sh", b"#!/bin/sh\n", mtime_ns=MTIME + 1, mode=0o750)
    with lmarchive.open(archive) as lmz:
        assert lmz.read("ro.txt") == b"read only"
        lmz.extractall(tmp_path / "out")
    ro, x = tmp_path / "out/ro.txt", tmp_path / "out/x.sh"
    assert (stat.S_IMODE(ro.stat().st_mode), ro.stat().st_mtime_ns) == (0o440, MTIME)
    assert (stat.S_IMODE(x.stat().st_mode), x.stat().st_mtime_ns) == (0o750, MTIME + 1)


# --- writing modes --------------------------------------------------------------------------


def test_append_adds_replaces_and_removes(tmp_path: Path, rng: random.Random) -> None:
    archive = tmp_path / "a.lmz"
    keep, old, gone = text_bytes(rng, 800), b"old content", b"to be removed"
    with lmarchive.open(archive, "w") as lmz:
        lmz.writestr("keep.txt", keep)
        lmz.writestr("replace.txt", old)
        lmz.writestr("gone.txt", gone)
    with ContainerReader(archive) as reader:
        kept_entry = reader.get("keep.txt")
        assert kept_entry is not None
        kept_coded = [reader.read_chunk(c) for c in kept_entry.chunks]
    new_file = tmp_path / "new.bin"
    new_file.write_bytes(b"\x01\x02\x03" * 50)
    with lmarchive.open(archive, "a") as lmz:
        assert lmz.namelist() == ["keep.txt", "replace.txt", "gone.txt"]
        assert lmz.read("gone.txt") == gone  # stored members stay readable while appending
        lmz.add(new_file)
        lmz.writestr("replace.txt", b"new content")
        lmz.remove("gone.txt")
        assert lmz.namelist() == ["keep.txt"]  # pending members are listed once written
        for hidden in ("gone.txt", "replace.txt"):  # nor looked up by name until then
            with pytest.raises(MemberNotFoundError):
                lmz.getinfo(hidden)
        with pytest.raises(MemberNotFoundError):
            lmz.remove("never-there")
    with lmarchive.open(archive) as lmz:
        assert lmz.namelist() == ["keep.txt", "new.bin", "replace.txt"]
        assert lmz.read("keep.txt") == keep
        assert lmz.read("replace.txt") == b"new content"
        assert lmz.read("new.bin") == new_file.read_bytes()
        lmz.test()
    with ContainerReader(archive) as reader:  # a kept member is copied, not re-coded
        entry = reader.get("keep.txt")
        assert entry is not None
        assert [reader.read_chunk(c) for c in entry.chunks] == kept_coded
        assert entry.crc32 == kept_entry.crc32


def test_append_without_changes_leaves_the_file_alone(tmp_path: Path) -> None:
    archive = tmp_path / "a.lmz"
    with lmarchive.open(archive, "w") as lmz:
        lmz.writestr("a", b"a")
    before = archive.read_bytes()
    inode = archive.stat().st_ino
    with lmarchive.open(archive, "a") as lmz:
        assert lmz.read("a") == b"a"
    assert archive.read_bytes() == before
    assert archive.stat().st_ino == inode


def test_append_creates_a_missing_archive(tmp_path: Path) -> None:
    archive = tmp_path / "new.lmz"
    with lmarchive.open(archive, "a") as lmz:
        assert lmz.namelist() == []
        lmz.writestr("a", "text")
    with lmarchive.open(archive) as lmz:
        assert lmz.read("a") == b"text"


def test_write_mode_replaces_an_existing_archive(tmp_path: Path) -> None:
    archive = tmp_path / "w.lmz"
    with lmarchive.open(archive, "w") as lmz:
        lmz.writestr("first", b"1")
    with lmarchive.open(archive, "w") as lmz:
        assert lmz.namelist() == []
        lmz.writestr("second", b"2")
    with lmarchive.open(archive) as lmz:
        assert lmz.namelist() == ["second"]


def test_exclusive_mode(tmp_path: Path) -> None:
    archive = tmp_path / "x.lmz"
    with lmarchive.open(archive, "x") as lmz:
        lmz.writestr("a", b"a")
    before = archive.read_bytes()
    with pytest.raises(OverwriteError):
        lmarchive.open(archive, "x")
    assert archive.read_bytes() == before
    other = tmp_path / "plain.txt"
    other.write_bytes(b"not an archive")
    with pytest.raises(OverwriteError):
        lmarchive.open(other, "x")
    assert other.read_bytes() == b"not an archive"


def test_exclusive_mode_refuses_an_archive_that_appears_before_close(tmp_path: Path) -> None:
    archive = tmp_path / "x.lmz"
    lmz = lmarchive.open(archive, "x")
    lmz.writestr("a", b"mine")
    archive.write_bytes(b"someone else's file")
    with pytest.raises(OverwriteError):
        lmz.close()
    assert archive.read_bytes() == b"someone else's file"
    assert not partial_files(tmp_path)


@pytest.mark.parametrize("mode", ["w", "a"])
def test_an_exception_in_the_with_block_writes_nothing(tmp_path: Path, mode: str) -> None:
    archive = tmp_path / "e.lmz"
    with lmarchive.open(archive, "w") as lmz:
        lmz.writestr("original", b"original content")
    before = archive.read_bytes()
    stamp = archive.stat().st_mtime_ns
    with pytest.raises(RuntimeError, match="boom"), lmarchive.open(archive, mode) as lmz:  # type: ignore[arg-type]
        lmz.writestr("new", b"new content")
        if mode == "a":
            lmz.remove("original")
        raise RuntimeError("boom")
    assert archive.read_bytes() == before
    assert archive.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.lmz"]


def test_an_exception_in_the_with_block_creates_no_archive(tmp_path: Path) -> None:
    archive = tmp_path / "never.lmz"
    with pytest.raises(KeyError), lmarchive.open(archive, "w") as lmz:
        lmz.writestr("a", b"a")
        raise KeyError("boom")
    assert list(tmp_path.iterdir()) == []


def test_a_failing_close_leaves_the_previous_archive(tmp_path: Path) -> None:
    """A member inside a stored file is refused when the new archive is written; nothing changes."""
    archive = tmp_path / "f.lmz"
    with lmarchive.open(archive, "w") as lmz:
        lmz.writestr("d", b"a file called d")
    before = archive.read_bytes()
    lmz = lmarchive.open(archive, "a")
    lmz.writestr("d/inside", b"cannot be")
    with pytest.raises(LMArchiveError, match="inside the file"):
        lmz.close()
    assert archive.read_bytes() == before
    assert not partial_files(tmp_path)
    lmz.close()  # already closed by the failure: a second close does nothing
    with pytest.raises(ValueError, match="closed"):
        lmz.writestr("again", b"x")
    assert archive.read_bytes() == before


def test_misuse_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "r.lmz"
    with pytest.raises(ValueError, match="mode"):
        lmarchive.open(archive, "rw")  # type: ignore[arg-type]
    with lmarchive.open(archive, "w") as lmz:
        for bad in ("../up", "/abs", "a\\b", "a//b", "C:/x", "", "a/./b"):
            with pytest.raises(UnsafePathError):
                lmz.writestr(bad, b"x")
        lmz.writestr("ok", b"x")
        with pytest.raises(LMArchiveError, match="no stored members"):
            lmz.read("ok")
    with lmarchive.open(archive) as lmz:
        with pytest.raises(LMArchiveError, match="reading"):
            lmz.writestr("more", b"y")
        with pytest.raises(LMArchiveError, match="reading"):
            lmz.remove("ok")
    with pytest.raises(ValueError, match="closed"):
        lmz.read("ok")
    with pytest.raises(lmarchive.ModelError):
        lmarchive.open(tmp_path / "m.lmz", "w", model="no-such-model")
    assert not (tmp_path / "m.lmz").exists()
    (tmp_path / "junk.lmz").write_bytes(b"junk" * 20)
    with pytest.raises(lmarchive.FormatError):
        lmarchive.open(tmp_path / "junk.lmz")
    with pytest.raises(lmarchive.FormatError):
        lmarchive.open(tmp_path / "junk.lmz", "a")


# --- shutil and detection -----------------------------------------------------------------------


def test_shutil_make_and_unpack_archive(tmp_path: Path, rng: random.Random) -> None:
    root = tmp_path / "root"
    (root / "docs" / "empty-dir").mkdir(parents=True)
    (root / "docs" / "a.txt").write_bytes(text_bytes(rng, 1500))
    (root / "docs" / "zero").write_bytes(b"")
    (root / "top.bin").write_bytes(rng.randbytes(700))
    (root / "ünï cödé.txt").write_bytes("ünï cödé".encode())
    assert "lmz" in {name for name, _ in shutil.get_archive_formats()}
    made = shutil.make_archive(str(tmp_path / "made"), "lmz", root)
    assert Path(made) == tmp_path / "made.lmz"
    assert lmarchive.is_lmzfile(made)
    with lmarchive.open(made) as lmz:
        assert set(lmz.namelist()) == {"docs", "docs/empty-dir", "docs/a.txt", "docs/zero", "top.bin", "ünï cödé.txt"}
    shutil.unpack_archive(made, tmp_path / "unpacked")
    assert snapshot(tmp_path / "unpacked") == snapshot(root)
    shutil.unpack_archive(made, tmp_path / "explicit", format="lmz")
    assert snapshot(tmp_path / "explicit") == snapshot(root)


def test_shutil_make_archive_with_a_base_dir(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "sub" / "f").write_bytes(b"f")
    (root / "other").write_bytes(b"not included")
    made = shutil.make_archive(str(tmp_path / "b"), "lmz", root_dir=root, base_dir="pkg")
    with lmarchive.open(made) as lmz:
        assert lmz.namelist() == ["pkg", "pkg/sub", "pkg/sub/f"]


def test_is_lmzfile(tmp_path: Path) -> None:
    archive = tmp_path / "a.lmz"
    with lmarchive.open(archive, "w") as lmz:
        lmz.writestr("a", b"a")
    assert lmarchive.is_lmzfile(archive)
    assert lmarchive.is_lmzfile(str(archive))
    (tmp_path / "text").write_bytes(b"plain text, long enough")
    (tmp_path / "short").write_bytes(b"\x89LMZ")
    assert not lmarchive.is_lmzfile(tmp_path / "text")
    assert not lmarchive.is_lmzfile(tmp_path / "short")
    assert not lmarchive.is_lmzfile(tmp_path / "missing")
    assert not lmarchive.is_lmzfile(tmp_path)


# --- incompressible data --------------------------------------------------------------------------


def growth(tmp_path: Path, source: Path) -> tuple[int, int, int]:
    """(original size, archive size, packed size) of a one-file archive of ``source``."""
    archive = tmp_path / (source.name + ".lmz")
    with lmarchive.open(archive, "w") as lmz:
        lmz.write(source)
    with lmarchive.open(archive) as lmz:
        (info,) = lmz.infolist()
        assert lmz.read(info.name) == source.read_bytes()
    size = source.stat().st_size
    print(
        f"{source.name}: {size} bytes, archive {archive.stat().st_size} (+{archive.stat().st_size - size}), "
        f"packed {info.packed} (+{info.packed - size}), allowed +{size * 0.001 + 64:.1f}, method {info.method}"
    )
    return size, archive.stat().st_size, info.packed


@pytest.fixture
def noise_file(tmp_path: Path) -> Path:
    path = tmp_path / "noise.bin"
    path.write_bytes(os.urandom(1 << 20))
    return path


@pytest.fixture
def jpeg_file() -> Path:
    if not JPEG.exists():
        pytest.skip(f"{JPEG} is not available")
    return JPEG


# Measured: 1 MiB of os.urandom -> archive +542 bytes, packed +0 (allowed +1112.6).
def test_incompressible_entries_do_not_grow(tmp_path: Path, noise_file: Path) -> None:
    size, _, packed = growth(tmp_path, noise_file)
    assert packed == size  # stored as is


def test_a_jpeg_is_coded_smaller_than_gzip_makes_it(tmp_path: Path, jpeg_file: Path) -> None:
    """A JPEG photo: zstd saves nothing, gzip -9 0.2%, the fast model 1.5% (measured: 123,093 ->
    121,199 bytes, gzip -9 122,846); the entry records the fast model, not the archive's LM mix."""
    size, _, packed = growth(tmp_path, jpeg_file)
    assert packed < len(gzip.compress(jpeg_file.read_bytes(), 9)) < size
    with lmarchive.open(tmp_path / (jpeg_file.name + ".lmz")) as lmz:
        (info,) = lmz.infolist()
        assert (info.method, info.model) == ("model", "cmx")


def test_incompressible_random_archive_grows_by_less_than_a_tenth_of_a_percent(
    tmp_path: Path, noise_file: Path
) -> None:
    size, archive_size, _ = growth(tmp_path, noise_file)
    assert archive_size - size < size * 0.001 + 64


def test_incompressible_jpeg_archive_grows_by_less_than_a_tenth_of_a_percent(tmp_path: Path, jpeg_file: Path) -> None:
    """Plus the fixed cost of a one-entry archive: header and footer (56 bytes), the entry's record
    in the directory and its recovery record after its chunk (about 90 bytes each)."""
    size, archive_size, _ = growth(tmp_path, jpeg_file)
    assert archive_size - size < size * 0.001 + 64 + 180


# --- folders and empty files ---------------------------------------------------------------------


def test_folders_and_empty_files_are_entries(tmp_path: Path) -> None:
    src = tmp_path / "tree"
    (src / "a" / "b").mkdir(parents=True)
    (src / "a" / "empty.txt").write_bytes(b"")
    (src / "c").mkdir()
    archive = tmp_path / "t.lmz"
    with lmarchive.open(archive, "w") as lmz:
        lmz.add(src)
        lmz.write(src / "c", "single-dir")  # write() does not recurse: a folder entry alone
        lmz.writestr("top-empty", b"")
    with lmarchive.open(archive) as lmz:
        types = {info.name: info.type for info in lmz.infolist()}
        assert types == {
            "tree": "dir",
            "tree/a": "dir",
            "tree/c": "dir",
            "tree/a/b": "dir",
            "tree/a/empty.txt": "file",
            "single-dir": "dir",
            "top-empty": "file",
        }
        assert lmz.read("tree/a/empty.txt") == b""
        lmz.extractall(tmp_path / "out")
    assert snapshot(tmp_path / "out") == {
        "tree": None,
        "tree/a": None,
        "tree/c": None,
        "tree/a/b": None,
        "tree/a/empty.txt": b"",
        "single-dir": None,
        "top-empty": b"",
    }


# --- the archive file itself ------------------------------------------------------------------------


def test_a_new_archive_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        archive = tmp_path / "perm.lmz"
        with lmarchive.open(archive, "w") as lmz:
            lmz.writestr("a", b"a")
    finally:
        os.umask(old)
    assert stat.S_IMODE(archive.stat().st_mode) == 0o644


def test_appending_keeps_the_archive_permissions(tmp_path: Path) -> None:
    archive = tmp_path / "perm.lmz"
    with lmarchive.open(archive, "w") as lmz:
        lmz.writestr("a", b"a")
    archive.chmod(0o644)
    with lmarchive.open(archive, "a") as lmz:
        lmz.writestr("b", b"b")
    with lmarchive.open(archive) as lmz:
        assert lmz.namelist() == ["a", "b"]
    assert stat.S_IMODE(archive.stat().st_mode) == 0o644
