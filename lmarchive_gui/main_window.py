"""The main window: its menus, toolbar, pages and status bar, and what it shows of the archive it lists.

Every archive operation is a core job submitted to the worker; the window only asks the user
what to do (:mod:`~lmarchive_gui.questions`), shows progress, and reloads the listing when a job
has changed the archive.  The work is split among helpers it owns: the actions come from the table
in :mod:`~lmarchive_gui.actions`, jobs run through :mod:`~lmarchive_gui.job_controller`, and the
flows each have a module: writing (create, add, delete, salvage), extracting and testing, drops
onto the window, drags out of it, and the About dialog's jobs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QMimeData, QModelIndex, QPoint, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMenu, QStackedWidget, QVBoxLayout, QWidget

from lmarchive.container import ContainerReader
from lmarchive.errors import LMArchiveError, describe_error
from lmarchive.jobs import EntryFinished
from lmarchive_gui import APP_NAME
from lmarchive_gui.about_flow import AboutFlow
from lmarchive_gui.actions import (
    ENTRY_MENU,
    SPACE_MENU,
    UiState,
    build_actions,
    build_menus,
    build_toolbar,
    enable,
    fill,
)
from lmarchive_gui.drag_out import DragOut
from lmarchive_gui.drop_in import DropIn
from lmarchive_gui.empty_page import EmptyPage
from lmarchive_gui.entry_model import EntryTableModel
from lmarchive_gui.entry_page import EntryPage
from lmarchive_gui.entry_tree import EntryTreeModel, EntryTreeProxy
from lmarchive_gui.extract_dialogs import salvageable
from lmarchive_gui.extract_flow import ExtractFlow
from lmarchive_gui.job_controller import ActiveJob, JobController
from lmarchive_gui.progress_panel import ProgressPanel
from lmarchive_gui.questions import AskingWindow
from lmarchive_gui.recent_menu import RecentMenu
from lmarchive_gui.scratch import ScratchArea
from lmarchive_gui.settings import Settings, SettingsStore
from lmarchive_gui.settings_dialog import SettingsDialog
from lmarchive_gui.totals_label import ElidedLabel, totals_text
from lmarchive_gui.worker import Worker
from lmarchive_gui.worker_process import WRITING_KINDS, JobRequest
from lmarchive_gui.write_flow import WriteFlow, looks_like_archive, other_archive

PREFERRED_SIZE = QSize(1040, 660)
TOTALS_MS = 30
"""How long the totals wait for a burst of listing changes to end before they are counted again."""


def fitted_size(preferred: QSize, available: QSize) -> QSize:
    """``preferred``, made smaller where needed to leave a tenth of the screen for the title bar, panels
    and dock: at 150% a 1600x1000 screen is 1067x667 logical pixels, and 660 plus a title bar and a
    panel would put the status bar below its bottom edge."""
    return preferred.boundedTo(QSize(available.width() * 9 // 10, available.height() * 9 // 10))


class MainWindow(AskingWindow):
    """The archive's listing, the commands on it, and the job in progress."""

    job_done = Signal(object)
    """Emitted with each JobOutcome after the window has reacted to it."""

    def __init__(self, store: SettingsStore, worker: Worker, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self.settings = store.load()
        self.worker = worker
        self.archive: Path | None = None
        self._scratch = ScratchArea()
        self.model = EntryTableModel(self)
        self.tree = EntryTreeModel(self.model, self)
        self.proxy = EntryTreeProxy(self)
        self.proxy.setSourceModel(self.tree)
        self._totals_timer = QTimer(self)
        self._totals_timer.setSingleShot(True)  # folds a burst of changes into one count
        self._totals_timer.setInterval(TOTALS_MS)
        self._totals_timer.timeout.connect(self._show_totals)

        self.entries = EntryPage(self.proxy, self.prepare_drag)
        self.filter, self.view = self.entries.filter, self.entries.view
        self.jobs = JobController(worker, lambda: self.settings, self)
        self.writing = WriteFlow(self, self.jobs, self.entries.selected_names)
        self.extraction = ExtractFlow(self, self.jobs, self.entries.selected_names)
        self.drag_out = DragOut(self.jobs, self._scratch, self.model)
        self.about = AboutFlow(self, self.jobs, lambda: self.settings, self._scratch)
        # The helpers' commands, under the window's names that __main__, scripts and tests call.
        self.new_archive, self.new_archive_with = self.writing.new_archive, self.writing.new_archive_with
        self.add_paths = self.writing.add_paths
        self.extract_all, self.extract_to = self.extraction.extract_all, self.extraction.extract_to
        self.test_archive = self.extraction.test
        self.show_about = self.about.show
        self.selected_names = self.entries.selected_names

        self.action_by_id = build_actions(self)
        for name, action in self.action_by_id.items():
            setattr(self, f"{name}_action", action)  # window.delete_action: the names tests and scripts use
        self.recent_menu = RecentMenu(self.action_by_id["clear_recent"], self)
        self.recent_menu.chosen.connect(self.open_archive)
        build_menus(self.menuBar(), self.action_by_id, self.recent_menu)
        self._rebuild_recent()
        self.addToolBar(build_toolbar(self, self.action_by_id))
        self._build_central()
        self.totals_label = ElidedLabel()
        self.statusBar().addPermanentWidget(self.totals_label)
        for signal in (self.model.modelReset, self.model.rowsInserted, self.model.dataChanged):
            signal.connect(self._schedule_totals)
        for signal in (self.proxy.rowsInserted, self.proxy.rowsRemoved, self.proxy.modelReset):
            signal.connect(self._schedule_totals)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._update_state())
        self._connect_jobs()
        self.drop_in = DropIn(self, self.jobs)
        self.drop_in.dropped.connect(self.add_paths)
        self.drop_in.hovering.connect(self.empty_page.set_active)
        self.resize(fitted_size(PREFERRED_SIZE, self.screen().availableGeometry().size()))
        self._update_state()

    def _schedule_totals(self, *_args: object) -> None:
        self._totals_timer.start()

    # -- construction ----------------------------------------------------------------------
    def _build_central(self) -> None:
        self.entries.open_requested.connect(self.open_entry)
        self.view.customContextMenuRequested.connect(self._show_entry_menu)
        self.view.drag_ready_late.connect(lambda: self.say("The entries are extracted and ready: drag them again"))
        do = self.action_by_id
        self.empty_page = EmptyPage([do["new"], do["open"]], [do["add_files"], do["add_folder"]])
        self.pages = QStackedWidget()
        self.pages.addWidget(self.empty_page)
        self.pages.addWidget(self.entries)
        self.progress = ProgressPanel()
        self.progress.cancel_requested.connect(self.worker.cancel)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.progress)
        self.setCentralWidget(central)

    def _connect_jobs(self) -> None:
        self.jobs.started.connect(self._job_started)
        self.jobs.job_event.connect(self.progress.on_event)
        self.jobs.rows_finished.connect(self._show_finished_rows)
        self.jobs.ending.connect(self._job_ending)
        self.jobs.message.connect(self.say)
        self.jobs.error.connect(lambda title, message: self.show_error(title, message))
        self.jobs.done.connect(self.job_done)

    # -- state -----------------------------------------------------------------------------
    def _update_state(self) -> None:
        busy = self.worker.busy
        selected = len(self.view.selectionModel().selectedRows())
        enable(self.action_by_id, UiState(busy, self.archive is not None, self.model.rowCount() > 0, selected))
        self.recent_menu.setEnabled(not busy)
        self.setWindowTitle(f"{self.archive.name} — {APP_NAME}" if self.archive is not None else APP_NAME)
        if self.archive is not None and (self.model.rowCount() > 0 or busy):
            self.pages.setCurrentIndex(1)
        else:
            if self.archive is not None:
                self.empty_page.show_empty_archive(self.archive.name)
            else:
                self.empty_page.show_no_archive()
            self.pages.setCurrentIndex(0)
        self._totals_timer.start()

    def _show_totals(self) -> None:
        if self.archive is None:
            self.totals_label.set_full_text("")
            return
        self.totals_label.set_full_text(totals_text(self.model.totals(), self.proxy.matching(self.model.names())))

    def _rebuild_recent(self) -> None:
        self.recent_menu.rebuild(self.settings.recent)

    def clear_recent(self) -> None:
        self.apply_settings(replace(self.settings, recent=()))

    def apply_settings(self, settings: Settings) -> None:
        """Adopt, save and apply new settings (the worker restarts lazily for a new thread count)."""
        self.settings = settings
        try:
            self._store.save(settings)
        except OSError as exc:
            self.show_error("Could not save the settings", describe_error(exc))
        self.worker.set_threads(settings.threads)
        self._rebuild_recent()

    def member_folders(self) -> dict[str, bool]:
        """The listed members, each with whether it is a folder."""
        return self.model.folders_by_name()

    # -- opening ---------------------------------------------------------------------------
    def choose_archive(self) -> None:
        path = self.ask_open_path()
        if path:
            self.apply_settings(replace(self.settings, last_folder=str(Path(path).absolute().parent)))
            self.open_archive(path)

    def open_archive(self, path: str | Path) -> bool:
        """List an archive (reading only its directory, so this is quick even for big ones)."""
        path = Path(path).absolute()
        try:
            with ContainerReader(path) as reader:
                entries = list(reader.entries)
        except (LMArchiveError, OSError) as exc:
            if str(path) in self.settings.recent:
                self.apply_settings(
                    replace(self.settings, recent=tuple(p for p in self.settings.recent if p != str(path)))
                )
            if not salvageable(exc):
                self.show_error("Could not open the archive", f"{path.name}: {describe_error(exc)}")
            elif self.ask_salvage(path, describe_error(exc)):
                self.writing.salvage(path)
            return False
        self.archive = path
        self.filter.clear()
        self.view.forget_open()
        self.model.set_entries(entries)
        self.apply_settings(self.settings.with_recent(path))
        self._update_state()
        return True

    def show_new_archive(self, target: Path) -> None:
        """List ``target``, which a job is about to create, as open and empty."""
        self.archive = target
        self.filter.clear()
        self.model.clear()

    def close_archive(self) -> None:
        self.archive = None
        self.model.clear()
        self._update_state()

    def _reload(self) -> None:
        """Show the archive as it now is on disk (after a job changed it, or left it untouched)."""
        if self.archive is None:
            return
        if not self.archive.exists():
            self.close_archive()
            return
        try:
            with ContainerReader(self.archive) as reader:
                self.model.set_entries(reader.entries)
        except (LMArchiveError, OSError) as exc:
            self.show_error("Could not read the archive", f"{self.archive.name}: {describe_error(exc)}")
            self.close_archive()

    def open_from_os(self, paths: Sequence[str]) -> None:
        """Paths from the command line, a file manager double-click, or a second launch.

        One archive: show it, or extract it next to itself (Settings > Opening an .lmz file).
        One file of another archiver (x.zip): say that it is not ours, and compress it only if asked;
        a double-click on it meant "open", not "pack".  Anything else: start a new archive with those
        files (the dialog that asks where is the confirmation, as Keka's is).
        """
        self.raise_()
        self.activateWindow()
        if not paths:
            return
        items = [Path(p).absolute() for p in paths]
        missing = [p for p in items if not p.exists()]
        if missing:
            self.show_error("Nothing to open", f"No such file or folder: {missing[0]}")
            return
        if len(items) == 1 and looks_like_archive(items[0]):
            if self.open_archive(items[0]) and self.settings.double_click == "extract":
                self.extraction.extract_next_to_archive()
            return
        if len(items) == 1 and other_archive(items[0]) and not self.ask_compress_other(items[0]):
            return
        self.new_archive_with([str(p) for p in items])

    # -- the entries' menu, opening them, dragging them out --------------------------------------
    def entry_menu(self, at: QModelIndex) -> QMenu:
        """The right-click menu: what can be done to the selection, or, on empty space, adding."""
        menu = QMenu(self)
        fill(menu, ENTRY_MENU if at.isValid() else SPACE_MENU, self.action_by_id)
        return menu

    def _show_entry_menu(self, pos: QPoint) -> None:
        menu = self.entry_menu(self.view.indexAt(pos))
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(self.view.viewport().mapToGlobal(pos))

    def open_entry(self, name: str) -> None:
        """Extract an entry to the session's scratch folder and open it with the default application."""
        if self.archive is not None:
            self.drag_out.materialize(self.archive, [name], lambda paths: self._open_local(paths[0]))

    def _open_local(self, path: Path) -> None:
        if not self.open_url(QUrl.fromLocalFile(str(path))):
            self.show_error("Could not open the entry", f"No application is set up to open {path.name}")

    def prepare_drag(self) -> QMimeData | None:
        """File URLs of the selected entries, extracted first (waiting, with the window responsive)."""
        return self.drag_out.prepare(self.archive, self.selected_names())

    # -- jobs -------------------------------------------------------------------------------
    def _job_started(self, request: JobRequest) -> None:
        self.progress.start(request)
        self._update_state()

    def _show_finished_rows(self, rows: list[EntryFinished]) -> None:
        """Show entries as a job finishes them, a batch at a time (one insert, one sort)."""
        self.model.apply_finished(rows)
        self._update_state()

    def _job_ending(self, job: ActiveJob) -> None:
        """Before the job's own callback runs: list the archive as the job left it."""
        self.progress.finish()
        request = job.request
        if request.kind in WRITING_KINDS and self.archive == Path(request.archive):
            if job.restore is not None and not self.archive.exists():
                self.close_archive()  # the create made nothing: back to the archive shown before it
                self.open_archive(job.restore)
            else:
                self._reload()
        self._update_state()

    def cancel_job(self) -> None:
        if self.jobs.running is not None:
            self.progress.cancel_button.click()

    # -- dialogs, quitting --------------------------------------------------------------------
    def open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec() == SettingsDialog.DialogCode.Accepted:
            self.apply_settings(dialog.settings())

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.worker.busy and not self.ask_quit_while_busy():
            event.ignore()
            return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop the worker (ask, wait briefly, kill) and remove the scratch folder."""
        self.worker.shutdown()
        self._scratch.cleanup()
