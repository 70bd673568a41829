"""A damaged archive in the window: Test lists every damaged member and range, Extract offers the
intact members and then says what was damaged, and an archive whose directory is lost is salvaged."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from threading import Event

import pytest
from conftest import corrupt_chunk, make_tree, partial_files
from PySide6.QtWidgets import QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from lmarchive.codec import ChunkPlan
from lmarchive.container import ContainerReader
from lmarchive.errors import DamagedArchiveError
from lmarchive.jobs import CreateJob, ExtractJob
from lmarchive.reading import Damage
from lmarchive_gui.extract_dialogs import DamageDialog
from lmarchive_gui.main_window import MainWindow
from lmarchive_gui.worker_process import JobRequest, run_request

from .conftest import answer_modal, text

PIECE = 64 << 10
"""Chunk size: b.txt has three chunks, and one flipped byte costs the second."""


@pytest.fixture
def members() -> dict[str, bytes]:
    return {"a.txt": text(2 * PIECE, 1), "b.txt": text(3 * PIECE, 2), "c.txt": text(900, 3)}


@pytest.fixture
def damaged(tmp_path: Path, members: dict[str, bytes]) -> Path:
    """d.lmz with one byte flipped in the middle of b.txt's second chunk."""
    src = make_tree(tmp_path / "src", members)
    archive = tmp_path / "d.lmz"
    plan = ChunkPlan(min_size=PIECE, max_size=PIECE)
    CreateJob(archive=archive, paths=sorted(src.iterdir()), model="fast", plan=plan).run()
    with ContainerReader(archive) as reader:
        entry = reader.get("b.txt")
        assert entry is not None and len(entry.chunks) == 3
    corrupt_chunk(archive, "b.txt", 1, flip=0x5A)
    return archive


def visible(window: MainWindow, kind: type[QWidget]) -> list[QWidget]:
    return [w for w in window.findChildren(kind) if w.isVisible()]


def test_test_lists_the_damaged_member_and_range(qtbot: QtBot, window: MainWindow, damaged: Path) -> None:
    window.open_archive(damaged)
    shown: list[DamageDialog] = []

    def close(modal: QWidget) -> None:
        assert isinstance(modal, DamageDialog)
        shown.append(modal)
        modal.reject()

    answer_modal(close)
    window.test_action.trigger()
    (dialog,) = shown
    assert dialog.windowTitle() == "The archive failed its test"
    listing = dialog.listing.toPlainText().splitlines()
    assert listing[0] == "'b.txt'"
    assert listing[1].startswith("    bytes 65,536-131,071 (chunk 2): ")
    assert len(listing) == 2, "only the damaged member: a.txt and c.txt are intact"
    assert dialog.members_label.text() == "1 damaged member, 1 damaged range:"
    assert not visible(window, QMessageBox), "no one-line error box besides the list"


def test_test_offers_to_extract_the_intact_members(
    window: MainWindow, damaged: Path, members: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window.open_archive(damaged)
    out = tmp_path / "out"
    reported: list[Sequence[Damage]] = []
    monkeypatch.setattr(window, "ask_damage_after_test", lambda damage: reported.append(damage) or True)
    monkeypatch.setattr(window, "ask_extract_folder", lambda default: str(out))
    window.test_archive()
    ((damage,),) = reported
    assert (damage.name, damage.start, damage.end, damage.chunk) == ("b.txt", PIECE, 2 * PIECE, 1)
    assert (out / "a.txt").read_bytes() == members["a.txt"]
    assert (out / "c.txt").read_bytes() == members["c.txt"]
    assert (out / "b.txt").read_bytes() == members["b.txt"][:PIECE] + bytes(PIECE) + members["b.txt"][2 * PIECE :]
    (report,) = visible(window, DamageDialog)
    assert report.windowTitle() == "Extracted, except for damage"
    assert "'b.txt'" in report.listing.toPlainText() and "a.txt" not in report.listing.toPlainText()
    assert not partial_files(tmp_path)


def test_extract_on_damage_offers_the_intact_members(
    window: MainWindow, damaged: Path, members: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window.open_archive(damaged)
    out = tmp_path / "out"
    monkeypatch.setattr(window, "ask_extract_folder", lambda default: str(out))
    asked: list[str] = []

    monkeypatch.setattr(window, "ask_extract_intact", lambda message: asked.append(message) or False)
    window.extract_all()
    assert len(asked) == 1 and asked[0].startswith("'b.txt': bytes 65,536-131,071 (chunk 2)")
    assert not out.exists(), "no means nothing is written"
    assert not visible(window, QMessageBox) and not visible(window, DamageDialog)
    assert window.statusBar().currentMessage() == "Extraction cancelled: nothing was extracted"

    monkeypatch.setattr(window, "ask_extract_intact", lambda message: True)
    window.extract_all()
    assert (out / "a.txt").read_bytes() == members["a.txt"]
    assert (out / "c.txt").read_bytes() == members["c.txt"]
    (report,) = visible(window, DamageDialog)
    assert "bytes 65,536-131,071 (chunk 2)" in report.listing.toPlainText()


def test_the_extract_question_says_what_is_damaged(qtbot: QtBot, window: MainWindow, damaged: Path) -> None:
    """The real question: the whole message (never cut off), a button that says what it does, and Cancel."""
    window.open_archive(damaged)
    message = "'b.txt': bytes 65,536-131,071 (chunk 2): checksum mismatch"
    seen: list[str] = []

    def press(modal: QWidget) -> None:
        assert isinstance(modal, QMessageBox)
        seen.append(modal.text())
        (button,) = [b for b in modal.buttons() if b.text() == "E&xtract the Intact Members"]
        button.click()

    answer_modal(press)
    assert window.ask_extract_intact(message)
    assert message in seen[0] and "nothing was extracted" in seen[0]

    answer_modal(lambda modal: modal.reject())
    assert not window.ask_extract_intact(message)


def cut_directory(archive: Path) -> Path:
    """The archive as a download that stopped after the last member: its directory is gone."""
    with ContainerReader(archive) as reader:
        data_end = max(c.offset + c.coded_len for e in reader.entries for c in e.chunks)
    broken = archive.with_name("broken.lmz")
    broken.write_bytes(archive.read_bytes()[: data_end + 200])
    return broken


@pytest.fixture
def truncated(tmp_path: Path, members: dict[str, bytes]) -> Path:
    src = make_tree(tmp_path / "src", members)
    archive = tmp_path / "whole.lmz"
    CreateJob(archive=archive, paths=sorted(src.iterdir()), model="fast").run()
    return cut_directory(archive)


def test_a_truncated_archive_is_salvaged_and_opened(
    window: MainWindow, truncated: Path, members: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    offers: list[str] = []
    monkeypatch.setattr(window, "ask_salvage", lambda path, message: offers.append(message) or True)
    assert not window.open_archive(truncated)
    assert len(offers) == 1 and "directory" in offers[0]
    salvaged = truncated.with_name("broken-salvaged.lmz")
    assert window.archive == salvaged
    assert sorted(window.model.names()) == sorted(members)
    assert "Salvaged 3 entries from broken.lmz into broken-salvaged.lmz" in window.statusBar().currentMessage()
    assert truncated.exists(), "the damaged archive is left as it is"


def test_salvage_asks_where_when_the_name_is_taken(
    window: MainWindow, truncated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = truncated.with_name("broken-salvaged.lmz")
    taken.write_bytes(b"someone's file")
    chosen = tmp_path / "elsewhere"
    proposed: list[Path] = []
    monkeypatch.setattr(window, "ask_salvage", lambda path, message: True)
    monkeypatch.setattr(window, "ask_salvage_path", lambda default: proposed.append(default) or str(chosen))
    window.open_archive(truncated)
    assert proposed == [truncated.with_name("broken-salvaged 2.lmz")]
    assert taken.read_bytes() == b"someone's file"
    assert window.archive == tmp_path / "elsewhere.lmz"


def test_declining_salvage_opens_nothing(window: MainWindow, truncated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(window, "ask_salvage", lambda path, message: False)
    window.open_archive(truncated)
    assert window.archive is None
    assert not truncated.with_name("broken-salvaged.lmz").exists()


def test_the_salvage_question(qtbot: QtBot, window: MainWindow, truncated: Path) -> None:
    texts: list[str] = []

    def close(modal: QWidget) -> None:
        assert isinstance(modal, QMessageBox)
        texts.append(modal.text())
        assert "&Salvage…" in [b.text() for b in modal.buttons()]
        modal.reject()

    answer_modal(close)
    assert not window.ask_salvage(truncated, "truncated or damaged archive: the directory footer is missing")
    assert texts[0].startswith("broken.lmz: truncated or damaged archive")


def test_a_file_that_is_no_archive_is_not_offered_salvage(
    window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "notes.lmz"
    other.write_bytes(b"just some text, long enough to have a header's worth of bytes in it " * 4)
    monkeypatch.setattr(window, "ask_salvage", lambda path, message: pytest.fail("offered to salvage a non-archive"))
    window.open_archive(other)
    (box,) = visible(window, QMessageBox)
    assert box.windowTitle() == "Could not open the archive"


def test_the_worker_protocol_carries_keep_going_and_the_damage(damaged: Path, tmp_path: Path) -> None:
    """What crosses the process boundary: the request's keep_going, the outcome's every damaged range."""
    out = tmp_path / "out"
    request = JobRequest(1, ExtractJob(archive=str(damaged), dest=str(out), keep_going=True), "cpu")
    outcome = pickle.loads(pickle.dumps(run_request(pickle.loads(pickle.dumps(request)), lambda e: None, Event())))
    assert outcome.error is DamagedArchiveError
    assert [(d.name, d.chunk) for d in outcome.damage] == [("b.txt", 1)]
    assert (out / "a.txt").exists() and (out / "c.txt").exists()
