"""Shared set-up for the GUI tests: offscreen Qt, private settings folders, a window, sample data.

QT_QPA_PLATFORM is set before anything creates the QApplication, so the tests never need a
display; pytest's ``qt_log_level_fail`` turns any Qt warning into a failure.
"""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import make_tree, text_bytes
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from lmarchive.jobs import CreateJob
from lmarchive_gui.application import ArchiveApplication
from lmarchive_gui.main_window import MainWindow
from lmarchive_gui.settings import SettingsStore
from lmarchive_gui.worker import InlineWorker

HERE = Path(__file__).parent
OFFSCREEN_NOISE = r"This plugin does not support (propagateSizeHints|raise)\(\)"
"""The offscreen platform plugin's own warnings: it cannot size hint or raise windows (there are none)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_NOISE))


def text(size: int, seed: int = 1) -> bytes:
    """``size`` bytes of word salad (:func:`conftest.text_bytes`): compressible like prose, quick for
    the model, different per seed."""
    return text_bytes(random.Random(seed), size)


def make_archive(path: Path, *sources: Path) -> Path:
    """An archive made by the core itself, as test input."""
    CreateJob(archive=path, paths=list(sources)).run()
    return path


def answer_modal(click: Callable[[QWidget], None]) -> None:
    """Act on the next modal dialog once it is shown (exec() blocks the test until then)."""

    def act() -> None:
        modal = QApplication.activeModalWidget()
        if modal is None:
            QTimer.singleShot(10, act)
            return
        click(modal)

    QTimer.singleShot(0, act)


@pytest.fixture(scope="session")
def qapp_cls() -> type[ArchiveApplication]:
    return ArchiveApplication


@pytest.fixture(autouse=True)
def private_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """platformdirs reads these on every call, so settings, cache and logs land in a fresh folder."""
    root = tmp_path_factory.mktemp("xdg")
    for variable in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(variable, str(root / variable.lower()))
    return root


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A small folder: two text files, a nested one, and an empty file."""
    return make_tree(
        tmp_path / "docs",
        {
            "readme.txt": text(1500, 1),
            "notes.md": text(900, 2),
            "sub/deep.txt": text(1200, 3),
            "empty.txt": b"",
        },
    )


@pytest.fixture
def window(qtbot: QtBot) -> Iterator[MainWindow]:
    """A window over the synchronous stand-in worker, so every job has ended when its call returns."""
    win = MainWindow(SettingsStore(), InlineWorker())
    qtbot.addWidget(win)
    win.show()
    yield win
    win.shutdown()
