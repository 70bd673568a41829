"""Every question the main window asks and every message it shows, one method each.

The window's flows (opening, adding, extracting) only call these methods, so a test answers a
question by replacing its method on the window, and the dialogs themselves are tested by clicking
their buttons.  Message text is plain, never markup: a member may be named "<img src=...>".
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QAbstractButton, QDialog, QFileDialog, QMainWindow, QMessageBox

from lmarchive.container import show
from lmarchive.errors import one_line
from lmarchive.extracting import Resolution
from lmarchive.reading import Damage
from lmarchive_gui.extract_dialogs import Conflict, ConflictDialog, DamageDialog, ExtractToDialog
from lmarchive_gui.progress_panel import entries_text
from lmarchive_gui.settings import Settings

ARCHIVE_FILTER = "LM Archive (*.lmz);;All files (*)"
STATUS_MS = 8000
"""How long a status bar message stays."""
REPLACE, SKIP = "replace", "skip"
"""Answers to :meth:`AskingWindow.ask_replace` (None: cancel)."""
SHOWN_NAMES = 5
"""How many names a question lists; it counts the rest."""


class AskingWindow(QMainWindow):
    """The main window's questions, messages and status lines; the window itself subclasses it."""

    archive: Path | None
    """The archive shown, which questions name; set by the window."""
    settings: Settings

    def say(self, text: str) -> None:
        """A line in the status bar, for a while."""
        self.statusBar().showMessage(text, STATUS_MS)

    def ask_open_path(self) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self, "Open archive", self.open_folder(), ARCHIVE_FILTER)
        return path or None

    def ask_new_archive_path(self, default: Path) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, "Create archive", str(default), ARCHIVE_FILTER)
        return path or None

    def ask_add_files(self) -> list[str]:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add files", self.start_folder())
        return paths

    def ask_add_folder(self) -> str | None:
        return QFileDialog.getExistingDirectory(self, "Add folder", self.start_folder()) or None

    def ask_extract_folder(self, default: Path) -> str | None:
        """A folder to extract into, typed or browsed to; ``default`` is a new one named after the archive."""
        dialog = ExtractToDialog(default, self)
        return str(dialog.chosen()) if dialog.exec() == QDialog.DialogCode.Accepted else None

    def ask_conflict(self, conflict: Conflict, dest: Path, remaining: int) -> tuple[Resolution, bool] | None:
        """Replace, skip or keep both for a file already there, and whether for the ``remaining`` others too."""
        dialog = ConflictDialog(conflict, dest, remaining, self)
        if dialog.exec() != QDialog.DialogCode.Accepted or dialog.answer is None:
            return None
        return dialog.answer, dialog.apply_all.isChecked()

    def ask_extract_intact(self, message: str) -> bool:
        """An extraction stopped at damage, having written nothing: extract the intact members instead?"""
        name = self.archive.name if self.archive else "The archive"
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "The archive is damaged",
            f"{name} is damaged, so nothing was extracted. The damage found first:\n{one_line(message)}\n\n"
            "Extract every member that is intact? Damaged members are written with their lost bytes as zeros, "
            "and listed when the extraction ends.",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setTextFormat(Qt.TextFormat.PlainText)
        intact = box.addButton("E&xtract the Intact Members", QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(intact)
        box.exec()
        return box.clickedButton() is intact

    def ask_damage_after_test(self, damage: Sequence[Damage]) -> bool:
        """The test's report: what is damaged; True to extract what is intact."""
        name = self.archive.name if self.archive else "The archive"
        dialog = DamageDialog(
            "The archive failed its test",
            f"{name} has damage. Everything not listed here decoded and matched its checksums.",
            damage,
            "E&xtract the Intact Members…",
            self,
        )
        return dialog.exec() == QDialog.DialogCode.Accepted

    def show_damage_report(self, damage: Sequence[Damage], dest: Path) -> QDialog:
        """After extracting the intact members: which were damaged (written with their lost bytes as zeros)."""
        dialog = DamageDialog(
            "Extracted, except for damage",
            f"Every intact member was extracted to {dest}. The members listed here are damaged: they were "
            "written with the lost bytes as zeros.",
            damage,
            None,
            self,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def ask_salvage(self, path: Path, message: str) -> bool:
        """An archive whose directory cannot be read: look for its members' recovery records?"""
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Could not open the archive",
            f"{path.name}: {one_line(message)}\n\nThe list of members at the end of the archive is damaged or "
            "missing, as when a download or a copy stopped early. LM Archive can look through the file for the "
            "members it still holds and write them to a new archive, leaving this one as it is.",
            QMessageBox.StandardButton.Close,
            self,
        )
        box.setTextFormat(Qt.TextFormat.PlainText)
        salvage = box.addButton("&Salvage…", QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(salvage)
        box.exec()
        return box.clickedButton() is salvage

    def ask_salvage_path(self, default: Path) -> str | None:
        """Where the salvaged archive goes, when the name beside the damaged one is taken."""
        path, _ = QFileDialog.getSaveFileName(self, "Save the salvaged archive as", str(default), ARCHIVE_FILTER)
        return path or None

    def ask_delete(self, names: list[str]) -> bool:
        what = names[0] if len(names) == 1 else entries_text(len(names))
        archive = self.archive.name if self.archive else ""
        return self._ask_yes_no("Delete from the archive?", f"Remove {what} from {archive}?")

    def ask_replace(self, names: list[str]) -> str | None:
        """REPLACE or SKIP (add only the other items) the members ``names`` that items being added would
        replace; None to add nothing.  Skip is the default: Enter never destroys a stored entry."""
        archive = self.archive.name if self.archive else "the archive"
        listed = "\n".join(show(name) for name in names[:SHOWN_NAMES])
        if len(names) > SHOWN_NAMES:
            listed += f"\n… and {len(names) - SHOWN_NAMES:,} more"
        count = "1 item you are adding is" if len(names) == 1 else f"{len(names):,} items you are adding are"
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Replace entries in the archive?",
            f"{count} already in {archive}:\n{listed}\n\n"
            "Replace the stored entries with them, or skip them and add only the other items?",
            QMessageBox.StandardButton.NoButton,
            self,
        )
        box.setTextFormat(Qt.TextFormat.PlainText)
        replace_button = box.addButton("&Replace", QMessageBox.ButtonRole.AcceptRole)
        skip_button = box.addButton("&Skip Those", QMessageBox.ButtonRole.AcceptRole)
        box.setEscapeButton(box.addButton(QMessageBox.StandardButton.Cancel))
        box.setDefaultButton(skip_button)
        box.exec()
        answers: dict[QAbstractButton, str] = {replace_button: REPLACE, skip_button: SKIP}
        return answers.get(box.clickedButton())

    def ask_compress_other(self, path: Path) -> bool:
        """Given another archiver's file to open: compress it into a new archive instead? (No by default.)"""
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Not an LM Archive file",
            f"{path.name} is not an LM Archive file: LM Archive opens only .lmz archives.\n\n"
            f"Compress {path.name} into a new LM Archive instead?",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setTextFormat(Qt.TextFormat.PlainText)
        compress = box.addButton("&Compress…", QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is compress

    def ask_quit_while_busy(self) -> bool:
        return self._ask_yes_no(
            "A job is running", "Cancel the running job and quit? Nothing half-done is left behind."
        )

    def _ask_yes_no(self, title: str, text: str) -> bool:
        """A modal question, No by default; its text is plain (member names are not markup)."""
        box = QMessageBox(
            QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self
        )
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        return box.exec() == QMessageBox.StandardButton.Yes

    def open_url(self, url: QUrl) -> bool:
        """Hand a file to the system's default application."""
        return QDesktopServices.openUrl(url)

    def show_error(self, title: str, message: str) -> QMessageBox:
        """A one-line, non-modal error box (never a traceback)."""
        return self._message(QMessageBox.Icon.Warning, title, message)

    def show_info(self, title: str, message: str) -> QMessageBox:
        return self._message(QMessageBox.Icon.Information, title, message)

    def _message(self, icon: QMessageBox.Icon, title: str, message: str) -> QMessageBox:
        box = QMessageBox(icon, title, one_line(message), QMessageBox.StandardButton.Ok, self)
        box.setTextFormat(Qt.TextFormat.PlainText)  # a member name such as "<img src=...>" is not markup
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    def start_folder(self) -> str:
        """Where file dialogs start: the open archive's folder, else home."""
        return str(self.archive.parent) if self.archive is not None else str(Path.home())

    def open_folder(self) -> str:
        """Where the Open dialog starts: where it was last used, if that folder is still there."""
        last = self.settings.last_folder
        return last if last and Path(last).is_dir() else self.start_folder()

    def extract_parent(self) -> Path:
        """Where extracting makes its new folder: the folder chosen in the settings, else beside the archive."""
        if self.settings.extract_folder:
            return Path(self.settings.extract_folder)
        return self.archive.parent if self.archive is not None else Path.home()
