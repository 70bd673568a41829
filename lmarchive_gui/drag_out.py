"""Entries as local files, for opening them and dragging them out: extracted to the session's scratch folder.

Dragging entries out: when a drag starts, the selected entries are extracted (through the
worker, with the progress panel showing and Cancel working) into the session's scratch folder,
then a QDrag carries their file URLs, and the file manager copies them from there.  Entries
already extracted for this version of the archive are reused, so a second drag is instant.  The
alternatives need cooperation Qt cannot count on: X Direct Save and KDE's callback service are
not understood by every file manager, and delayed rendering would decode inside the drop.  If
the mouse button was released while a large selection was still extracting, no drag starts and
the status bar says that the entries are ready to drag again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QEventLoop, QMimeData, QUrl

from lmarchive.jobs import ExtractJob
from lmarchive_gui.entry_model import EntryTableModel
from lmarchive_gui.job_controller import JobController
from lmarchive_gui.scratch import ScratchArea


class DragOut:
    """Extracts entries of the listed archive into the scratch folder, once per version of the archive."""

    def __init__(self, jobs: JobController, scratch: ScratchArea, model: EntryTableModel) -> None:
        self._jobs = jobs
        self._scratch = scratch
        self._model = model

    def materialize(self, archive: Path, names: Sequence[str], then: Callable[[list[Path]], None]) -> None:
        """Make sure ``names`` (folders with their contents) exist in the scratch folder, then call ``then``."""
        folder = self._scratch.folder_for(archive)
        prefixes = tuple(f"{name}/" for name in names)
        wanted = [n for n in self._model.names() if n in names or n.startswith(prefixes)]
        missing = tuple(n for n in wanted if not (folder / n).exists())
        # Drop names that lie inside another selected folder: the folder carries them.
        top = [n for n in names if not any(n.startswith(p) for p in prefixes if p != f"{n}/")]
        targets = [folder / n for n in top]
        if not missing:
            then(targets)
            return
        self._jobs.submit(
            ExtractJob(archive=str(archive), dest=str(folder), members=missing, overwrite=True),
            on_success=lambda _o: then(targets),
        )

    def prepare(self, archive: Path | None, names: list[str]) -> QMimeData | None:
        """File URLs of ``names``, extracted first (waiting, with the window responsive)."""
        if archive is None or not names or not self._jobs.check_idle():
            return None
        ready: list[Path] = []
        self.materialize(archive, names, ready.extend)
        self.wait_for_jobs()
        if not ready:
            return None
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path)) for path in ready])
        return mime

    def wait_for_jobs(self) -> None:
        """Run a local event loop until no job is running (the window stays live meanwhile)."""
        if self._jobs.running is None:
            return
        loop = QEventLoop()

        def check(_outcome: object) -> None:
            if self._jobs.running is None:
                loop.quit()

        self._jobs.done.connect(check)
        loop.exec()
        self._jobs.done.disconnect(check)
