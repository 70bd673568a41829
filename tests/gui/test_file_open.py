"""macOS opens documents by QFileOpenEvent (Finder double-click, drop on the Dock icon), not argv."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QFileOpenEvent
from pytestqt.qtbot import QtBot

from lmarchive_gui.__main__ import write_open_report
from lmarchive_gui.application import ArchiveApplication
from lmarchive_gui.main_window import MainWindow

from .conftest import make_archive


@pytest.fixture
def fresh_app(qapp: ArchiveApplication, monkeypatch: pytest.MonkeyPatch) -> ArchiveApplication:
    """The session's application as if just started: no handler yet, nothing held."""
    monkeypatch.setattr(qapp, "_open_files", None)
    monkeypatch.setattr(qapp, "_pending", [])
    return qapp


def test_posted_file_open_event_opens_the_archive(
    fresh_app: ArchiveApplication, window: MainWindow, qtbot: QtBot, sample: Path, tmp_path: Path
) -> None:
    archive = make_archive(tmp_path / "docs.lmz", sample)
    fresh_app.open_files_with(window.open_from_os)
    QCoreApplication.postEvent(fresh_app, QFileOpenEvent(str(archive)))
    qtbot.waitUntil(lambda: window.archive == archive, timeout=5000)
    assert "docs/readme.txt" in window.model.names()


def test_events_before_the_window_are_held_and_opened_in_order(
    fresh_app: ArchiveApplication, window: MainWindow, sample: Path, tmp_path: Path
) -> None:
    first = make_archive(tmp_path / "first.lmz", sample / "notes.md")
    second = make_archive(tmp_path / "second.lmz", sample)
    for archive in (first, second):
        QCoreApplication.sendEvent(fresh_app, QFileOpenEvent(str(archive)))
    assert window.archive is None, "nothing opens before a handler is named"
    opened: list[list[str]] = []

    def handler(paths: list[str]) -> None:
        opened.append(paths)
        window.open_from_os(paths)

    fresh_app.open_files_with(handler)
    assert opened == [[str(first)], [str(second)]], "each held request is one archive, not a list to archive"
    assert window.archive == second
    assert sorted(window.model.names()) == sorted(
        ["docs", "docs/empty.txt", "docs/notes.md", "docs/readme.txt", "docs/sub", "docs/sub/deep.txt"]
    )


def test_open_report_says_what_the_window_shows(window: MainWindow, sample: Path, tmp_path: Path) -> None:
    archive = make_archive(tmp_path / "docs.lmz", sample)
    window.open_from_os([str(archive)])
    write_open_report(window, tmp_path / "report.json")
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["archive"] == str(archive)
    assert "docs/sub/deep.txt" in report["entries"]
    assert report["errors"] == []

    window.open_from_os([str(tmp_path / "missing.lmz")])
    write_open_report(window, tmp_path / "report.json")
    assert "No such file or folder" in json.loads((tmp_path / "report.json").read_text())["errors"][-1]
