"""The QApplication, taught to hear macOS's "open this file" (Finder double-click, drop on the Dock icon).

Windows and Linux hand a double-clicked file to the program as a command-line argument; macOS
instead sends a running (or just started) app a QFileOpenEvent, which only the application
object receives.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Signal
from PySide6.QtGui import QFileOpenEvent
from PySide6.QtWidgets import QApplication

from app import APP_ID


class ArchiveApplication(QApplication):
    file_open_requested = Signal(str)

    def __init__(self, argv: list[str]) -> None:
        super().__init__(argv)
        self.setApplicationName(APP_ID)
        self.setDesktopFileName(APP_ID)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FileOpen and isinstance(event, QFileOpenEvent):
            path = event.file()
            if path:
                self.file_open_requested.emit(path)
            return True
        return super().event(event)
