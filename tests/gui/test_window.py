"""The main window over the synchronous worker: opening, listing, extracting, deleting, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel, QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from app.entry_model import Column
from app.main_window import MainWindow
from app.settings import Settings
from lmarchive.container import ContainerReader
from lmarchive.models.registry import DEFAULT_MODEL, resolve

from .conftest import make_archive, make_tree, partial_files, text


def select(window: MainWindow, *names: str) -> None:
    """Select the rows of ``names`` in the view, as a user's clicks would."""
    selection = window.view.selectionModel()
    selection.clearSelection()
    for row in range(window.proxy.rowCount()):
        index = window.proxy.index(row, 0)
        if window.model.row(window.proxy.mapToSource(index).row()).name in names:
            flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
            selection.select(index, flags)


def shown_names(window: MainWindow) -> list[str]:
    return [window.proxy.index(r, Column.NAME).data() for r in range(window.proxy.rowCount())]


def message_boxes(window: MainWindow) -> list[QMessageBox]:
    return [box for box in window.findChildren(QMessageBox) if box.isVisible()]


def drop(window: MainWindow, paths: list[Path]) -> QDropEvent:
    """Drag ``paths`` over the window and drop them, the way a file manager would."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    where = QPointF(window.rect().center())
    action = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(where.toPoint(), action, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted(), "the window refused the drag"
    event = QDropEvent(where, action, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, event)
    return event


def test_open_archive_lists_entries_with_ratios(window: MainWindow, sample: Path, tmp_path: Path) -> None:
    archive = make_archive(tmp_path / "docs.lmz", sample)
    assert window.open_archive(archive)

    assert window.windowTitle().startswith("docs.lmz")
    assert window.pages.currentIndex() == 1
    assert shown_names(window) == [
        "docs/",
        "docs/empty.txt",
        "docs/notes.md",
        "docs/readme.txt",
        "docs/sub/",
        "docs/sub/deep.txt",
    ]
    readme = next(r for r in range(window.proxy.rowCount()) if shown_names(window)[r] == "docs/readme.txt")
    cells = {c: window.proxy.index(readme, c).data() for c in Column}
    assert cells[Column.METHOD] == "model"
    assert cells[Column.MODEL] == resolve(DEFAULT_MODEL)
    assert cells[Column.RATIO].endswith("%") and cells[Column.GZIP].endswith("%")
    assert "bytes" in window.proxy.index(readme, Column.SIZE).data(Qt.ItemDataRole.ToolTipRole)
    assert "gzip -9" in window.proxy.index(readme, Column.RATIO).data(Qt.ItemDataRole.ToolTipRole)
    window._show_totals()
    totals = window.totals_label.text()
    assert "6 entries (2 folders)" in totals and "gzip -9 would give" in totals
    assert str(archive) == window.settings.recent[0]


def test_sort_and_filter(window: MainWindow, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src", {"big.txt": text(3000), "small.txt": text(300), "code.py": text(1000)})
    window.open_archive(make_archive(tmp_path / "src.lmz", source))

    window.view.sortByColumn(Column.SIZE, Qt.SortOrder.DescendingOrder)
    assert shown_names(window)[:3] == ["src/big.txt", "src/code.py", "src/small.txt"]
    window.filter.setText("*.py")
    assert shown_names(window) == ["src/code.py"]
    window._show_totals()
    assert "1 shown" in window.totals_label.text()
    window.filter.setText("SMALL")
    assert shown_names(window) == ["src/small.txt"]
    window.filter.clear()
    assert window.proxy.rowCount() == 4


def test_extract_selected_then_all(
    window: MainWindow, sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window.open_archive(make_archive(tmp_path / "docs.lmz", sample))
    out = tmp_path / "out"
    monkeypatch.setattr(window, "ask_extract_folder", lambda default: str(out))

    select(window, "docs/readme.txt", "docs/sub")
    assert window.extract_selected_action.isEnabled()
    window.extract_selected_action.trigger()
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "docs",
        "docs/readme.txt",
        "docs/sub",
        "docs/sub/deep.txt",
    ]
    assert (out / "docs/readme.txt").read_bytes() == (sample / "readme.txt").read_bytes()

    window.settings = Settings(overwrite="always")
    window.extract_all_action.trigger()
    for name in ("readme.txt", "notes.md", "sub/deep.txt", "empty.txt"):
        assert (out / "docs" / name).read_bytes() == (sample / name).read_bytes()
    assert "Extracted 6 entries" in window.statusBar().currentMessage()


def test_overwrite_policy_ask(
    window: MainWindow, sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window.open_archive(make_archive(tmp_path / "docs.lmz", sample))
    out = tmp_path / "out"
    (out / "docs").mkdir(parents=True)
    (out / "docs/readme.txt").write_bytes(b"mine")
    monkeypatch.setattr(window, "ask_extract_folder", lambda default: str(out))
    questions: list[str] = []

    monkeypatch.setattr(window, "ask_overwrite", lambda message: questions.append(message) or False)
    window.extract_all()
    assert len(questions) == 1 and "already exists" in questions[0]
    assert (out / "docs/readme.txt").read_bytes() == b"mine"
    assert not (out / "docs/notes.md").exists()

    monkeypatch.setattr(window, "ask_overwrite", lambda message: True)
    window.extract_all()
    assert (out / "docs/readme.txt").read_bytes() == (sample / "readme.txt").read_bytes()


def test_overwrite_policy_never_shows_an_error(window: MainWindow, sample: Path, tmp_path: Path) -> None:
    window.open_archive(make_archive(tmp_path / "docs.lmz", sample))
    out = tmp_path / "out"
    (out / "docs").mkdir(parents=True)
    (out / "docs/readme.txt").write_bytes(b"mine")
    window.settings = Settings(overwrite="never")
    window.extract_to(out)
    boxes = message_boxes(window)
    assert [b.windowTitle() for b in boxes] == ["Could not extract"]
    assert "already exists" in boxes[0].text() and "\n" not in boxes[0].text()
    assert (out / "docs/readme.txt").read_bytes() == b"mine"


def test_drop_creates_an_archive_then_adds(
    window: MainWindow, qtbot: QtBot, sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proposed: list[Path] = []
    target = tmp_path / "made.lmz"
    monkeypatch.setattr(window, "ask_new_archive_path", lambda default: proposed.append(default) or str(target))

    drop(window, [sample])
    qtbot.waitUntil(lambda: window.archive == target and not window.worker.busy and window.model.rowCount() == 6)
    assert proposed == [tmp_path / "docs.lmz"], "default: next to the first item, named after it"
    assert target.exists()

    extra = make_tree(tmp_path / "more", {"extra.txt": text(700, 9)}) / "extra.txt"
    drop(window, [extra])
    qtbot.waitUntil(lambda: window.model.rowCount() == 7)
    with ContainerReader(target) as reader:
        assert "extra.txt" in [e.name for e in reader.entries]
    assert proposed == [tmp_path / "docs.lmz"], "adding to an open archive asks nothing"


def test_drop_of_an_archive_opens_it(window: MainWindow, qtbot: QtBot, sample: Path, tmp_path: Path) -> None:
    archive = make_archive(tmp_path / "docs.lmz", sample)
    drop(window, [archive])
    qtbot.waitUntil(lambda: window.archive == archive)
    assert window.model.rowCount() == 6


def test_own_drags_are_not_dropped_back(window: MainWindow, sample: Path, tmp_path: Path) -> None:
    window.open_archive(make_archive(tmp_path / "docs.lmz", sample))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(sample / "readme.txt"))])
    point = window.rect().center()
    event = QDragEnterEvent(
        point, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    event.ignore()
    remote = QMimeData()
    remote.setUrls([QUrl("https://example.org/file.txt")])
    remote_event = QDragEnterEvent(
        point, Qt.DropAction.CopyAction, remote, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(window, remote_event)
    assert not remote_event.isAccepted(), "only local files can be added"


def test_corrupt_archive_shows_an_error_dialog(window: MainWindow, tmp_path: Path) -> None:
    bad = tmp_path / "broken.lmz"
    bad.write_bytes(b"\x89LMZ\r\n\x1a\n" + bytes(200))
    assert not window.open_archive(bad)
    boxes = message_boxes(window)
    assert len(boxes) == 1
    assert boxes[0].windowTitle() == "Could not open the archive"
    assert boxes[0].text().startswith("broken.lmz: ")
    assert "Traceback" not in boxes[0].text() and "\n" not in boxes[0].text()
    assert window.archive is None and window.pages.currentIndex() == 0


def test_test_and_delete(window: MainWindow, sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = make_archive(tmp_path / "docs.lmz", sample)
    window.open_archive(archive)
    window.test_action.trigger()
    assert [b.windowTitle() for b in message_boxes(window)] == ["Test passed"]

    monkeypatch.setattr(window, "ask_delete", lambda names: True)
    select(window, "docs/sub")
    window.delete_action.trigger()
    assert "docs/sub/deep.txt" not in shown_names(window)
    with ContainerReader(archive) as reader:
        assert [e.name for e in reader.entries] == ["docs", "docs/empty.txt", "docs/notes.md", "docs/readme.txt"]


def test_double_click_opens_an_entry_from_a_scratch_copy(
    window: MainWindow, sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window.open_archive(make_archive(tmp_path / "docs.lmz", sample))
    opened: list[QUrl] = []
    monkeypatch.setattr(window, "open_url", lambda url: opened.append(url) or True)
    submitted: list[object] = []
    window.worker.event.connect(submitted.append)

    row = shown_names(window).index("docs/notes.md")
    window.view.activated.emit(window.proxy.index(row, Column.NAME))
    assert len(opened) == 1
    copy = Path(opened[0].toLocalFile())
    assert copy.read_bytes() == (sample / "notes.md").read_bytes()
    events = len(submitted)
    window.open_entry("docs/notes.md")
    assert len(opened) == 2 and len(submitted) == events, "the second open reuses the extracted copy"

    window.shutdown()
    assert not copy.exists(), "the scratch folder is removed at exit"


def test_drag_out_extracts_to_file_urls(window: MainWindow, sample: Path, tmp_path: Path) -> None:
    window.open_archive(make_archive(tmp_path / "docs.lmz", sample))
    select(window, "docs/readme.txt", "docs/sub", "docs/sub/deep.txt")
    mime = window.prepare_drag()
    assert mime is not None
    paths = [Path(url.toLocalFile()) for url in mime.urls()]
    assert [p.name for p in paths] == ["readme.txt", "sub"], "a folder carries its contents"
    assert paths[0].read_bytes() == (sample / "readme.txt").read_bytes()
    assert (paths[1] / "deep.txt").read_bytes() == (sample / "sub/deep.txt").read_bytes()
    assert not partial_files(paths[0].parent)


def test_paths_from_the_os(window: MainWindow, sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "archives").mkdir()
    archive = make_archive(tmp_path / "archives/docs.lmz", sample)
    window.open_from_os([str(archive)])
    assert window.archive == archive

    window.apply_settings(Settings(double_click="extract"))
    window.close_archive()
    window.open_from_os([str(archive)])
    beside = tmp_path / "archives/docs/docs"
    assert (beside / "readme.txt").read_bytes() == (sample / "readme.txt").read_bytes()
    window.open_from_os([str(archive)])
    assert (tmp_path / "archives/docs 2/docs/notes.md").exists(), "never extracts over an earlier extraction"

    target = tmp_path / "new.lmz"
    monkeypatch.setattr(window, "ask_new_archive_path", lambda default: str(target))
    window.open_from_os([str(sample / "readme.txt"), str(sample / "notes.md")])
    assert window.archive == target
    assert sorted(window.model.names()) == ["notes.md", "readme.txt"]

    window.open_from_os([str(tmp_path / "missing.txt")])
    assert "No such file or folder" in message_boxes(window)[-1].text()
