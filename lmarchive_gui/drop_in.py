"""Files and folders dropped onto the window from a file manager, to be added or made into an archive.

A drop is taken only from outside the app (a drag out of the entry tree is no add), only of local
files and folders, and only while no job runs.  The window is told after the drop has returned, so
the file manager is not kept waiting while the window asks its questions and starts the job.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QMimeData, QObject, QTimer, Signal
from PySide6.QtGui import QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QWidget

from lmarchive_gui.job_controller import JobController


def local_paths(mime: QMimeData) -> list[str]:
    """The dropped local files and folders; nothing if any URL is not a local file."""
    urls = mime.urls() if mime.hasUrls() else []
    if not urls or not all(url.isLocalFile() for url in urls):
        return []
    return [url.toLocalFile() for url in urls]


class DropIn(QObject):
    """Takes the drops onto ``widget`` (as its event filter) and emits ``dropped`` with their paths."""

    dropped = Signal(list)
    """The paths of a drop taken, just after it."""
    hovering = Signal(bool)
    """Whether a drag that would be taken is over the widget."""

    def __init__(self, widget: QWidget, jobs: JobController) -> None:
        super().__init__(widget)
        self._jobs = jobs
        widget.setAcceptDrops(True)
        widget.installEventFilter(self)

    def _accepts(self, event: QDragMoveEvent) -> bool:
        return event.source() is None and not self._jobs.busy and bool(local_paths(event.mimeData()))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            assert isinstance(event, QDragMoveEvent)  # a QDragEnterEvent is one too
            if self._accepts(event):
                event.acceptProposedAction()
                if kind == QEvent.Type.DragEnter:
                    self.hovering.emit(True)
            else:
                event.ignore()
            return True
        if kind == QEvent.Type.DragLeave:
            self.hovering.emit(False)
            return True
        if kind == QEvent.Type.Drop:
            assert isinstance(event, QDropEvent)
            self._drop(event)
            return True
        return super().eventFilter(watched, event)

    def _drop(self, event: QDropEvent) -> None:
        self.hovering.emit(False)
        paths = local_paths(event.mimeData())
        if event.source() is not None or not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        if self._jobs.check_idle():
            QTimer.singleShot(0, lambda: self.dropped.emit(paths))
