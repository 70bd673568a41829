"""Helpers shared by the test files: text-like data, folder snapshots and leftover checks.

Test files import the plain functions (``from conftest import ...``); pytest puts this folder on
``sys.path`` because the tests are not a package.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from lmarchive.models import registry
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
        monkeypatch.delenv(registry.BUILTIN_LM_ENV, raising=False)


# Set before any fixture (module-scoped ones included) makes an archive; inherited by subprocesses.
os.environ[registry.BUILTIN_LM_ENV] = ""
