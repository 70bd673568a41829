"""File > Open Recent: the archives opened last, numbered for the keyboard, and Clear List."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QWidget


class RecentMenu(QMenu):
    """Lists the recent archives (the settings keep them) and emits ``chosen`` with the path picked."""

    chosen = Signal(str)

    def __init__(self, clear: QAction, parent: QWidget | None = None) -> None:
        super().__init__("Open &Recent", parent)
        self._clear = clear

    def rebuild(self, recent: Sequence[str]) -> None:
        self.clear()
        for number, path in enumerate(recent, start=1):
            action = self.addAction(f"&{number} {Path(path).name}" if number < 10 else Path(path).name)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _checked=False, p=path: self.chosen.emit(p))
        if not recent:
            self.addAction("No recent archives").setEnabled(False)
        self.addSeparator()
        self.addAction(self._clear)
        self._clear.setEnabled(bool(recent))
