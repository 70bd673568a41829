"""The QApplication, taught to hear macOS's "open this file" (Finder double-click, drop on the Dock icon).

Windows and Linux hand a double-clicked file to the program as a command-line argument; macOS
instead sends a running (or just started) app a QFileOpenEvent, which only the application
object receives.  A launch by double-click may deliver that event before the window exists, so
requests are held until :meth:`ArchiveApplication.open_files_with` names who opens them.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent
from PySide6.QtGui import QFileOpenEvent, QIcon
from PySide6.QtWidgets import QApplication

from lmarchive.resources import resources_dir
from lmarchive_gui import APP_ID

ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
"""The PNG renderings of resources/icons/lmarchive.svg (made by packaging/make_icons.py)."""


def app_icon() -> QIcon:
    """The app's icon from its PNG renderings (PNG needs no image plugin, unlike SVG); empty if none are found."""
    icon = QIcon()
    for size in ICON_SIZES:
        path = resources_dir() / "icons" / f"lmarchive-{size}.png"
        if path.is_file():
            icon.addFile(str(path))
    return icon


class ArchiveApplication(QApplication):
    def __init__(self, argv: list[str]) -> None:
        super().__init__(argv)
        self.setApplicationName(APP_ID)
        self.setDesktopFileName(APP_ID)  # Wayland and the taskbars match the window to lmarchive.desktop
        icon = app_icon()
        if not icon.isNull():
            self.setWindowIcon(icon)
        self._open_files: Callable[[list[str]], None] | None = None
        self._pending: list[str] = []

    def open_files_with(self, handler: Callable[[list[str]], None]) -> None:
        """Hand file-open requests to ``handler`` from now on, starting with any that came before."""
        self._open_files = handler
        pending, self._pending = self._pending, []
        for path in pending:  # one by one, as they came: several paths in one call would mean "archive these"
            handler([path])

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FileOpen and isinstance(event, QFileOpenEvent):
            path = event.file()
            if path:
                if self._open_files is None:
                    self._pending.append(path)
                else:
                    self._open_files([path])
            return True
        return super().event(event)
