"""The registry's snapshot of the model folders: one stat per folder on the search path per lookup,
a new scan only when something there changed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmarchive.models import registry
from lmarchive.resources import MODEL_PATH_ENV

OLD = 1_700_000_000  # a time stamp long past: the folder has settled


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv(MODEL_PATH_ENV, str(folder))
    return folder


@pytest.fixture
def scans(root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """Every listing of ``root`` the registry makes."""
    listed: list[Path] = []
    iterdir = Path.iterdir

    def counting(self: Path) -> Iterator[Path]:
        if self == root:
            listed.append(self)
        return iterdir(self)

    monkeypatch.setattr(Path, "iterdir", counting)
    yield listed


def add_model(root: Path, name: str, *, config: bool = True) -> Path:
    folder = root / name
    folder.mkdir()
    if config:
        (folder / "config.json").write_text("{}")
    return folder


def settle(path: Path) -> None:
    os.utime(path, (OLD, OLD))


def test_a_settled_search_path_is_listed_once(root: Path, scans: list[Path]) -> None:
    add_model(root, "mine")
    settle(root)
    for _ in range(100):
        assert "mine" in registry.available_models()
        registry.resolve("default")
    assert len(scans) == 1


def test_a_folder_added_or_removed_is_seen(root: Path, scans: list[Path]) -> None:
    settle(root)
    assert "mine" not in registry.available_models()
    folder = add_model(root, "mine")
    settle(root)
    os.utime(root, (OLD + 1, OLD + 1))  # what the new entry did to the folder's time stamp
    assert "mine" in registry.available_models()
    (folder / "config.json").unlink()
    folder.rmdir()
    os.utime(root, (OLD + 2, OLD + 2))
    assert "mine" not in registry.available_models()
    assert len(scans) == 3


def test_a_model_still_being_copied_in_is_seen_when_its_config_arrives(root: Path, scans: list[Path]) -> None:
    """Copying a model folder makes the folder first, its files after: the search path's time stamp
    changes only with the first."""
    folder = add_model(root, "arriving", config=False)
    settle(root)
    assert "arriving" not in registry.available_models()
    (folder / "config.json").write_text("{}")
    assert "arriving" in registry.available_models()
    assert "arriving" in registry.available_models()
    assert len(scans) == 2


def test_a_folder_changed_just_now_is_listed_again(root: Path, scans: list[Path]) -> None:
    """Its time stamp may be too coarse to show a second change within the same second or two."""
    add_model(root, "mine")
    assert "mine" in registry._model_dirs()
    assert "mine" in registry._model_dirs()
    assert len(scans) == 2


def test_another_search_path_is_another_snapshot(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    add_model(root, "mine")
    settle(root)
    assert "mine" in registry.available_models()
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv(MODEL_PATH_ENV, str(other))
    assert "mine" not in registry.available_models()
