"""The page shown instead of the entry tree when there is nothing to list: what to do, and buttons to do it.

With no archive open it offers New and Open; for an empty archive, Add Files and Add Folder.  The
whole page is the drop target's outline, lit while a drop would be taken (the window says when).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QAction, QFont, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class DropZone(QWidget):
    """A dashed outline that says "drop here", lit while a drop would be taken."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._active = False

    def set_active(self, active: bool) -> None:
        if active != self._active:
            self._active = active
            self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        role = QPalette.ColorRole.Highlight if self._active else QPalette.ColorRole.Mid
        painter.setPen(QPen(self.palette().color(role), 2, Qt.PenStyle.DashLine))
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(16, 16, -16, -16), 14, 14)
        painter.end()


class EmptyPage(DropZone):
    """A title, a hint, and buttons: ``open_actions`` with no archive open, ``add_actions`` for an empty one."""

    def __init__(
        self, open_actions: Sequence[QAction], add_actions: Sequence[QAction], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._open_actions = list(open_actions)
        self._add_actions = list(add_actions)
        self.title = QLabel()
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.4)
        self.title.setFont(font)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        self.hint = QLabel()
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.buttons: dict[QAction, QPushButton] = {}
        for action in [*open_actions, *add_actions]:
            button = QPushButton(action.icon(), action.text().replace("&", ""))
            button.clicked.connect(action.trigger)
            buttons.addWidget(button)
            self.buttons[action] = button
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(self.title)
        layout.addWidget(self.hint)
        layout.addSpacing(12)
        layout.addLayout(buttons)
        layout.addStretch(2)

    def show_no_archive(self) -> None:
        self._show(
            "Drop files here to make an archive, or open one",
            "Drag files or folders onto this window, or onto the app's icon, to compress them. "
            "Double-click an .lmz file to see what is inside.",
            self._open_actions,
        )

    def show_empty_archive(self, name: str) -> None:
        self._show(f"{name} is empty", "Drop files or folders here to add them.", self._add_actions)

    def _show(self, title: str, hint: str, actions: Sequence[QAction]) -> None:
        """Say ``title`` and ``hint``, with the buttons of ``actions`` (enabled as the actions are now)."""
        self.title.setText(title)
        self.hint.setText(hint)
        for action, button in self.buttons.items():
            button.setVisible(action in actions)
            button.setEnabled(action.isEnabled())
