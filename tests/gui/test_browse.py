"""Browsing an archive as 7-Zip and Ark do: a folder tree, right-click menus, and the file manager's actions."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, QPoint, QUrl
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox
from pytestqt.qtbot import QtBot

from lmarchive.container import ChunkRecord, ContainerReader, EntryRecord, EntryType, Method
from lmarchive.jobs import CreateJob, EntryFinished, finished_event
from lmarchive.writing import Source
from lmarchive_gui.__main__ import compress, extract_here, parse_args
from lmarchive_gui.entry_model import NAME_ROLE, RATIO_ROLE, Column, EntryTableModel
from lmarchive_gui.entry_tree import FOLDER_ROLE, EntryTreeModel
from lmarchive_gui.main_window import MainWindow
from lmarchive_gui.settings import Settings

from .conftest import OFFSCREEN_NOISE, make_archive, text
from .test_window import index_of, select, shown_names


def bare_archive(path: Path) -> Path:
    """An archive that stores files only: its folders exist only in the files' names."""
    sources = [
        Source("project/src/main.py", data=text(800, 1)),
        Source("project/src/util.py", data=text(300, 2)),
        Source("project/README", data=text(500, 3)),
        Source("top.txt", data=text(200, 4)),
    ]
    CreateJob(archive=path, sources=sources).run()
    return path


def children(window: MainWindow, parent: QModelIndex = QModelIndex()) -> list[str]:  # noqa: B008 - a default index
    proxy = window.proxy
    return [proxy.index(row, 0, parent).data() for row in range(proxy.rowCount(parent))]


def test_the_tree_synthesises_folders_the_archive_does_not_store(window: MainWindow, tmp_path: Path) -> None:
    archive = bare_archive(tmp_path / "bare.lmz")
    with ContainerReader(archive) as reader:
        assert not any(e.is_dir for e in reader.entries), "the test needs an archive without folder entries"
    window.open_archive(archive)

    assert children(window) == ["project", "top.txt"], "folders first, then files, by name"
    project = index_of(window, "project")
    assert project.data(FOLDER_ROLE) and children(window, project) == ["src", "README"]
    assert children(window, index_of(window, "project/src")) == ["main.py", "util.py"]
    main = index_of(window, "project/src/main.py", Column.RATIO)
    assert main.data(RATIO_ROLE) is not None, "cells and ratio bars come from the entry model"
    assert index_of(window, "project/src", Column.RATIO).data(RATIO_ROLE) is None
    window._show_totals()
    assert window.totals_label.full_text().startswith("4 entries"), "the status bar counts stored entries"


def test_double_click_opens_a_folder_and_never_extracts(
    window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window.open_archive(bare_archive(tmp_path / "bare.lmz"))
    jobs: list[object] = []
    monkeypatch.setattr(window.jobs, "_start", jobs.append)
    project = index_of(window, "project")
    assert not window.view.isExpanded(project)
    window.view.activated.emit(project.siblingAtColumn(Column.SIZE))
    assert window.view.isExpanded(project)
    window.view.activated.emit(project)
    assert not window.view.isExpanded(project), "a second activation closes it"
    assert jobs == [], "a folder is opened in the tree, not extracted"


def test_selecting_a_synthesised_folder_acts_on_everything_below_it(
    window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = bare_archive(tmp_path / "bare.lmz")
    window.open_archive(archive)
    out = tmp_path / "out"
    monkeypatch.setattr(window, "ask_extract_folder", lambda default: str(out))
    select(window, "project/src")
    assert window.selected_names() == ["project/src"]
    window.extract_selected_action.trigger()
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.py")) == [
        "project/src/main.py",
        "project/src/util.py",
    ]
    mime = window.prepare_drag()
    assert mime is not None and [Path(u.toLocalFile()).name for u in mime.urls()] == ["src"]

    monkeypatch.setattr(window, "ask_delete", lambda names: True)
    select(window, "project/src")
    window.delete_action.trigger()
    assert shown_names(window) == ["project/", "project/README", "top.txt"]


def test_sorting_keeps_folders_first_and_the_filter_shows_matches_in_their_folders(
    window: MainWindow, tmp_path: Path
) -> None:
    window.open_archive(bare_archive(tmp_path / "bare.lmz"))
    window.view.sortByColumn(Column.SIZE, window.view.header().sortIndicatorOrder().DescendingOrder)
    assert children(window, index_of(window, "project/src")) == ["main.py", "util.py"]
    assert children(window) == ["project", "top.txt"]
    window.view.sortByColumn(Column.SIZE, window.view.header().sortIndicatorOrder().AscendingOrder)
    assert children(window, index_of(window, "project/src")) == ["util.py", "main.py"]
    assert children(window) == ["project", "top.txt"], "folders stay above files either way"

    window.filter.setText("*.py")
    assert shown_names(window) == ["project/", "project/src/", "project/src/util.py", "project/src/main.py"]
    assert window.view.isExpanded(index_of(window, "project/src")), "a filter opens the folders its matches are in"
    window._show_totals()
    assert "2 shown" in window.totals_label.full_text()


def coded(name: str, packed: int | None) -> EntryFinished:
    """What a job reports for ``name``: 100 bytes that cm2 coded into ``packed``, or (None) a folder."""
    if packed is None:
        return finished_event(EntryRecord(name, EntryType.DIRECTORY, 0, 0, 0o755), 0.0)
    chunk = ChunkRecord(0, packed, 100, 100, 0, Method.MODEL)
    return finished_event(
        EntryRecord(name, EntryType.FILE, 100, 0, 0o644, Method.MODEL, "cm2", bytes(32), 60, 0, (chunk,)), 0.1
    )


def test_entries_coded_by_a_running_job_appear_in_the_tree(qtbot: QtBot) -> None:
    flat = EntryTableModel()
    tree = EntryTreeModel(flat)
    tree.sort(Column.NAME)
    flat.apply_finished([coded("b/z.txt", 50), coded("b/a.txt", 40)])
    assert tree.rowCount() == 1 and tree.index(0, 0).data() == "b" and tree.index(0, 0).data(FOLDER_ROLE)
    b = tree.index(0, 0)
    assert [tree.index(r, 0, b).data(NAME_ROLE) for r in range(tree.rowCount(b))] == ["b/a.txt", "b/z.txt"]
    flat.apply_finished([coded("b", None)])
    assert tree.rowCount() == 1, "the folder's own entry takes the synthesised folder's place"
    flat.apply_finished([coded("b/a.txt", 30)])
    assert tree.index_of("b/a.txt", Column.RATIO).data(RATIO_ROLE)[0] == 0.3, "an entry coded again is updated"


def test_open_folders_stay_open_when_a_job_reloads_the_archive(
    window: MainWindow, tmp_path: Path, sample: Path
) -> None:
    window.open_archive(make_archive(tmp_path / "docs.lmz", sample))
    assert window.view.isExpanded(index_of(window, "docs")), "a single top folder is shown open"
    window.view.expand(index_of(window, "docs/sub"))
    (tmp_path / "new.txt").write_bytes(text(300))
    window.add_paths([str(tmp_path / "new.txt")])
    assert "new.txt" in shown_names(window)
    assert window.view.isExpanded(index_of(window, "docs")) and window.view.isExpanded(index_of(window, "docs/sub"))


def test_a_new_listing_opens_its_single_top_folder(
    window: MainWindow, tmp_path: Path, sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(window, "ask_new_archive_path", lambda default: str(tmp_path / "new.lmz"))
    window.new_archive_with([str(sample)])
    assert window.archive == tmp_path / "new.lmz" and not window.worker.busy
    assert window.view.isExpanded(index_of(window, "docs")), "filled by the job, then reloaded"
    window.view.collapse(index_of(window, "docs"))
    (tmp_path / "more").mkdir()
    window.open_archive(bare_archive(tmp_path / "more/bare.lmz"))
    assert not window.view.isExpanded(index_of(window, "project")), "two top items: none is opened for the user"
    window.open_archive(tmp_path / "new.lmz")
    assert window.view.isExpanded(index_of(window, "docs")), "another archive's listing starts afresh"


def menu_actions(menu: QMenu) -> dict[str, bool]:
    return {a.text().replace("&", ""): a.isEnabled() for a in menu.actions() if not a.isSeparator()}


@pytest.mark.qt_log_ignore(OFFSCREEN_NOISE, "This plugin does not support grabbing the keyboard")  # popups
def test_context_menu_on_entries_and_on_empty_space(
    window: MainWindow, tmp_path: Path, sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "archives").mkdir()
    window.open_archive(make_archive(tmp_path / "archives/docs.lmz", sample))
    readme = index_of(window, "docs/readme.txt")
    select(window, "docs/readme.txt")
    assert menu_actions(window.entry_menu(readme)) == {
        "Open": True,
        "Extract Selected…": True,
        "Extract Here": True,
        "Delete": True,
        "Copy Name": True,
    }
    select(window, "docs/readme.txt", "docs/notes.md")
    assert menu_actions(window.entry_menu(readme))["Open"] is False, "Open takes one entry"
    empty = menu_actions(window.entry_menu(QModelIndex()))
    assert empty == {"Add Files…": True, "Add Folder…": True, "Extract All Here": True, "Extract All…": True}

    window.copy_names_action.trigger()
    assert sorted(QApplication.clipboard().text().split("\n")) == ["docs/notes.md", "docs/readme.txt"]

    window.extract_here_action.trigger()
    here = tmp_path / "archives/docs"
    assert sorted(p.relative_to(here).as_posix() for p in here.rglob("*") if p.is_file()) == [
        "docs/notes.md",
        "docs/readme.txt",
    ], "Extract Here: into a folder named after the archive, beside it"

    opened: list[QUrl] = []
    monkeypatch.setattr(window, "open_url", lambda url: opened.append(url) or True)
    select(window, "docs/notes.md")
    window.open_entry_action.trigger()
    assert Path(opened[0].toLocalFile()).read_bytes() == (sample / "notes.md").read_bytes()

    # A right-click pops the menu up at the pointer.
    rect = window.view.visualRect(index_of(window, "docs/notes.md"))
    window.view.customContextMenuRequested.emit(rect.center())
    shown = [m for m in window.findChildren(QMenu) if m.isVisible()]
    assert len(shown) == 1 and "Extract Here" in menu_actions(shown[0])
    shown[0].close()
    window.view.customContextMenuRequested.emit(QPoint(5, window.view.viewport().height() - 5))
    shown = [m for m in window.findChildren(QMenu) if m.isVisible()]
    assert len(shown) == 1 and "Add Files…" in menu_actions(shown[0])
    shown[0].close()


def test_extract_here_option_extracts_beside_each_archive_and_quits(
    window: MainWindow, tmp_path: Path, sample: Path
) -> None:
    (tmp_path / "a").mkdir()
    first = make_archive(tmp_path / "a/docs.lmz", sample)
    window.apply_settings(Settings(extract_folder=str(tmp_path / "elsewhere")))
    second = bare_archive(tmp_path / "bare.lmz")
    done: list[bool] = []
    extract_here(window, [str(first), str(second)], lambda: done.append(True))
    assert done == [True]
    assert (tmp_path / "a/docs/docs/readme.txt").read_bytes() == (sample / "readme.txt").read_bytes()
    assert (tmp_path / "bare/project/src/main.py").is_file(), "'here' is beside the archive, whatever the settings"


def test_extract_here_keeps_a_failure_on_screen_until_it_is_read(window: MainWindow, tmp_path: Path) -> None:
    broken = tmp_path / "broken.lmz"
    broken.write_bytes(b"not an archive at all")
    done: list[bool] = []
    extract_here(window, [str(broken)], lambda: done.append(True))
    boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert len(boxes) == 1 and "broken.lmz" in boxes[0].text() and done == []
    boxes[0].accept()
    assert done == [True]


def test_compress_option_archives_even_an_archive(
    window: MainWindow, tmp_path: Path, sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = make_archive(tmp_path / "docs.lmz", sample)
    target = tmp_path / "twice.lmz"
    monkeypatch.setattr(window, "ask_new_archive_path", lambda default: str(target))
    compress(window, [str(archive)])
    assert window.archive == target and window.model.names() == ["docs.lmz"]
    assert parse_args(["--compress", "a", "b"]).compress and parse_args(["--extract-here", "x.lmz"]).extract_here
    with pytest.raises(SystemExit):
        parse_args(["--compress", "--extract-here", "x"])
