"""Damaged archives: whatever the bytes, only the library's own errors come out and nothing escapes.

A small valid archive holds every kind of member (model, zstd and stored chunks, a folder, an empty
file); thousands of seeded mutations of it (and pure garbage) are opened, listed, extracted and
tested.  Deterministic: the same cases run every time.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import zlib
from collections import Counter
from pathlib import Path

import pytest
import zstandard
from conftest import partial_files, snapshot

import lmarchive
from lmarchive.container import FOOTER_SIZE, HEADER_SIZE, MAGIC, ContainerReader, Method
from lmarchive.errors import FormatError, LMArchiveError

CASES = 2000
SEED = 20240611


def sprinkled(rng: random.Random, size: int, count: int) -> bytes:
    """Mostly one byte with a few others: the model codes it far smaller than zstd."""
    data = bytearray(b"a" * size)
    for _ in range(count):
        data[rng.randrange(size)] = rng.choice(b"bcdefgh")
    return bytes(data)


def build_archive(path: Path) -> dict[str, bytes | None]:
    """The archive the cases start from; returns its expected extracted tree."""
    rng = random.Random(7)
    folder = path.parent / "folder-source"
    folder.mkdir()
    tree: dict[str, bytes | None] = {
        "model.txt": sprinkled(rng, 300, 20),
        "repeats.bin": rng.randbytes(32) * 20,  # long-range repeats: the match model codes them
        "photo.jpg": b"\xff\xd8\xff\xe0" + rng.randbytes(200),  # looks compressed: stored
        "folder": None,
        "folder/empty": b"",
    }
    with lmarchive.open(path, "w") as lmz:
        for name, content in tree.items():
            if content is None:
                lmz.write(folder, name)
            else:
                lmz.writestr(name, content, mtime_ns=1_000_000_000)
    zstd_member = b"zstd entry, " * 12
    with lmarchive.open(path, "a", model=None) as lmz:  # no model: a zstd entry
        lmz.writestr("zstd.txt", zstd_member, mtime_ns=1_000_000_000)
    tree["zstd.txt"] = zstd_member
    shutil.rmtree(folder)
    return tree


def mutate(rng: random.Random, blob: bytes, chunk_area: tuple[int, int]) -> tuple[str, bytes]:
    """One random damage; returns its kind and the damaged bytes."""
    kind = rng.choice(
        ["bitflip", "bitflip", "chunk-bitflip", "truncate", "append", "prepend", "insert", "overwrite",
         "chunk-overwrite", "garbage", "garbage-with-header"]
    )  # fmt: skip
    data = bytearray(blob)
    if kind in ("bitflip", "chunk-bitflip"):
        low, high = (0, len(data)) if kind == "bitflip" else chunk_area
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(low, high)] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        del data[rng.randrange(len(data)) :]
    elif kind == "append":
        data += rng.randbytes(rng.randint(1, 64))
    elif kind == "prepend":
        data[:0] = rng.randbytes(rng.randint(1, 64))
    elif kind == "insert":
        at = rng.randrange(len(data) + 1)
        data[at:at] = rng.randbytes(rng.randint(1, 64))
    elif kind in ("overwrite", "chunk-overwrite"):
        low, high = (0, len(data)) if kind == "overwrite" else chunk_area
        start = rng.randrange(low, high)
        end = min(high, start + rng.randint(1, 32))
        data[start:end] = rng.randbytes(end - start)
    elif kind == "garbage":
        data = bytearray(rng.randbytes(rng.randint(0, 2000)))
    else:  # a valid header, then garbage: gets past the first check
        header = MAGIC + struct.pack("<HH", 1, 0)
        data = bytearray(header + struct.pack("<I", zlib.crc32(header)) + rng.randbytes(rng.randint(0, 2000)))
    return kind, bytes(data)


def test_the_fuzz_archive_has_every_kind_of_member(tmp_path: Path) -> None:
    archive = tmp_path / "base.lmz"
    tree = build_archive(archive)
    with ContainerReader(archive) as reader:
        methods = {e.name: (e.method, tuple(c.method for c in e.chunks)) for e in reader.entries}
    assert methods == {
        "model.txt": (Method.MODEL, (Method.MODEL,)),
        "repeats.bin": (Method.MODEL, (Method.MODEL,)),
        "photo.jpg": (Method.STORE, (Method.STORE,)),
        "folder": (Method.STORE, ()),
        "folder/empty": (Method.STORE, ()),
        "zstd.txt": (Method.ZSTD, (Method.ZSTD,)),
    }
    with lmarchive.open(archive) as lmz:
        lmz.extractall(tmp_path / "out")
    assert snapshot(tmp_path / "out") == tree


def test_fuzz(tmp_path: Path) -> None:
    archive_dir = tmp_path / "archive"
    archive_dir.mkdir()
    base = archive_dir / "base.lmz"
    tree = build_archive(base)
    blob = base.read_bytes()
    dir_offset = struct.unpack_from("<Q", blob, len(blob) - FOOTER_SIZE + 8)[0]
    chunk_area = (HEADER_SIZE, dir_offset)
    case_file = archive_dir / "case.lmz"
    rng = random.Random(SEED)
    raised: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    unexpected: list[str] = []
    for case in range(CASES):
        kind, data = mutate(rng, blob, chunk_area)
        kinds[kind] += 1
        case_file.write_bytes(data)
        parent = tmp_path / f"case{case}"
        parent.mkdir()
        target = parent / "out"
        errors: list[str] = []
        extract_failed = False
        try:
            with lmarchive.open(case_file) as lmz:
                names = lmz.namelist()
                assert [i.name for i in lmz.infolist()] == names
                try:
                    lmz.extractall(target)
                except LMArchiveError as exc:
                    errors.append(type(exc).__name__)
                    extract_failed = True
                try:
                    lmz.test()
                except LMArchiveError as exc:
                    errors.append(type(exc).__name__)
        except LMArchiveError as exc:
            errors.append(type(exc).__name__)
            extract_failed = True
        except Exception as exc:
            unexpected.append(f"case {case} ({kind}): {type(exc).__name__}: {exc}")
            extract_failed = True
        for name in errors:
            raised[name] += 1
        if errors:
            raised["cases that raised"] += 1
        # Nothing outside the target, no temporary files, and on failure nothing at all left behind.
        assert sorted(os.listdir(parent)) in ([], ["out"]), f"case {case} ({kind}) wrote outside its target"
        assert sorted(os.listdir(archive_dir)) == ["base.lmz", "case.lmz"], f"case {case} ({kind})"
        assert not partial_files(parent), f"case {case} ({kind}) left a temporary file"
        if extract_failed:
            assert not target.exists(), f"case {case} ({kind}): a failed extraction left {snapshot(target)}"
        else:  # everything passed its checksums: it must be the original content
            assert snapshot(target) == tree, f"case {case} ({kind}) extracted wrong content without an error"
        shutil.rmtree(parent)
    print(f"\nfuzz: {CASES} cases {dict(kinds)}")
    print(f"fuzz: {raised['cases that raised']} raised; error types {dict(raised)}; unexpected {len(unexpected)}")
    assert kinds["garbage"] and kinds["chunk-bitflip"]
    assert raised["cases that raised"] > CASES // 2
    assert not unexpected, "\n".join(unexpected[:20])


def zstd_chunk_offset(archive: Path, name: str) -> int:
    with ContainerReader(archive) as reader:
        entry = reader.get(name)
        assert entry is not None
        (chunk,) = entry.chunks
        assert chunk.method == Method.ZSTD
        return chunk.offset


def test_damaged_zstd_frame_size_is_a_library_error(tmp_path: Path) -> None:
    archive = tmp_path / "base.lmz"
    build_archive(archive)
    offset = zstd_chunk_offset(archive, "zstd.txt")
    blob = bytearray(archive.read_bytes())
    descriptor = blob[offset + 4]
    assert descriptor & 0xC0 != 0xC0
    blob[offset + 4] = descriptor | 0xC0  # two bit flips: the frame now declares an 8-byte content size
    assert zstandard.frame_content_size(bytes(blob[offset:])) > 1 << 40
    archive.write_bytes(bytes(blob))
    with lmarchive.open(archive) as lmz:
        with pytest.raises(FormatError):
            lmz.extractall(tmp_path / "out")
        with pytest.raises(FormatError):
            lmz.read("zstd.txt")
    assert not (tmp_path / "out").exists()
