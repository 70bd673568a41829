"""The main window: menus and toolbar, the entry tree and its right-click menu, drag and drop, and job orchestration.

Every archive operation is a core job submitted to the worker; the window only asks the user
what to do, shows progress, and reloads the listing when a job has changed the archive.

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

import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import QEventLoop, QMimeData, QModelIndex, QPoint, QRectF, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QFont,
    QIcon,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QStyle,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

import lmarchive
from lmarchive.container import ContainerReader, show
from lmarchive.errors import LMArchiveError, describe_error, one_line
from lmarchive.extracting import Resolution, existing_targets
from lmarchive.jobs import EntryFinished, Event, JobStarted, Notice
from lmarchive.reading import Damage
from lmarchive.writing import collect_tree, default_arcname
from lmarchive_gui import APP_NAME
from lmarchive_gui.about_dialog import AboutDialog
from lmarchive_gui.entry_model import HEADERS, NAME_ROLE, Column, EntryTableModel
from lmarchive_gui.entry_tree import FOLDER_ROLE, EntryTreeModel, EntryTreeProxy
from lmarchive_gui.entry_view import EntryView
from lmarchive_gui.extract_dialogs import (
    Conflict,
    ConflictDialog,
    DamageDialog,
    ExtractToDialog,
    new_folder,
    salvageable,
)
from lmarchive_gui.formatting import ratio_text, size_text
from lmarchive_gui.profiles import PROFILE_NAMES
from lmarchive_gui.progress_panel import ProgressPanel, entries_text
from lmarchive_gui.ratio_delegate import RatioDelegate, RatioLegend, cell_width
from lmarchive_gui.scratch import ScratchArea
from lmarchive_gui.settings import Settings, SettingsStore
from lmarchive_gui.settings_dialog import SettingsDialog
from lmarchive_gui.worker import Worker
from lmarchive_gui.worker_process import (
    ADD,
    CREATE,
    DELETE,
    EXTRACT,
    INSPECT,
    SALVAGE,
    SELFTEST,
    TEST,
    WRITING_KINDS,
    JobOutcome,
    JobRequest,
)

log = logging.getLogger(__name__)

ARCHIVE_FILTER = "LM Archive (*.lmz);;All files (*)"
STATUS_MS = 8000
PREFERRED_SIZE = QSize(1040, 660)
_ERROR_TITLES = {
    CREATE: "Could not create the archive",
    ADD: "Could not add to the archive",
    EXTRACT: "Could not extract",
    TEST: "The archive failed its test",
    DELETE: "Could not delete",
}
DAMAGE_ERRORS = frozenset({"FormatError", "ChecksumError", "DamagedArchiveError"})
"""How an extraction that met a damaged chunk ends (without keep-going, at the first one)."""
REPLACE, SKIP = "replace", "skip"
"""Answers to :meth:`MainWindow.ask_replace` (None: cancel)."""
SHOWN_NAMES = 5
"""How many names a question lists; it counts the rest."""
OTHER_ARCHIVE_SUFFIXES = frozenset(
    ".zip .7z .rar .tar .tgz .tbz2 .txz .gz .bz2 .xz .zst .lz .lz4 .lzma .cab .arj .lzh .iso".split()
)
"""Names of other archivers' files: given one of these to open, LM Archive asks before compressing it."""


def unique_path(path: Path) -> Path:
    """``path``, or 'name 2.ext', 'name 3.ext'... if it exists: never propose to replace something."""
    if not path.exists():
        return path
    for number in itertools.count(2):
        candidate = path.with_name(f"{path.stem} {number}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise AssertionError("unreachable")


def default_archive_path(items: Sequence[Path]) -> Path:
    """Beside the items.  One is named after itself: 'report.txt' or 'report/' -> 'report.lmz'.  Several
    are named after the folder they are in, as Ark does ('photos/a.jpg', 'photos/b.jpg' -> 'photos.lmz'):
    the first item's name would say the archive holds only that; 'Archive.lmz' when they come from
    different folders or the top of a drive."""
    first = items[0]
    if len(items) == 1:
        stem = first.stem if first.is_file() else first.name
    else:
        parents = {item.parent for item in items}
        stem = first.parent.name if len(parents) == 1 else ""
    return unique_path(first.parent / f"{stem or 'Archive'}.lmz")


def fitted_size(preferred: QSize, available: QSize) -> QSize:
    """``preferred``, made smaller where needed to leave a tenth of the screen for the title bar, panels
    and dock: at 150% a 1600x1000 screen is 1067x667 logical pixels, and 660 plus a title bar and a
    panel would put the status bar below its bottom edge."""
    return preferred.boundedTo(QSize(available.width() * 9 // 10, available.height() * 9 // 10))


def looks_like_archive(path: Path) -> bool:
    """An .lmz by name or by its magic; a damaged .lmz is opened (and reported), not archived."""
    return path.is_file() and (path.suffix.lower() == ".lmz" or lmarchive.is_lmzfile(path))


def other_archive(path: Path) -> bool:
    """A file of another archiver, by its name (as file managers tell what opens a file)."""
    return path.is_file() and path.suffix.lower() in OTHER_ARCHIVE_SUFFIXES


@dataclass(frozen=True)
class Overlap:
    """How items about to be added meet the members already in the archive."""

    replaced: list[str]
    """Members an item would replace: files, and anything whose type differs (folders merge)."""
    existing: list[str]
    """Every name the items have that is already a member, folders too: what Skip leaves as it is."""
    adds_new: bool
    """Whether any item has a name that is not a member yet."""


def overlap(paths: Sequence[str], members: dict[str, bool]) -> Overlap | None:
    """How ``paths`` meet ``members`` (name -> whether a folder); None when the paths cannot be read,
    which the job then reports.  Only items whose names are already members are walked, so adding a
    large new folder costs nothing here."""
    tops = {name.split("/", 1)[0] for name in members}
    existing: list[tuple[str, bool]] = []
    adds_new = False
    try:
        for given in paths:
            path = Path(given)
            top = default_arcname(path)
            if top not in tops:
                adds_new = True
                continue
            for source in collect_tree(path, top):
                if source.arcname in members:
                    existing.append((source.arcname, source.is_dir))
                else:
                    adds_new = True
    except (LMArchiveError, OSError):
        return None
    replaced = [name for name, is_dir in existing if not (is_dir and members[name])]
    return Overlap(replaced, [name for name, _ in existing], adds_new)


def local_paths(mime: QMimeData) -> list[str]:
    """The dropped local files and folders; nothing if any URL is not a local file."""
    urls = mime.urls() if mime.hasUrls() else []
    if not urls or not all(url.isLocalFile() for url in urls):
        return []
    return [url.toLocalFile() for url in urls]


@dataclass
class _ActiveJob:
    request: JobRequest
    on_success: Callable[[JobOutcome], None] | None
    on_failure: Callable[[JobOutcome], None] | None
    """Replaces the error dialog when given."""
    restore: Path | None = None
    """For a create: the archive shown before it, shown again if the create makes nothing (cancelled, failed)."""
    started: JobStarted | None = None


class DropZone(QWidget):
    """The empty page's frame: a dashed outline that says "drop here", lit while a drop would be taken."""

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


class ElidedLabel(QLabel):
    """One line that shows as much of its text as fits, ending in '…', and all of it in its tooltip.

    A plain QLabel given less room than its text (a narrow window, a large scale factor) cuts it off
    mid-word, with nothing to say that there is more.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def full_text(self) -> str:
        return self._full

    def set_full_text(self, text: str) -> None:
        self._full = text
        self.setToolTip(text)
        self.updateGeometry()
        self._elide()

    def sizeHint(self) -> QSize:
        return QSize(self.fontMetrics().horizontalAdvance(self._full) + 4, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:
        return QSize(self.fontMetrics().horizontalAdvance("0,000 entries…"), super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        self.setText(self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, self.width()))


class MainWindow(QMainWindow):
    job_done = Signal(object)
    """Emitted with each JobOutcome after the window has reacted to it."""

    def __init__(self, store: SettingsStore, worker: Worker, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self.settings = store.load()
        self.worker = worker
        self.archive: Path | None = None
        self._job: _ActiveJob | None = None
        self._ids = itertools.count(1)
        self._notices: list[str] = []
        self._finished_rows: list[EntryFinished] = []
        self._scratch = ScratchArea()
        self._about: AboutDialog | None = None

        self.model = EntryTableModel(self)
        self.tree = EntryTreeModel(self.model, self)
        self.proxy = EntryTreeProxy(self)
        self.proxy.setSourceModel(self.tree)
        self._row_timer = self._coalescer(50, self._flush_rows)
        self._totals_timer = self._coalescer(30, self._show_totals)

        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_central()
        self._build_status_bar()
        for signal in (self.model.modelReset, self.model.rowsInserted, self.model.dataChanged):
            signal.connect(self._schedule_totals)
        for signal in (self.proxy.rowsInserted, self.proxy.rowsRemoved, self.proxy.modelReset):
            signal.connect(self._schedule_totals)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._update_state())
        worker.event.connect(self._on_worker_event)
        worker.finished.connect(self._on_job_finished)
        self.setAcceptDrops(True)
        self.resize(fitted_size(PREFERRED_SIZE, self.screen().availableGeometry().size()))
        self._update_state()

    def _schedule_totals(self, *_args: object) -> None:
        self._totals_timer.start()

    def _coalescer(self, msec: int, slot: Callable[[], None]) -> QTimer:
        """A single-shot timer that folds a burst of triggers into one call."""
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(msec)
        timer.timeout.connect(slot)
        return timer

    # -- construction ----------------------------------------------------------------------
    def _action(
        self,
        text: str,
        slot: Callable[[], object],
        shortcut: QKeySequence | str | None = None,
        *,
        icon: tuple[str, QStyle.StandardPixmap] | None = None,
        tip: str | None = None,
    ) -> QAction:
        action = QAction(text, self)
        action.triggered.connect(lambda _checked=False: slot())
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if icon is not None:
            action.setIcon(QIcon.fromTheme(icon[0], self.style().standardIcon(icon[1])))
        if tip is not None:
            action.setStatusTip(tip)
            action.setToolTip(
                f"{tip} ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})"
                if shortcut is not None
                else tip
            )
        return action

    def _build_actions(self) -> None:
        sp = QStyle.StandardPixmap
        self.new_action = self._action(
            "&New Archive…",
            self.new_archive,
            QKeySequence.StandardKey.New,
            icon=("document-new", sp.SP_FileIcon),
            tip="Create a new, empty archive",
        )
        self.open_action = self._action(
            "&Open…",
            self.choose_archive,
            QKeySequence.StandardKey.Open,
            icon=("document-open", sp.SP_DialogOpenButton),
            tip="Open an archive",
        )
        self.add_files_action = self._action(
            "Add &Files…",
            self.add_files,
            "Ctrl+Shift+A",
            icon=("list-add", sp.SP_FileDialogNewFolder),
            tip="Add files to the archive",
        )
        self.add_folder_action = self._action(
            "Add F&older…",
            self.add_folder,
            "Ctrl+Shift+D",
            icon=("folder-new", sp.SP_DirIcon),
            tip="Add a folder and everything in it",
        )
        self.extract_all_action = self._action(
            "E&xtract All…",
            self.extract_all,
            "Ctrl+E",
            icon=("archive-extract", sp.SP_ArrowDown),
            tip="Extract every entry into a folder",
        )
        self.extract_selected_action = self._action(
            "Extract &Selected…",
            self.extract_selected,
            "Ctrl+Shift+E",
            icon=("document-save", sp.SP_DialogSaveButton),
            tip="Extract the selected entries into a folder",
        )
        self.extract_all_here_action = self._action(
            "Extract All &Here",
            self.extract_all_here,
            "Ctrl+Alt+E",
            icon=("archive-extract", sp.SP_DirOpenIcon),
            tip="Extract every entry into a new folder beside the archive, named after it",
        )
        self.extract_here_action = self._action(
            "Extract &Here",
            self.extract_selected_here,
            icon=("archive-extract", sp.SP_DirOpenIcon),
            tip="Extract the selected entries into a folder named after the archive, beside it",
        )
        self.open_entry_action = self._action(
            "O&pen", self.open_selected, tip="Open the selected file with its application, or open the folder"
        )
        self.copy_names_action = self._action(
            "&Copy Name",
            self.copy_selected_names,
            icon=("edit-copy", sp.SP_FileLinkIcon),
            tip="Copy the selected entries' names (paths in the archive)",
        )
        self.test_action = self._action(
            "&Test",
            self.test_archive,
            "Ctrl+T",
            icon=("dialog-ok", sp.SP_DialogApplyButton),
            tip="Decode every entry and verify every checksum",
        )
        self.delete_action = self._action(
            "&Delete",
            self.delete_selected,
            QKeySequence.StandardKey.Delete,
            icon=("edit-delete", sp.SP_TrashIcon),
            tip="Remove the selected entries from the archive",
        )
        self.settings_action = self._action(
            "Se&ttings…",
            self.open_settings,
            "Ctrl+,",
            icon=("preferences-system", sp.SP_FileDialogDetailedView),
            tip="Model, device, extraction and more",
        )
        self.close_action = self._action("&Close Archive", self.close_archive, QKeySequence.StandardKey.Close)
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.cancel_action = self._action("&Cancel Job", self.cancel_job, "Esc")
        self.filter_action = self._action("&Filter…", self._focus_filter, QKeySequence.StandardKey.Find)
        self.about_action = self._action("&About LM Archive", self.show_about)
        self.clear_recent_action = self._action("&Clear List", self._clear_recent)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addActions([self.new_action, self.open_action])
        self.recent_menu = QMenu("Open &Recent", self)
        file_menu.addMenu(self.recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.close_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        archive_menu = bar.addMenu("&Archive")
        archive_menu.addActions([self.add_files_action, self.add_folder_action])
        archive_menu.addSeparator()
        archive_menu.addActions([self.extract_all_here_action, self.extract_all_action, self.extract_selected_action])
        archive_menu.addSeparator()
        archive_menu.addActions([self.test_action, self.delete_action])
        archive_menu.addSeparator()
        archive_menu.addAction(self.cancel_action)
        edit_menu = bar.addMenu("&Edit")
        edit_menu.addActions([self.filter_action, self.settings_action])
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.about_action)
        self._rebuild_recent()

    def _build_toolbar(self) -> None:
        toolbar = QToolBar("Main", self)
        toolbar.setObjectName("main-toolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        toolbar.addActions([self.new_action, self.open_action])
        toolbar.addSeparator()
        toolbar.addActions([self.add_files_action, self.add_folder_action])
        toolbar.addSeparator()
        toolbar.addActions(
            [self.extract_all_here_action, self.extract_all_action, self.extract_selected_action, self.test_action]
        )
        toolbar.addAction(self.delete_action)
        toolbar.addSeparator()
        toolbar.addAction(self.settings_action)
        self.addToolBar(toolbar)

    def _build_central(self) -> None:
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter by name, e.g. report or *.txt  (Ctrl+F)")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.proxy.set_pattern)
        self.filter.textChanged.connect(lambda text: self.view.show_matches(text))
        filter_row = QHBoxLayout()
        filter_row.addWidget(self.filter, 1)
        filter_row.addSpacing(12)
        filter_row.addWidget(RatioLegend())

        self.view = EntryView(self.prepare_drag)
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(Column.NAME, Qt.SortOrder.AscendingOrder)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.setItemDelegateForColumn(Column.RATIO, RatioDelegate(self.view))
        self.view.activated.connect(self._entry_activated)
        self.view.customContextMenuRequested.connect(self._show_entry_menu)
        self.view.drag_ready_late.connect(
            lambda: self.statusBar().showMessage("The entries are extracted and ready: drag them again", STATUS_MS)
        )
        header = self.view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(Column.NAME, QHeaderView.ResizeMode.Stretch)
        metrics = self.fontMetrics()
        digits = metrics.horizontalAdvance("0000.0 MB") + 16
        # The plain names ('Default'), with room for the sort arrow; other model ids elide, whole in the tooltip.
        names = max(metrics.horizontalAdvance(text) for text in [*PROFILE_NAMES.values(), HEADERS[Column.MODEL]])
        widths = {
            Column.SIZE: digits,
            Column.PACKED: digits,
            Column.RATIO: cell_width(self.fontMetrics()) + 8,
            Column.GZIP: digits,
            Column.METHOD: digits - 10,
            Column.MODEL: max(digits - 10, names + 32),
            Column.MODIFIED: digits + 60,
        }
        for column, width in widths.items():
            header.resizeSection(column, width)

        self.empty_title = QLabel()
        font = QFont(self.empty_title.font())
        font.setPointSizeF(font.pointSizeF() * 1.4)
        self.empty_title.setFont(font)
        self.empty_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_title.setWordWrap(True)
        self.empty_hint = QLabel()
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.empty_buttons: dict[QAction, QPushButton] = {}
        for action in (self.new_action, self.open_action, self.add_files_action, self.add_folder_action):
            button = QPushButton(action.icon(), action.text().replace("&", ""))
            button.clicked.connect(action.trigger)
            buttons.addWidget(button)
            self.empty_buttons[action] = button
        buttons.addStretch(1)
        self.drop_zone = empty = DropZone()
        empty_layout = QVBoxLayout(empty)
        empty_layout.addStretch(1)
        empty_layout.addWidget(self.empty_title)
        empty_layout.addWidget(self.empty_hint)
        empty_layout.addSpacing(12)
        empty_layout.addLayout(buttons)
        empty_layout.addStretch(2)

        table_page = QWidget()
        table_layout = QVBoxLayout(table_page)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.addLayout(filter_row)
        table_layout.addWidget(self.view, 1)
        self.pages = QStackedWidget()
        self.pages.addWidget(empty)
        self.pages.addWidget(table_page)

        self.progress = ProgressPanel()
        self.progress.cancel_requested.connect(self.worker.cancel)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.progress)
        self.setCentralWidget(central)

    def _build_status_bar(self) -> None:
        self.totals_label = ElidedLabel()
        self.statusBar().addPermanentWidget(self.totals_label)

    # -- state -----------------------------------------------------------------------------
    def _set_empty_page(self, title: str, hint: str, actions: Sequence[QAction]) -> None:
        self.empty_title.setText(title)
        self.empty_hint.setText(hint)
        for action, button in self.empty_buttons.items():
            button.setVisible(action in actions)
            button.setEnabled(action.isEnabled())

    def _update_state(self) -> None:
        busy = self.worker.busy
        has_archive = self.archive is not None
        has_rows = self.model.rowCount() > 0
        selected = bool(self.view.selectionModel().selectedRows())
        for action in (self.new_action, self.open_action, self.add_files_action, self.add_folder_action):
            action.setEnabled(not busy)
        self.recent_menu.setEnabled(not busy)
        self.close_action.setEnabled(has_archive and not busy)
        self.extract_all_action.setEnabled(has_archive and has_rows and not busy)
        self.extract_all_here_action.setEnabled(has_archive and has_rows and not busy)
        self.test_action.setEnabled(has_archive and has_rows and not busy)
        self.extract_selected_action.setEnabled(selected and not busy)
        self.extract_here_action.setEnabled(selected and not busy)
        self.open_entry_action.setEnabled(len(self.view.selectionModel().selectedRows()) == 1 and not busy)
        self.copy_names_action.setEnabled(selected)
        self.delete_action.setEnabled(selected and not busy)
        self.cancel_action.setEnabled(busy)
        self.setWindowTitle(f"{self.archive.name} — {APP_NAME}" if self.archive is not None else APP_NAME)
        if has_archive and (has_rows or busy):
            self.pages.setCurrentIndex(1)
        elif self.archive is not None:
            self._set_empty_page(
                f"{self.archive.name} is empty",
                "Drop files or folders here to add them.",
                [self.add_files_action, self.add_folder_action],
            )
            self.pages.setCurrentIndex(0)
        else:
            self._set_empty_page(
                "Drop files here to make an archive, or open one",
                "Drag files or folders onto this window, or onto the app's icon, to compress them. "
                "Double-click an .lmz file to see what is inside.",
                [self.new_action, self.open_action],
            )
            self.pages.setCurrentIndex(0)
        self._totals_timer.start()

    def _show_totals(self) -> None:
        if self.archive is None:
            self.totals_label.set_full_text("")
            return
        totals = self.model.totals()
        parts = [entries_text(totals.entries)]
        if totals.folders:
            parts[0] += f" ({totals.folders:,} folder{'s' if totals.folders != 1 else ''})"
        if totals.size:
            parts.append(
                f"{size_text(totals.size)} → {size_text(totals.packed)} ({ratio_text(totals.packed, totals.size)})"
            )
            if totals.gzip_size:
                parts.append(
                    f"gzip -9 would give {size_text(totals.gzip_size)} ({ratio_text(totals.gzip_size, totals.size)})"
                )
        shown = self.proxy.matching(self.model.names())
        if shown != totals.entries:
            parts.append(f"{shown:,} shown")
        self.totals_label.set_full_text("  ·  ".join(parts))

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for number, path in enumerate(self.settings.recent, start=1):
            action = self.recent_menu.addAction(f"&{number} {Path(path).name}" if number < 10 else Path(path).name)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _checked=False, p=path: self.open_archive(p))
        if not self.settings.recent:
            self.recent_menu.addAction("No recent archives").setEnabled(False)
        self.recent_menu.addSeparator()
        self.recent_menu.addAction(self.clear_recent_action)
        self.clear_recent_action.setEnabled(bool(self.settings.recent))

    def _clear_recent(self) -> None:
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

    # -- questions (each one a method, so tests can answer them) ------------------------------
    def ask_open_path(self) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self, "Open archive", self._open_folder(), ARCHIVE_FILTER)
        return path or None

    def ask_new_archive_path(self, default: Path) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, "Create archive", str(default), ARCHIVE_FILTER)
        return path or None

    def ask_add_files(self) -> list[str]:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add files", self._start_folder())
        return paths

    def ask_add_folder(self) -> str | None:
        return QFileDialog.getExistingDirectory(self, "Add folder", self._start_folder()) or None

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
        return {replace_button: REPLACE, skip_button: SKIP}.get(box.clickedButton())

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

    def _start_folder(self) -> str:
        return str(self.archive.parent) if self.archive is not None else str(Path.home())

    def _open_folder(self) -> str:
        """Where the Open dialog starts: where it was last used, if that folder is still there."""
        last = self.settings.last_folder
        return last if last and Path(last).is_dir() else self._start_folder()

    def _extract_parent(self) -> Path:
        if self.settings.extract_folder:
            return Path(self.settings.extract_folder)
        return self.archive.parent if self.archive is not None else Path.home()

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
                self.salvage(path)
            return False
        self.archive = path
        self.filter.clear()
        self.view.forget_open()
        self.model.set_entries(entries)
        self.apply_settings(self.settings.with_recent(path))
        self._update_state()
        return True

    def salvage(self, broken: Path) -> None:
        """Rebuild ``broken`` from its recovery records into '<stem>-salvaged.lmz' beside it (asking where
        if that exists), in the worker, and open the result."""
        output = broken.with_name(f"{broken.stem}-salvaged.lmz")
        if output.exists():
            chosen = self.ask_salvage_path(unique_path(output))
            if not chosen:
                self.statusBar().showMessage("Salvage cancelled", STATUS_MS)
                return
            output = Path(chosen).absolute()
            if output.suffix.lower() != ".lmz":
                output = output.with_name(output.name + ".lmz")

        def salvaged(outcome: JobOutcome) -> None:
            if self.open_archive(output):
                dropped = f"; {len(outcome.detail.splitlines())} damaged records left out" if outcome.detail else ""
                self.statusBar().showMessage(
                    f"Salvaged {entries_text(outcome.finished.entries)} from {broken.name} into {output.name}"
                    f"{dropped}: test it to check every member",
                    STATUS_MS,
                )

        # Overwrite: the user chose that name in a save dialog, which has asked about replacing it.
        self._submit(SALVAGE, output, paths=(str(broken),), overwrite=output.exists(), on_success=salvaged)

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
                self.extract_next_to_archive()
            return
        if len(items) == 1 and other_archive(items[0]) and not self.ask_compress_other(items[0]):
            return
        self.new_archive_with([str(p) for p in items])

    # -- adding ----------------------------------------------------------------------------
    def new_archive(self) -> None:
        target = self.ask_new_archive_path(unique_path(Path(self._start_folder()) / "Archive.lmz"))
        if target:
            self._create(Path(target), [])

    def new_archive_with(self, paths: Sequence[str]) -> None:
        target = self.ask_new_archive_path(default_archive_path([Path(p).absolute() for p in paths]))
        if target:
            self._create(Path(target), paths)

    def _create(self, target: Path, paths: Sequence[str]) -> None:
        if target.suffix.lower() != ".lmz":
            target = target.with_name(target.name + ".lmz")
        target = target.absolute()
        if self.worker.busy:
            self._busy_message()
            return
        before = self.archive
        self.archive = target
        self.filter.clear()
        self.model.clear()
        self._submit(
            CREATE,
            target,
            paths=tuple(paths),
            overwrite=True,
            chunk_kib=self.settings.chunk_kib,
            on_success=self._created,
            restore=before,
        )

    def _created(self, outcome: JobOutcome) -> None:
        if self.archive is not None:
            self.apply_settings(self.settings.with_recent(self.archive))
        self._say_done("Created", outcome)

    def add_files(self) -> None:
        paths = self.ask_add_files()
        if paths:
            self.add_paths(paths)

    def add_folder(self) -> None:
        folder = self.ask_add_folder()
        if folder:
            self.add_paths([folder])

    def add_paths(self, paths: Sequence[str]) -> None:
        """Add to the open archive (asking first if that would replace entries), or, with none open,
        make a new one (asking where)."""
        if self.archive is None:
            if len(paths) == 1 and looks_like_archive(Path(paths[0])):
                self.open_archive(paths[0])
            else:
                self.new_archive_with(paths)
            return
        keep: tuple[str, ...] = ()
        meets = overlap(paths, self.model.folders_by_name())
        if meets is not None and meets.replaced:
            answer = self.ask_replace(meets.replaced)
            if answer is None:
                self.statusBar().showMessage("Nothing was added", STATUS_MS)
                return
            if answer == SKIP:
                if not meets.adds_new:
                    self.statusBar().showMessage("Nothing was added: every item is already in the archive", STATUS_MS)
                    return
                keep = tuple(meets.existing)
        self._submit(
            ADD,
            self.archive,
            paths=tuple(paths),
            keep=keep,
            chunk_kib=self.settings.chunk_kib,
            on_success=lambda o: self._say_done("Added", o),
        )

    def _say_done(self, verb: str, outcome: JobOutcome) -> None:
        done = outcome.finished
        sizes = f"{size_text(done.size)} → {size_text(done.packed)}" if done.size else "no data"
        self.statusBar().showMessage(
            f"{verb} {entries_text(done.entries)} ({sizes}) in {done.seconds:.1f} s", STATUS_MS
        )

    # -- drag and drop in ------------------------------------------------------------------
    def _accepts(self, event: QDragEnterEvent | QDragMoveEvent) -> bool:
        return event.source() is None and not self.worker.busy and bool(local_paths(event.mimeData()))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._accepts(event):
            event.acceptProposedAction()
            self.drop_zone.set_active(True)
        else:
            event.ignore()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.drop_zone.set_active(False)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if self._accepts(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        self.drop_zone.set_active(False)
        paths = local_paths(event.mimeData())
        if event.source() is not None or not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        if self.worker.busy:
            self._busy_message()
            return
        # Ask and start the job after the drop returns, so the file manager is not kept waiting.
        QTimer.singleShot(0, lambda: self.add_paths(paths))

    # -- extracting, testing, deleting ---------------------------------------------------------
    def selected_names(self) -> list[str]:
        """The selected members; a folder stands for everything below it, as the core's jobs take it."""
        return [index.data(NAME_ROLE) for index in self.view.selectionModel().selectedRows()]

    def extract_all(self) -> None:
        self._extract(None)

    def extract_selected(self) -> None:
        names = self.selected_names()
        if names:
            self._extract(names)

    def _extract(self, members: list[str] | None) -> None:
        if self.archive is None:
            return
        dest = self.ask_extract_folder(new_folder(self._extract_parent(), self.archive.stem))
        if dest:
            self.extract_to(Path(dest), members)
        else:
            self.statusBar().showMessage("Extraction cancelled", STATUS_MS)

    def extract_to(
        self,
        dest: Path,
        members: list[str] | None = None,
        *,
        keep_going: bool = False,
        resolutions: dict[str, Resolution] | None = None,
    ) -> None:
        """Extract into ``dest`` with the overwrite policy from the settings: on "ask", every file
        already there is asked about first (Replace / Skip / Keep Both); ``resolutions`` are answers given."""
        if self.archive is None:
            return
        answers = dict(resolutions or {})
        if self.settings.overwrite == "ask":
            asked = self._resolve_conflicts(dest, members, answers)
            if asked is None:
                self.statusBar().showMessage("Extraction cancelled", STATUS_MS)
                return
            answers.update(asked)
        self._submit(
            EXTRACT,
            self.archive,
            dest=str(dest),
            members=tuple(members) if members else None,
            overwrite=self.settings.overwrite == "always",
            keep_going=keep_going,
            resolutions=tuple(answers.items()),
            on_success=lambda o: self.statusBar().showMessage(
                f"Extracted {entries_text(o.finished.entries)} to {dest}", STATUS_MS
            ),
            on_failure=lambda o: self._extract_failed(o, dest, members, answers, keep_going=keep_going),
        )

    def _resolve_conflicts(
        self, dest: Path, members: list[str] | None, known: dict[str, Resolution]
    ) -> dict[str, Resolution] | None:
        """Ask about each file already at its target that has no answer yet; None if the user cancels."""
        assert self.archive is not None
        try:
            with ContainerReader(self.archive) as reader:
                entries = list(reader.entries)
        except (LMArchiveError, OSError):
            return {}  # the job reports it
        if members:
            tops = tuple(m.strip("/") for m in members)
            entries = [e for e in entries if any(e.name == t or e.name.startswith(t + "/") for t in tops)]
        conflicts = [Conflict(e, st) for e, st in existing_targets(entries, dest) if e.name not in known]
        answers: dict[str, Resolution] = {}
        for number, conflict in enumerate(conflicts):
            asked = self.ask_conflict(conflict, dest, len(conflicts) - number - 1)
            if asked is None:
                return None
            answer, to_all = asked
            if to_all:
                answers.update((c.entry.name, answer) for c in conflicts[number:])
                break
            answers[conflict.entry.name] = answer
        return answers

    def _extract_failed(
        self,
        outcome: JobOutcome,
        dest: Path,
        members: list[str] | None,
        answers: dict[str, Resolution],
        *,
        keep_going: bool,
    ) -> None:
        """Damage: offer the intact members (or, having written them, say what is damaged); a file that
        appeared since the question: ask about it too; anything else: the error."""
        finished = outcome.finished
        if finished.cancelled:
            return
        if keep_going and outcome.damage:
            self.show_damage_report(outcome.damage, dest)
            return
        if not keep_going and outcome.error_type in DAMAGE_ERRORS:
            if self.ask_extract_intact(finished.error or ""):
                self.extract_to(dest, members, keep_going=True, resolutions=answers)
            else:
                self.statusBar().showMessage("Extraction cancelled: nothing was extracted", STATUS_MS)
            return
        if outcome.error_type == "OverwriteError" and self.settings.overwrite == "ask":
            asked = self._resolve_conflicts(dest, members, answers)  # a file that appeared since the question
            if asked is None:
                self.statusBar().showMessage("Extraction cancelled", STATUS_MS)
                return
            if asked:
                self.extract_to(dest, members, keep_going=keep_going, resolutions=answers | asked)
                return
        self.show_error(_ERROR_TITLES[EXTRACT], finished.error or "unknown error")

    def extract_next_to_archive(self, members: list[str] | None = None) -> None:
        """Ark/7-Zip-style: into a new folder named after the archive ('docs', else 'docs (2)'), beside it
        (or in the folder chosen in the settings)."""
        if self.archive is not None:
            self.extract_to(new_folder(self._extract_parent(), self.archive.stem), members)

    def extract_all_here(self) -> None:
        self.extract_next_to_archive()

    def extract_selected_here(self) -> None:
        names = self.selected_names()
        if names:
            self.extract_next_to_archive(names)

    def test_archive(self) -> None:
        if self.archive is None:
            return
        name = self.archive.name
        self._submit(
            TEST,
            self.archive,
            on_success=lambda o: self.show_info(
                "Test passed", f"All {entries_text(o.finished.entries)} of {name} decoded and matched their checksums."
            ),
            on_failure=self._test_failed,
        )

    def _test_failed(self, outcome: JobOutcome) -> None:
        """Damage is listed member by member, with a way to extract everything that is intact."""
        if outcome.finished.cancelled:
            return
        if outcome.error_type != "DamagedArchiveError" or not outcome.damage:
            self.show_error(_ERROR_TITLES[TEST], outcome.finished.error or "unknown error")
        elif self.ask_damage_after_test(outcome.damage):
            self._extract_intact()

    def _extract_intact(self) -> None:
        """Extract All, writing every intact member of a damaged archive."""
        if self.archive is None:
            return
        dest = self.ask_extract_folder(new_folder(self._extract_parent(), self.archive.stem))
        if dest:
            self.extract_to(Path(dest), keep_going=True)

    def delete_selected(self) -> None:
        names = self.selected_names()
        if self.archive is None or not names or not self.ask_delete(names):
            return
        count = len(names)
        self._submit(
            DELETE,
            self.archive,
            members=tuple(names),
            on_success=lambda _o: self.statusBar().showMessage(f"Deleted {entries_text(count)}", STATUS_MS),
        )

    # -- opening entries, dragging them out ----------------------------------------------------
    def _entry_activated(self, index: QModelIndex) -> None:
        """Double-click or Enter: a folder opens or closes in the tree (never extracts), a file opens."""
        if index.data(FOLDER_ROLE):
            self.view.toggle(index)
        else:
            self.open_entry(index.data(NAME_ROLE))

    def open_selected(self) -> None:
        rows = self.view.selectionModel().selectedRows()
        if len(rows) == 1:
            self._entry_activated(rows[0])

    def copy_selected_names(self) -> None:
        names = self.selected_names()
        if names:
            QApplication.clipboard().setText("\n".join(names))

    def entry_menu(self, at: QModelIndex) -> QMenu:
        """The right-click menu: what can be done to the selection, or, on empty space, adding."""
        menu = QMenu(self)
        if at.isValid():
            menu.addActions([self.open_entry_action, self.extract_selected_action, self.extract_here_action])
            menu.addSeparator()
            menu.addActions([self.delete_action, self.copy_names_action])
        else:
            menu.addActions([self.add_files_action, self.add_folder_action])
            menu.addSeparator()
            menu.addActions([self.extract_all_here_action, self.extract_all_action])
        return menu

    def _show_entry_menu(self, pos: QPoint) -> None:
        menu = self.entry_menu(self.view.indexAt(pos))
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(self.view.viewport().mapToGlobal(pos))

    def open_entry(self, name: str) -> None:
        """Extract an entry to the session's scratch folder and open it with the default application."""
        self.materialize([name], lambda paths: self._open_local(paths[0]))

    def _open_local(self, path: Path) -> None:
        if not self.open_url(QUrl.fromLocalFile(str(path))):
            self.show_error("Could not open the entry", f"No application is set up to open {path.name}")

    def materialize(self, names: Sequence[str], then: Callable[[list[Path]], None]) -> None:
        """Make sure ``names`` (folders with their contents) exist in the scratch folder, then call ``then``."""
        if self.archive is None:
            return
        folder = self._scratch.folder_for(self.archive)
        prefixes = tuple(f"{name}/" for name in names)
        wanted = [n for n in self.model.names() if n in names or n.startswith(prefixes)]
        missing = tuple(n for n in wanted if not (folder / n).exists())
        # Drop names that lie inside another selected folder: the folder carries them.
        top = [n for n in names if not any(n.startswith(p) for p in prefixes if p != f"{n}/")]
        targets = [folder / n for n in top]
        if not missing:
            then(targets)
            return
        self._submit(
            EXTRACT,
            self.archive,
            dest=str(folder),
            members=missing,
            overwrite=True,
            on_success=lambda _o: then(targets),
        )

    def prepare_drag(self) -> QMimeData | None:
        """File URLs of the selected entries, extracted first (waiting, with the window responsive)."""
        names = self.selected_names()
        if self.archive is None or not names:
            return None
        if self.worker.busy:
            self._busy_message()
            return None
        ready: list[Path] = []
        self.materialize(names, ready.extend)
        self.wait_for_jobs()
        if not ready:
            return None
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path)) for path in ready])
        return mime

    def wait_for_jobs(self) -> None:
        """Run a local event loop until no job is running (the window stays live meanwhile)."""
        if self._job is None:
            return
        loop = QEventLoop()

        def check(_outcome: object) -> None:
            if self._job is None:
                loop.quit()

        self.job_done.connect(check)
        loop.exec()
        self.job_done.disconnect(check)

    # -- jobs -------------------------------------------------------------------------------
    def _busy_message(self) -> None:
        self.statusBar().showMessage("A job is running: wait for it to finish, or cancel it (Esc)", STATUS_MS)

    def _submit(
        self,
        kind: str,
        archive: Path | None,
        *,
        on_success: Callable[[JobOutcome], None] | None = None,
        on_failure: Callable[[JobOutcome], None] | None = None,
        restore: Path | None = None,
        **fields: object,
    ) -> bool:
        if self.worker.busy:
            self._busy_message()
            return False
        where = str(archive) if archive is not None else ""
        request = JobRequest(next(self._ids), kind, where, self.settings.model, self.settings.device, **fields)  # type: ignore[arg-type]
        self._start(_ActiveJob(request, on_success, on_failure, restore))
        return True

    def _start(self, job: _ActiveJob) -> None:
        self._job = job
        self._notices = []
        self.progress.start(job.request)
        self._update_state()
        self.worker.submit(job.request)

    def cancel_job(self) -> None:
        if self._job is not None:
            self.progress.cancel_button.click()

    def _on_worker_event(self, event: Event) -> None:
        job = self._job
        if job is None:
            return
        self.progress.on_event(event)
        if isinstance(event, JobStarted):
            job.started = event
        elif isinstance(event, EntryFinished) and job.request.kind in (CREATE, ADD):
            self._finished_rows.append(event)
            if not self._row_timer.isActive():
                self._row_timer.start()
        elif isinstance(event, Notice):
            self._notices.append(event.message)

    def _flush_rows(self) -> None:
        """Show entries as a job finishes them, a batch at a time (one insert, one sort)."""
        rows, self._finished_rows = self._finished_rows, []
        if rows:
            self.model.apply_finished(rows)
            self._update_state()

    def _on_job_finished(self, outcome: JobOutcome) -> None:
        job, self._job = self._job, None
        if job is None or outcome.job_id != job.request.job_id:
            return
        self.progress.finish()
        self._row_timer.stop()
        self._flush_rows()
        request, finished = job.request, outcome.finished
        if request.kind in WRITING_KINDS and self.archive == Path(request.archive):
            if job.restore is not None and not self.archive.exists():
                self.close_archive()  # the create made nothing: back to the archive shown before it
                self.open_archive(job.restore)
            else:
                self._reload()
        self._update_state()
        if finished.cancelled:
            self.statusBar().showMessage("Cancelled: nothing was changed", STATUS_MS)
            if job.on_failure is not None:
                job.on_failure(outcome)
        elif not finished.ok:
            if job.on_failure is not None:
                job.on_failure(outcome)
            else:
                self.show_error(_ERROR_TITLES.get(request.kind, "The job failed"), finished.error or "unknown error")
        else:
            if self._notices:
                more = f" (and {len(self._notices) - 1} more)" if len(self._notices) > 1 else ""
                log.info("notices: %s", self._notices)
                self.statusBar().showMessage(f"Note: {self._notices[0]}{more}", STATUS_MS)
            if job.on_success is not None:
                job.on_success(outcome)
        self.job_done.emit(outcome)

    # -- dialogs ----------------------------------------------------------------------------
    def open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec() == SettingsDialog.DialogCode.Accepted:
            self.apply_settings(dialog.settings())

    def show_about(self) -> AboutDialog:
        """The About dialog, rebuilt for the current settings unless a job of its own is still running."""
        own_job = self._job is not None and self._job.request.kind in (SELFTEST, INSPECT)
        if self._about is not None and not own_job:
            self._about.deleteLater()
            self._about = None
        if self._about is None:
            about = self._about = AboutDialog(self.settings, self)
            about.selftest_requested.connect(self.run_selftest)
            if not self._submit(
                INSPECT,
                None,
                on_success=lambda outcome: about.show_facts(outcome.facts),
                on_failure=lambda outcome: about.show_facts_unavailable(outcome.finished.error or "unknown"),
            ):
                about.show_facts_unavailable("shown when no job is running")
        self._about.show()
        self._about.raise_()
        return self._about

    def run_selftest(self) -> None:
        about = self._about
        if about is None:
            return

        def report(outcome: JobOutcome) -> None:
            about.show_selftest_result(outcome.detail or outcome.finished.error or "FAIL: the selftest did not finish")

        if not self._submit(SELFTEST, None, dest=str(self._scratch.root), on_success=report, on_failure=report):
            about.show_selftest_result("Another job is running: try again when it has finished.")

    # -- quitting ----------------------------------------------------------------------------
    def _focus_filter(self) -> None:
        self.filter.setFocus()
        self.filter.selectAll()

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
