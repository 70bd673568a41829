"""Extracting from the window: Extract Here into a folder named after the archive, Extract to a typed
folder, and files already there asked about one by one (Replace / Skip / Keep Both, Apply to all)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import partial_files
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from lmarchive.container import ContainerReader
from lmarchive_gui.extract_dialogs import Conflict, ConflictDialog, ExtractToDialog, new_folder
from lmarchive_gui.main_window import MainWindow

from .conftest import answer_modal, make_archive


def tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.fixture
def archive(tmp_path: Path, sample: Path) -> Path:
    (tmp_path / "archives").mkdir()
    return make_archive(tmp_path / "archives/docs.lmz", sample)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """A folder that already has docs/readme.txt and docs/notes.md, older than the archive's."""
    dest = tmp_path / "out"
    (dest / "docs").mkdir(parents=True)
    for name in ("readme.txt", "notes.md"):
        (dest / "docs" / name).write_bytes(b"mine")
        os.utime(dest / "docs" / name, (1_000_000_000, 1_000_000_000))
    return dest


def test_new_folder_is_named_after_the_archive(tmp_path: Path) -> None:
    assert new_folder(tmp_path, "docs") == tmp_path / "docs"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs (2)").write_bytes(b"a file counts too")
    assert new_folder(tmp_path, "docs") == tmp_path / "docs (3)"


def test_extract_all_here(window: MainWindow, archive: Path, sample: Path) -> None:
    window.open_archive(archive)
    assert window.extract_all_here_action.isEnabled()
    window.extract_all_here_action.trigger()
    here = archive.parent / "docs"
    assert (here / "docs/readme.txt").read_bytes() == (sample / "readme.txt").read_bytes()
    window.extract_all_here_action.trigger()
    assert (archive.parent / "docs (2)/docs/sub/deep.txt").exists(), "never into an earlier extraction"
    assert not any(isinstance(w, QMessageBox) and w.isVisible() for w in window.findChildren(QWidget))


def test_extract_to_a_typed_folder_that_does_not_exist(
    qtbot: QtBot, window: MainWindow, archive: Path, tmp_path: Path
) -> None:
    window.open_archive(archive)
    typed = tmp_path / "new/place"
    proposed: list[str] = []

    def type_and_extract(modal: QWidget) -> None:
        assert isinstance(modal, ExtractToDialog)
        proposed.append(modal.path.text())
        modal.path.setText(str(typed))
        modal.buttons.accepted.emit()

    answer_modal(type_and_extract)
    window.extract_all_action.trigger()
    assert proposed == [str(archive.parent / "docs")], "a new folder named after the archive is proposed"
    assert "docs/notes.md" in tree(typed)


def test_extract_to_browse(qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    starts: list[str] = []
    monkeypatch.setattr(
        QFileDialog, "getExistingDirectory", lambda parent, title, start: starts.append(start) or str(tmp_path)
    )
    dialog = ExtractToDialog(tmp_path / "not/yet/there")
    qtbot.addWidget(dialog)
    dialog.findChildren(type(dialog.buttons.buttons()[0]))[0].click()  # Browse…
    assert starts == [str(tmp_path)], "browsing starts at the nearest folder that exists"
    assert dialog.chosen() == tmp_path
    dialog.path.setText("  ")
    assert not dialog.buttons.buttons()[0].isEnabled()


def test_cancelling_the_folder_question_is_quiet(
    window: MainWindow, archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window.open_archive(archive)
    monkeypatch.setattr(window, "ask_extract_folder", lambda default: None)
    window.extract_all()
    assert window.statusBar().currentMessage() == "Extraction cancelled"


def test_conflicts_are_asked_one_by_one(
    window: MainWindow, archive: Path, out: Path, sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window.open_archive(archive)
    asked: list[tuple[str, int]] = []
    answers = {"docs/notes.md": ("rename", False), "docs/readme.txt": ("skip", False)}

    def ask(conflict: Conflict, dest: Path, remaining: int) -> tuple[str, bool]:
        asked.append((conflict.entry.name, remaining))
        return answers[conflict.entry.name]

    monkeypatch.setattr(window, "ask_conflict", ask)
    window.extract_to(out)
    assert asked == [("docs/notes.md", 1), ("docs/readme.txt", 0)]
    assert (out / "docs/readme.txt").read_bytes() == b"mine"
    assert (out / "docs/notes.md").read_bytes() == b"mine"
    assert (out / "docs/notes (2).md").read_bytes() == (sample / "notes.md").read_bytes()
    assert (out / "docs/sub/deep.txt").exists()
    assert not partial_files(out)


def test_apply_to_all(
    window: MainWindow, archive: Path, out: Path, sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window.open_archive(archive)
    asked: list[str] = []
    monkeypatch.setattr(window, "ask_conflict", lambda c, dest, rest: asked.append(c.entry.name) or ("replace", True))
    window.extract_to(out)
    assert len(asked) == 1
    for name in ("readme.txt", "notes.md"):
        assert (out / "docs" / name).read_bytes() == (sample / name).read_bytes()


def test_cancel_shows_nothing_alarming(
    window: MainWindow, archive: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window.open_archive(archive)
    before = tree(out)
    monkeypatch.setattr(window, "ask_conflict", lambda c, dest, rest: None)
    window.extract_to(out)
    assert tree(out) == before
    assert window.statusBar().currentMessage() == "Extraction cancelled"
    assert not [w for w in window.findChildren(QMessageBox) if w.isVisible()]


def test_a_file_that_appears_after_the_questions_is_asked_about(
    window: MainWindow, archive: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The questions are asked before the job; a file put in the way meanwhile is asked about, not an error."""
    window.open_archive(archive)
    (out / "docs/notes.md").unlink()
    asked: list[str] = []

    def ask(conflict: Conflict, dest: Path, remaining: int) -> tuple[str, bool]:
        asked.append(conflict.entry.name)
        if conflict.entry.name == "docs/readme.txt":
            (out / "docs/notes.md").write_bytes(b"arrived")
        return "skip", False

    monkeypatch.setattr(window, "ask_conflict", ask)
    window.extract_to(out)
    assert asked == ["docs/readme.txt", "docs/notes.md"]
    assert (out / "docs/notes.md").read_bytes() == b"arrived"
    assert (out / "docs/sub/deep.txt").exists()
    assert not [w for w in window.findChildren(QMessageBox) if w.isVisible()]


def test_the_conflict_dialog(qtbot: QtBot, window: MainWindow, archive: Path, out: Path) -> None:
    """Both sizes and dates, which is newer, plain words, and the answer with Apply to all."""
    with ContainerReader(archive) as reader:
        entry = reader.get("docs/readme.txt")
    assert entry is not None
    conflict = Conflict(entry, (out / "docs/readme.txt").lstat())
    seen: list[ConflictDialog] = []
    defaults: list[bool] = []

    def answer(modal: QWidget) -> None:
        assert isinstance(modal, ConflictDialog)
        seen.append(modal)
        others = (modal.replace_button, modal.rename_button)
        defaults.append(modal.skip_button.isDefault() and not any(b.autoDefault() for b in others))
        modal.apply_all.setChecked(True)
        modal.rename_button.click()

    answer_modal(answer)
    assert window.ask_conflict(conflict, out, 1) == ("rename", True)
    (dialog,) = seen
    assert dialog.existing_label.text().startswith("4 bytes, modified 2001-09-")
    assert dialog.incoming_label.text().startswith("1.5 kB, modified ")
    words = " ".join(label.text() for label in dialog.findChildren(type(dialog.existing_label)))
    assert "readme.txt is already in" in words.replace("'", "") and "The archive's copy is newer." in words
    assert "overwrit" not in words.lower()
    assert dialog.apply_all.text() == "Do this for the other file already there"
    assert defaults == [True], "Enter presses Skip: it never replaces a file"

    answer_modal(lambda modal: modal.reject())
    assert window.ask_conflict(conflict, out, 0) is None
