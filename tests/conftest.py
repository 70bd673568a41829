"""Helpers shared by the test files: text-like data, folders and their snapshots, leftover checks,
damaged chunks, the command line, model folders and torch's threads.

Test files import the plain functions (``from conftest import ...``); pytest puts this folder on
``sys.path`` because the tests are not a package.  Nothing heavy is imported here (torch is
optional, and loads only for the modules that ask for :func:`one_torch_thread`).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmarchive.container import ContainerReader
from lmarchive.models import registry
from lmarchive.resources import MODEL_PATH_ENV
from lmarchive.safety import BACKUP_PREFIX, TEMP_PREFIX

WORDS = (
    "the of and to in is was that for on with as by at from his her they this which be are have had "
    "not but one all were when there can an their more if out so said what up its about into than them "
    "only other time new some could these two may first then do any like my now over such our man me "
    "even most made after also did many before must through back years where much your way well down "
    "should because each just those people how too little state good very make world still own see "
    "archive model range coder chunk stream entry folder byte symbol table frequency context lossless"
).split()


def text_bytes(rng: random.Random, size: int) -> bytes:
    """About ``size`` bytes of text-like data (words, punctuation, line breaks), exactly ``size`` long."""
    parts: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        if rng.random() < 0.08:
            word = word.capitalize()
        sep = rng.choice((" ", " ", " ", " ", " ", ", ", ". ", "\n"))
        parts.append(word + sep)
        length += len(word) + len(sep)
    return "".join(parts).encode("ascii")[:size]


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` (relative, '/'-separated): file content, or None for a folder.

    Links are recorded as ``b"link:" + target`` so a test notices one appearing or changing.
    """
    result: dict[str, bytes | None] = {}
    if not root.exists():
        return result
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in dirnames + filenames:
            path = here / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                result[rel] = b"link:" + os.readlink(path).encode()
            elif path.is_dir():
                result[rel] = None
            else:
                result[rel] = path.read_bytes()
    return result


def partial_files(root: Path) -> list[Path]:
    """Temporary files the library writes while working (``.lmz-partial-*``) and originals an overwriting
    extraction keeps aside until it succeeds (``.lmz-original-*``), anywhere under ``root``."""
    return sorted([*root.rglob(f"{TEMP_PREFIX}*"), *root.rglob(f"{BACKUP_PREFIX}*")])


def make_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Write ``files`` (relative '/'-separated path -> content) under ``root``, folders as needed; ``root``."""
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def corrupt_chunk(archive: Path, member: str, chunk: int = 0, flip: int = 0x04) -> None:
    """XOR ``flip`` into the middle byte of chunk ``chunk`` of ``member``'s coded data: the directory
    and its checksum stay valid, the chunk's checksum fails (the same call again undoes it)."""
    with ContainerReader(archive) as reader:
        entry = reader.get(member)
        assert entry is not None and len(entry.chunks) > chunk
        record = entry.chunks[chunk]
    blob = bytearray(archive.read_bytes())
    blob[record.offset + record.coded_len // 2] ^= flip
    archive.write_bytes(bytes(blob))


def run_cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """The command line's ``main`` on ``args`` (as strings): its exit code, stdout and stderr."""
    from lmarchive.cli import main

    code = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return code, out, err


def no_tick(_: int) -> None:
    """A progress callback that ignores the progress."""


def forget_loaded_models() -> None:
    """Make the registry load LM and mixed models afresh (it caches them by name)."""
    registry._load_lm.cache_clear()
    registry._load_mix.cache_clear()


def use_model_folder(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Point the registry at ``folder`` of model folders (``$LMARCHIVE_MODEL_PATH``), forgetting the
    models it loaded before."""
    monkeypatch.setenv(MODEL_PATH_ENV, str(folder))
    forget_loaded_models()


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Torch on one thread for a module's tests: tiny models run fastest that way, and steadily on a busy
    machine (more threads only contend with each other).  A module asks for it with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def rng() -> random.Random:
    """A seeded generator, so every run of a test sees the same data."""
    return random.Random(0x1A2B3C)


@pytest.fixture(autouse=True)
def _default_profile_without_the_lm(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests make hundreds of small archives with the default profile; with the shipped LM in the
    loop each small file would take seconds to decode (one LM step per byte).  They get the default
    profile as an installation without the LM resolves it (``fast``); tests marked ``shipped_lm``
    (and tests/test_mix_model.py, which tests the LM path directly) keep the real one."""
    if request.node.get_closest_marker("shipped_lm") is not None:
        for variable in registry.PROFILE_LM_ENVS:
            monkeypatch.delenv(variable, raising=False)


# Set before any fixture (module-scoped ones included) makes an archive; inherited by subprocesses.
os.environ.update(dict.fromkeys(registry.PROFILE_LM_ENVS, ""))
