"""The questions extracting and testing ask: where to, what to do with a file already there, what
is damaged, and whether to salvage an archive that cannot be opened.

Each dialog is built by a function here and only shown by the main window, whose ``ask_*`` methods
the tests replace; the dialogs themselves are tested by clicking their buttons.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lmarchive.container import EntryRecord, show
from lmarchive.errors import FormatError
from lmarchive.extracting import Resolution
from lmarchive.reading import Damage
from lmarchive_gui.formatting import bytes_text, mtime_text, size_text

REPLACE, SKIP, RENAME = "replace", "skip", "rename"


def salvageable(exc: BaseException) -> bool:
    """Whether an archive that failed to open may be salvaged: it is an archive this version reads,
    damaged or cut short (not another kind of file, nor a file that cannot be read at all)."""
    unsalvageable = ("not an .lmz archive", "archive format version")
    return isinstance(exc, FormatError) and not str(exc).startswith(unsalvageable)


def new_folder(parent: Path, stem: str) -> Path:
    """A folder that does not exist yet, named after an archive: 'docs', else 'docs (2)', 'docs (3)'..."""
    candidate = parent / stem
    for number in itertools.count(2):
        if not os.path.lexists(candidate):
            return candidate
        candidate = parent / f"{stem} ({number})"
    raise AssertionError("unreachable")


class ExtractToDialog(QDialog):
    """Where to extract: a path one can type (a folder that does not exist yet is made) or browse to."""

    def __init__(self, suggested: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Extract to")
        self.path = QLineEdit(str(suggested))
        self.path.setMinimumWidth(self.fontMetrics().horizontalAdvance("x" * 60))
        browse = QPushButton("&Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        hint = QLabel("A folder that does not exist yet is created.")
        hint.setEnabled(False)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("E&xtract")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.path.textChanged.connect(self._update)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Extract into this folder:"))
        layout.addLayout(row)
        layout.addWidget(hint)
        layout.addWidget(self.buttons)
        self._update()

    def chosen(self) -> Path:
        return Path(self.path.text().strip()).expanduser()

    def _update(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(self.path.text().strip()))

    def _browse(self) -> None:
        start = self.chosen()
        while not start.is_dir() and start != start.parent:  # the dialog opens at the nearest folder that exists
            start = start.parent
        folder = QFileDialog.getExistingDirectory(self, "Extract into folder", str(start))
        if folder:
            self.path.setText(folder)


@dataclass(frozen=True)
class Conflict:
    """A member whose target exists, and what is there."""

    entry: EntryRecord
    existing: os.stat_result


class ConflictDialog(QDialog):
    """One file already there: both sizes and dates, and Replace / Skip / Keep Both, with "Apply to all"."""

    def __init__(self, conflict: Conflict, dest: Path, remaining: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("File already exists")
        self.answer: Resolution | None = None
        entry, existing = conflict.entry, conflict.existing
        leaf = entry.name.rsplit("/", 1)[-1]
        folder = dest / entry.name.rpartition("/")[0] if "/" in entry.name else dest
        title = QLabel(f"{show(leaf)} is already in {folder}.")
        title.setWordWrap(True)
        title.setTextFormat(Qt.TextFormat.PlainText)
        form = QFormLayout()
        self.existing_label = self._describe(existing.st_size, existing.st_mtime_ns)
        self.incoming_label = self._describe(entry.size, entry.mtime_ns)
        form.addRow("Existing file:", self.existing_label)
        form.addRow("From the archive:", self.incoming_label)
        newer = entry.mtime_ns - existing.st_mtime_ns
        if newer:
            form.addRow("", QLabel("The archive's copy is newer." if newer > 0 else "The existing file is newer."))
        others = "the other file" if remaining == 1 else f"the other {remaining:,} files"
        self.apply_all = QCheckBox(f"Do this for {others} already there")
        self.apply_all.setVisible(remaining > 0)
        buttons = QDialogButtonBox()
        self.replace_button = buttons.addButton("&Replace", QDialogButtonBox.ButtonRole.AcceptRole)
        self.skip_button = buttons.addButton("&Skip", QDialogButtonBox.ButtonRole.AcceptRole)
        self.rename_button = buttons.addButton("&Keep Both", QDialogButtonBox.ButtonRole.AcceptRole)
        self.rename_button.setToolTip("Extract the archive's copy as 'name (2).ext' beside the existing file")
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.clicked.connect(self.reject)
        for button, answer in ((self.replace_button, REPLACE), (self.skip_button, SKIP), (self.rename_button, RENAME)):
            button.clicked.connect(lambda _checked=False, a=answer: self._choose(a))
        for button in (self.replace_button, self.rename_button, cancel):
            button.setAutoDefault(False)  # Enter presses Skip, whichever button has the focus: it never destroys a file
        self.skip_button.setDefault(True)
        self.skip_button.setFocus()
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addLayout(form)
        layout.addWidget(self.apply_all)
        layout.addWidget(buttons)

    @staticmethod
    def _describe(size: int, mtime_ns: int) -> QLabel:
        label = QLabel(f"{size_text(size)}, modified {mtime_text(mtime_ns)}")
        label.setToolTip(bytes_text(size))
        return label

    def _choose(self, answer: Resolution) -> None:
        self.answer = answer
        self.accept()


class DamageDialog(QDialog):
    """What is damaged, member by member and range by range, in a list that scrolls."""

    def __init__(
        self,
        title: str,
        intro: str,
        damage: Sequence[Damage],
        action: str | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        names = list(dict.fromkeys(d.name for d in damage))
        label = QLabel(intro)
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.PlainText)
        self.listing = QPlainTextEdit(damage_text(damage))
        self.listing.setReadOnly(True)
        self.listing.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.listing.setMinimumSize(self.fontMetrics().horizontalAdvance("x" * 72), self.fontMetrics().height() * 8)
        self.members_label = QLabel(
            f"{len(names):,} damaged member{'s' if len(names) != 1 else ''}, "
            f"{len(damage):,} damaged range{'s' if len(damage) != 1 else ''}:"
        )
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.action_button: QPushButton | None = None
        if action is not None:
            self.action_button = buttons.addButton(action, QDialogButtonBox.ButtonRole.AcceptRole)
            self.action_button.clicked.connect(self.accept)
            self.action_button.setDefault(True)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(self.members_label)
        layout.addWidget(self.listing, 1)
        layout.addWidget(buttons)


def damage_text(damage: Sequence[Damage]) -> str:
    """One line per damaged range, grouped under its member."""
    lines: list[str] = []
    for name, ranges in itertools.groupby(damage, key=lambda d: d.name):
        lines.append(show(name))
        for d in ranges:
            where = f"bytes {d.start:,}-{d.end - 1:,}" if d.end > d.start else "its content"
            chunk = f" (chunk {d.chunk + 1})" if d.chunk is not None else ""
            lines.append(f"    {where}{chunk}: {d.reason}")
    return "\n".join(lines)
