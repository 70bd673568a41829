"""The main window over the synchronous worker: opening, listing, extracting, deleting, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import make_tree, partial_files
from PySide6.QtCore import QItemSelectionModel, QMimeData, QModelIndex, QPointF, QSize, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

import lmarchive
from lmarchive.container import ContainerReader
from lmarchive.jobs import JobStarted
from lmarchive.models.registry import DEFAULT_MODEL, resolve
from lmarchive_gui.entry_model import NAME_ROLE, Column
from lmarchive_gui.entry_tree import FOLDER_ROLE
from lmarchive_gui.main_window import MainWindow, fitted_size
from lmarchive_gui.settings import Settings, SettingsStore
from lmarchive_gui.worker import InlineWorker
from lmarchive_gui.write_flow import default_archive_path

from .conftest import make_archive, text


def tree_rows(window: MainWindow) -> list[QModelIndex]:
    """Every row of the view's tree, depth first, in folders open or closed."""
    rows: list[QModelIndex] = []
    stack = [QModelIndex()]
    while stack:
        parent = stack.pop()
        children = [window.proxy.index(row, 0, parent) for row in range(window.proxy.rowCount(parent))]
        at = rows.index(parent) + 1 if parent.isValid() else 0
        rows[at:at] = children
        stack.extend(children)
    return rows


def index_of(window: MainWindow, name: str, column: int = Column.NAME) -> QModelIndex:
    return next(index for index in tree_rows(window) if index.data(NAME_ROLE) == name).siblingAtColumn(column)


def select(window: MainWindow, *names: str) -> None:
    """Select the rows of ``names`` in the view, as a user's clicks would."""
    selection = window.view.selectionModel()
    selection.clearSelection()
    for index in tree_rows(window):
        if index.data(NAME_ROLE) in names:
            flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
            selection.select(index, flags)


def shown_names(window: MainWindow) -> list[str]:
    """The paths the tree shows (folders with a '/'), depth first."""
    return [index.data(NAME_ROLE) + ("/" if index.data(FOLDER_ROLE) else "") for index in tree_rows(window)]


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
        "docs/sub/",
        "docs/sub/deep.txt",
        "docs/empty.txt",
        "docs/notes.md",
        "docs/readme.txt",
    ]
    cells = {c: index_of(window, "docs/readme.txt", c).data() for c in Column}
    assert cells[Column.METHOD] == "model"
    assert cells[Column.MODEL] == "Fast", "the tests' default profile resolves as Fast's does (no LM)"
    model_tip = index_of(window, "docs/readme.txt", Column.MODEL).data(Qt.ItemDataRole.ToolTipRole)
    assert model_tip.startswith(f"{resolve(DEFAULT_MODEL)}: ") and "(the Fast and Default profiles)" in model_tip
    assert cells[Column.RATIO].endswith("%") and cells[Column.GZIP].endswith("%")
    assert "bytes" in index_of(window, "docs/readme.txt", Column.SIZE).data(Qt.ItemDataRole.ToolTipRole)
    assert "gzip -9" in index_of(window, "docs/readme.txt", Column.RATIO).data(Qt.ItemDataRole.ToolTipRole)
    window._show_totals()
    totals = window.totals_label.full_text()
    assert "6 entries (2 folders)" in totals and "gzip -9 would give" in totals
    assert str(archive) == window.settings.recent[0]


def test_sort_and_filter(window: MainWindow, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src", {"big.txt": text(3000), "small.txt": text(300), "code.py": text(1000)})
    window.open_archive(make_archive(tmp_path / "src.lmz", source))

    window.view.sortByColumn(Column.SIZE, Qt.SortOrder.DescendingOrder)
    assert shown_names(window) == ["src/", "src/big.txt", "src/code.py", "src/small.txt"]
    window.filter.setText("*.py")
    assert shown_names(window) == ["src/", "src/code.py"], "a match shows with the folders above it"
    window._show_totals()
    assert "1 shown" in window.totals_label.full_text()
    window.filter.setText("SMALL")
    assert shown_names(window) == ["src/", "src/small.txt"]
    window.filter.clear()
    assert len(shown_names(window)) == 4


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

    monkeypatch.setattr(window, "ask_conflict", lambda c, dest, rest: questions.append(c.entry.name))
    window.extract_all()
    assert questions == ["docs/readme.txt"]
    assert (out / "docs/readme.txt").read_bytes() == b"mine"
    assert not (out / "docs/notes.md").exists()

    monkeypatch.setattr(window, "ask_conflict", lambda c, dest, rest: ("replace", False))
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


def test_corrupt_archive_shows_an_error_dialog(
    window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "broken.lmz"
    bad.write_bytes(b"\x89LMZ\r\n\x1a\n" + bytes(200))
    offered: list[str] = []  # a damaged archive's question offers to salvage it (tests/gui/test_damage_gui.py)
    monkeypatch.setattr(window, "ask_salvage", lambda path, message: offered.append(message) or False)
    assert not window.open_archive(bad)
    assert len(offered) == 1
    assert "Traceback" not in offered[0] and "\n" not in offered[0]
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

    window.view.activated.emit(index_of(window, "docs/notes.md"))
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
    assert [p.name for p in paths] == ["sub", "readme.txt"], "a folder carries its contents; the tree's order"
    assert paths[1].read_bytes() == (sample / "readme.txt").read_bytes()
    assert (paths[0] / "deep.txt").read_bytes() == (sample / "sub/deep.txt").read_bytes()
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
    assert (tmp_path / "archives/docs (2)/docs/notes.md").exists(), "never extracts over an earlier extraction"

    target = tmp_path / "new.lmz"
    monkeypatch.setattr(window, "ask_new_archive_path", lambda default: str(target))
    window.open_from_os([str(sample / "readme.txt"), str(sample / "notes.md")])
    assert window.archive == target
    assert sorted(window.model.names()) == ["notes.md", "readme.txt"]

    window.open_from_os([str(tmp_path / "missing.txt")])
    assert "No such file or folder" in message_boxes(window)[-1].text()


def test_messages_show_member_names_as_plain_text(window: MainWindow, qtbot: QtBot) -> None:
    """A member called '<img src=...>' must be shown as those characters, not rendered as markup."""
    box = window.show_error("Could not extract", "<b>bold</b><img src='x.png'>: failed")
    assert box.textFormat() == Qt.TextFormat.PlainText
    box.close()
    asked: list[QMessageBox] = []

    def answer() -> None:
        boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
        asked.extend(boxes)
        for b in boxes:
            b.button(QMessageBox.StandardButton.No).click()

    QTimer.singleShot(0, answer)
    assert window.ask_delete(["<b>x</b>"]) is False
    assert asked and asked[0].textFormat() == Qt.TextFormat.PlainText and "<b>x</b>" in asked[0].text()


def stored(archive: Path, name: str) -> tuple[object, ...]:
    """A member as stored: its record (without where its chunks lie) and its coded bytes."""
    with ContainerReader(archive) as reader:
        entry = next(e for e in reader.entries if e.name == name)
    with archive.open("rb") as handle:
        coded = []
        for chunk in entry.chunks:
            handle.seek(chunk.offset)
            coded.append(handle.read(chunk.coded_len))
    chunks = tuple((c.coded_len, c.orig_len, c.symbols, c.crc32, c.method) for c in entry.chunks)
    return entry.size, entry.mtime_ns, entry.mode, entry.method, entry.model, entry.crc32, chunks, coded


@pytest.fixture
def newer_docs(tmp_path: Path) -> Path:
    """Another 'docs' folder: a changed readme.txt (already a member), and a file the archive lacks."""
    return make_tree(tmp_path / "newer" / "docs", {"readme.txt": text(1500, 99), "new.txt": text(600, 98)})


@pytest.mark.parametrize("answer", ["skip", "replace", None])
def test_dropping_same_named_items_asks_first(
    window: MainWindow,
    qtbot: QtBot,
    sample: Path,
    newer_docs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    answer: str | None,
) -> None:
    archive = make_archive(tmp_path / "docs.lmz", sample)
    window.open_archive(archive)
    before = archive.read_bytes()
    old_readme = stored(archive, "docs/readme.txt")
    old_notes = stored(archive, "docs/notes.md")
    asked: list[list[str]] = []
    monkeypatch.setattr(window, "ask_replace", lambda names: asked.append(names) or answer)
    done: list[object] = []
    window.job_done.connect(done.append)

    drop(window, [newer_docs])
    qtbot.waitUntil(lambda: bool(asked))
    assert asked == [["docs/readme.txt"]], "the folder merges; only the file that exists is in question"
    if answer is None:
        qtbot.waitUntil(lambda: window.statusBar().currentMessage() == "Nothing was added")
        assert not done and archive.read_bytes() == before, "Cancel changes nothing"
        return
    qtbot.waitUntil(lambda: bool(done))
    with lmarchive.open(archive) as lmz:
        assert lmz.read("docs/new.txt") == (newer_docs / "new.txt").read_bytes()
        readme = lmz.read("docs/readme.txt")
    assert stored(archive, "docs/notes.md") == old_notes, "members not in question are kept as they were"
    if answer == "skip":
        assert stored(archive, "docs/readme.txt") == old_readme, "Skip keeps the stored member byte for byte"
        assert readme == (sample / "readme.txt").read_bytes()
    else:
        assert readme == (newer_docs / "readme.txt").read_bytes()
    assert "docs/new.txt" in window.model.names()


def test_the_replace_question_names_a_few_and_counts_the_rest(
    window: MainWindow, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_tree(tmp_path / "src", {f"<b>{i}</b>.txt": text(200, i) for i in range(7)})
    archive = make_archive(tmp_path / "src.lmz", source)
    window.open_archive(archive)
    before = archive.read_bytes()
    seen: list[QMessageBox] = []

    def answer(button: str) -> None:
        box = next(b for b in window.findChildren(QMessageBox) if b.isVisible())
        seen.append(box)
        next(b for b in box.buttons() if b.text().replace("&", "") == button).click()

    QTimer.singleShot(0, lambda: answer("Skip Those"))
    window.add_paths([str(source)])
    box = seen[0]
    assert box.textFormat() == Qt.TextFormat.PlainText and box.defaultButton().text() == "&Skip Those"
    assert box.text().startswith("7 items you are adding are already in src.lmz:\n'src/<b>0</b>.txt'\n")
    assert "'src/<b>4</b>.txt'\n… and 2 more\n" in box.text() and "<b>5</b>" not in box.text()
    assert window.statusBar().currentMessage() == "Nothing was added: every item is already in the archive"
    assert archive.read_bytes() == before

    QTimer.singleShot(0, lambda: answer("Cancel"))
    assert window.ask_replace(["a.txt"]) is None
    QTimer.singleShot(0, lambda: answer("Replace"))
    assert window.ask_replace(["a.txt"]) == "replace"
    assert seen[-1].text().startswith("1 item you are adding is already in src.lmz:\n'a.txt'\n")


def test_adding_new_items_asks_nothing(
    window: MainWindow, sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window.open_archive(make_archive(tmp_path / "docs.lmz", sample))
    monkeypatch.setattr(window, "ask_replace", lambda names: pytest.fail(f"asked about {names}"))
    window.add_paths([str(make_tree(tmp_path / "other", {"x.txt": text(300)}))])
    assert "other/x.txt" in window.model.names()


def test_a_cancelled_new_archive_leaves_the_open_one_open(
    window: MainWindow, sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = make_archive(tmp_path / "docs.lmz", sample)
    window.open_archive(archive)
    target = tmp_path / "new.lmz"
    monkeypatch.setattr(window, "ask_new_archive_path", lambda default: str(target))

    def cancel_at_start(event: object) -> None:
        if isinstance(event, JobStarted):
            window.cancel_job()

    window.worker.event.connect(cancel_at_start)
    window.new_archive_with([str(sample / "readme.txt")])
    window.worker.event.disconnect(cancel_at_start)
    assert window.statusBar().currentMessage().startswith("Cancelled") and not target.exists()
    assert window.archive == archive and window.windowTitle().startswith("docs.lmz")
    assert len(window.model.names()) == 6 and window.pages.currentIndex() == 1

    window.close_archive()
    window.worker.event.connect(cancel_at_start)
    window.new_archive_with([str(sample / "readme.txt")])
    assert window.archive is None, "with nothing open before, nothing is open after"


def test_another_archivers_file_is_not_archived_unasked(
    window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "x.zip"
    other.write_bytes(b"PK\x05\x06" + bytes(18))
    asked: list[Path] = []
    proposed: list[Path] = []
    monkeypatch.setattr(window, "ask_compress_other", lambda path: asked.append(path) or False)
    monkeypatch.setattr(window, "ask_new_archive_path", lambda default: proposed.append(default) and None)
    window.open_from_os([str(other)])
    assert asked == [other] and not proposed and window.archive is None

    monkeypatch.setattr(window, "ask_compress_other", lambda path: True)
    window.open_from_os([str(other)])
    assert proposed == [tmp_path / "x.lmz"], "compressing it is still one click away"

    plain = tmp_path / "report.txt"
    plain.write_text("a report")
    monkeypatch.setattr(window, "ask_compress_other", lambda path: pytest.fail("asked about a plain file"))
    window.open_from_os([str(plain)])
    assert proposed[-1] == tmp_path / "report.lmz", "a plain file goes straight to 'where to save'"

    fake = tmp_path / "fake.lmz"
    fake.write_bytes(b"PK\x03\x04 not ours")
    window.open_from_os([str(fake)])
    assert [b.windowTitle() for b in message_boxes(window)] == ["Could not open the archive"]
    assert len(proposed) == 2, "an .lmz that is not one is an error, never something to archive"


def test_the_compress_question(window: MainWindow, tmp_path: Path) -> None:
    asked: list[QMessageBox] = []

    def answer(button: str) -> None:
        box = next(b for b in window.findChildren(QMessageBox) if b.isVisible())
        asked.append(box)
        next(b for b in box.buttons() if b.text().replace("&", "") == button).click()

    QTimer.singleShot(0, lambda: answer("Cancel"))
    assert window.ask_compress_other(tmp_path / "x.zip") is False
    assert asked[0].text().startswith("x.zip is not an LM Archive file")
    assert asked[0].defaultButton().text() == "Cancel"
    QTimer.singleShot(0, lambda: answer("Compress…"))
    assert window.ask_compress_other(tmp_path / "x.zip") is True


def test_several_items_are_named_after_their_folder(tmp_path: Path) -> None:
    folder = make_tree(tmp_path / "photos", {"a.jpg": b"a", "b.jpg": b"b", "sub/c.jpg": b"c"})
    assert default_archive_path([folder / "a.jpg"]) == folder / "a.lmz"
    assert default_archive_path([folder / "sub"]) == folder / "sub.lmz"
    assert default_archive_path([folder / "a.jpg", folder / "b.jpg", folder / "sub"]) == folder / "photos.lmz"
    (folder / "photos.lmz").write_bytes(b"")
    assert default_archive_path([folder / "a.jpg", folder / "b.jpg"]) == folder / "photos 2.lmz"
    assert default_archive_path([folder / "a.jpg", folder / "sub/c.jpg"]) == folder / "Archive.lmz"
    assert default_archive_path([Path("/a"), Path("/b")]) == Path("/Archive.lmz")


def test_a_dropped_selection_is_named_after_its_folder(
    window: MainWindow, qtbot: QtBot, sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proposed: list[Path] = []
    monkeypatch.setattr(window, "ask_new_archive_path", lambda default: proposed.append(default) and None)
    drop(window, [sample / "readme.txt", sample / "notes.md"])
    qtbot.waitUntil(lambda: bool(proposed))
    assert proposed == [sample / "docs.lmz"], "not 'readme.lmz': the archive holds more than readme.txt"


def test_open_starts_in_the_folder_used_last(
    qtbot: QtBot, sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "archives").mkdir()
    archive = make_archive(tmp_path / "archives/docs.lmz", sample)
    window = MainWindow(SettingsStore(), InlineWorker())
    qtbot.addWidget(window)
    starts: list[str] = []

    def dialog(parent: object, caption: str, folder: str, filters: str) -> tuple[str, str]:
        starts.append(folder)
        return str(archive), filters

    monkeypatch.setattr("lmarchive_gui.questions.QFileDialog.getOpenFileName", dialog)
    window.choose_archive()
    assert starts == [str(Path.home())] and window.archive == archive
    window.close_archive()
    window.choose_archive()
    assert starts[-1] == str(archive.parent), "with no archive open, still where it was used last"

    again = MainWindow(SettingsStore(), InlineWorker())
    qtbot.addWidget(again)
    again.choose_archive()
    assert starts[-1] == str(archive.parent), "and after a restart"
    shutil.rmtree(tmp_path / "archives")
    again.close_archive()
    monkeypatch.setattr(
        "lmarchive_gui.questions.QFileDialog.getOpenFileName", lambda *a: starts.append(a[2]) or ("", "")
    )
    again.choose_archive()
    assert starts[-1] == str(Path.home()), "a folder that is gone is not offered"


def test_the_window_fits_a_small_or_scaled_screen(window: MainWindow, qtbot: QtBot) -> None:
    """At 150%, 1600x1000 pixels are 1067x667 for Qt: the window, title bar and status bar must fit."""
    assert fitted_size(QSize(1040, 660), QSize(1067, 667)).height() <= 600
    assert fitted_size(QSize(1040, 660), QSize(1920, 1080)) == QSize(1040, 660)
    screen = window.screen().availableGeometry()
    assert window.width() <= screen.width() * 0.9 and window.height() <= screen.height() * 0.9

    long = "12,345 entries (1,234 folders)  ·  999.9 MB → 123.4 MB (12.3%)  ·  gzip -9 would give 345.6 MB (34.6%)"
    window.totals_label.set_full_text(long + "  ·  12,000 shown")
    window.resize(700, 500)
    qtbot.waitUntil(lambda: window.totals_label.text().endswith("…"))
    assert window.statusBar().minimumSizeHint().width() < 400 and window.minimumSizeHint().width() < 700
    assert window.totals_label.toolTip() == window.totals_label.full_text() == long + "  ·  12,000 shown"
    assert window.totals_label.width() <= window.statusBar().width()
    window.resize(1067, 500)
    qtbot.waitUntil(lambda: window.totals_label.text() == window.totals_label.full_text())
