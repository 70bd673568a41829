"""The main window's actions as one table: text, shortcut, icon, tip, the window's slot, and when each is enabled.

As in MusicBrainz Picard (picard/ui/mainwindow/actions.py), the actions are data: the window builds
them from :data:`ACTIONS`, fills its menus, toolbar and right-click menus from the layouts below,
and enables them all from one :class:`UiState`, so adding a command is one row here and its slot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar, QStyle, QToolBar, QWidget


@dataclass(frozen=True)
class UiState:
    """What the actions' enabling depends on."""

    busy: bool
    has_archive: bool
    has_rows: bool
    selected: int
    """How many rows of the entry view are selected."""


def idle(state: UiState) -> bool:
    return not state.busy


def archive_open(state: UiState) -> bool:
    return state.has_archive and not state.busy


def has_entries(state: UiState) -> bool:
    return state.has_archive and state.has_rows and not state.busy


def some_selected(state: UiState) -> bool:
    return state.selected > 0 and not state.busy


def one_selected(state: UiState) -> bool:
    return state.selected == 1 and not state.busy


def any_selected(state: UiState) -> bool:
    """Copying names reads only the listing, so it works while a job runs."""
    return state.selected > 0


def running(state: UiState) -> bool:
    return state.busy


Shortcut = QKeySequence.StandardKey | str
Icon = tuple[str, QStyle.StandardPixmap]
"""A theme icon's name, and the style's icon for platforms without an icon theme."""


@dataclass(frozen=True)
class ActionSpec:
    """One action: ``id`` names it in the layouts and makes the window's attribute '<id>_action'."""

    id: str
    text: str
    slot: str
    """What the action calls: a method of the window ('close_archive') or of a helper it holds ('writing.add_files')."""
    shortcut: Shortcut | None = None
    icon: Icon | None = None
    tip: str | None = None
    """The status tip; the tooltip adds the shortcut to it."""
    enabled_when: Callable[[UiState], bool] | None = None
    """None: always enabled, or (Clear List) enabled by the menu it is in."""


_SP = QStyle.StandardPixmap
_KEY = QKeySequence.StandardKey

ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(
        "new",
        "&New Archive…",
        "writing.new_archive",
        _KEY.New,
        ("document-new", _SP.SP_FileIcon),
        "Create a new, empty archive",
        idle,
    ),
    ActionSpec(
        "open",
        "&Open…",
        "choose_archive",
        _KEY.Open,
        ("document-open", _SP.SP_DialogOpenButton),
        "Open an archive",
        idle,
    ),
    ActionSpec(
        "add_files",
        "Add &Files…",
        "writing.add_files",
        "Ctrl+Shift+A",
        ("list-add", _SP.SP_FileDialogNewFolder),
        "Add files to the archive",
        idle,
    ),
    ActionSpec(
        "add_folder",
        "Add F&older…",
        "writing.add_folder",
        "Ctrl+Shift+D",
        ("folder-new", _SP.SP_DirIcon),
        "Add a folder and everything in it",
        idle,
    ),
    ActionSpec(
        "extract_all",
        "E&xtract All…",
        "extraction.extract_all",
        "Ctrl+E",
        ("archive-extract", _SP.SP_ArrowDown),
        "Extract every entry into a folder",
        has_entries,
    ),
    ActionSpec(
        "extract_selected",
        "Extract &Selected…",
        "extraction.extract_selected",
        "Ctrl+Shift+E",
        ("document-save", _SP.SP_DialogSaveButton),
        "Extract the selected entries into a folder",
        some_selected,
    ),
    ActionSpec(
        "extract_all_here",
        "Extract All &Here",
        "extraction.extract_next_to_archive",
        "Ctrl+Alt+E",
        ("archive-extract", _SP.SP_DirOpenIcon),
        "Extract every entry into a new folder beside the archive, named after it",
        has_entries,
    ),
    ActionSpec(
        "extract_here",
        "Extract &Here",
        "extraction.extract_selected_here",
        icon=("archive-extract", _SP.SP_DirOpenIcon),
        tip="Extract the selected entries into a folder named after the archive, beside it",
        enabled_when=some_selected,
    ),
    ActionSpec(
        "open_entry",
        "O&pen",
        "entries.open_selected",
        tip="Open the selected file with its application, or open the folder",
        enabled_when=one_selected,
    ),
    ActionSpec(
        "copy_names",
        "&Copy Name",
        "entries.copy_selected_names",
        icon=("edit-copy", _SP.SP_FileLinkIcon),
        tip="Copy the selected entries' names (paths in the archive)",
        enabled_when=any_selected,
    ),
    ActionSpec(
        "test",
        "&Test",
        "extraction.test",
        "Ctrl+T",
        ("dialog-ok", _SP.SP_DialogApplyButton),
        "Decode every entry and verify every checksum",
        has_entries,
    ),
    ActionSpec(
        "delete",
        "&Delete",
        "writing.delete_selected",
        _KEY.Delete,
        ("edit-delete", _SP.SP_TrashIcon),
        "Remove the selected entries from the archive",
        some_selected,
    ),
    ActionSpec(
        "settings",
        "Se&ttings…",
        "open_settings",
        "Ctrl+,",
        ("preferences-system", _SP.SP_FileDialogDetailedView),
        "Model, device, extraction and more",
    ),
    ActionSpec("close", "&Close Archive", "close_archive", _KEY.Close, enabled_when=archive_open),
    ActionSpec("quit", "&Quit", "close", _KEY.Quit),
    ActionSpec("cancel", "&Cancel Job", "cancel_job", "Esc", enabled_when=running),
    ActionSpec("filter", "&Filter…", "entries.focus_filter", _KEY.Find),
    ActionSpec("about", "&About LM Archive", "about.show"),
    ActionSpec("clear_recent", "&Clear List", "clear_recent"),
)

SEPARATOR = "-"
RECENT = "recent"
"""Where the Open Recent submenu goes in a layout."""

MENUS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("&File", ("new", "open", RECENT, SEPARATOR, "close", SEPARATOR, "quit")),
    (
        "&Archive",
        (
            *("add_files", "add_folder", SEPARATOR),
            *("extract_all_here", "extract_all", "extract_selected", SEPARATOR),
            *("test", "delete", SEPARATOR, "cancel"),
        ),
    ),
    ("&Edit", ("filter", "settings")),
    ("&Help", ("about",)),
)
TOOLBAR = (
    *("new", "open", SEPARATOR, "add_files", "add_folder", SEPARATOR),
    *("extract_all_here", "extract_all", "extract_selected", "test", "delete", SEPARATOR, "settings"),
)
ENTRY_MENU = ("open_entry", "extract_selected", "extract_here", SEPARATOR, "delete", "copy_names")
"""The right-click menu on entries."""
SPACE_MENU = ("add_files", "add_folder", SEPARATOR, "extract_all_here", "extract_all")
"""The right-click menu on the empty space below them."""


def build_actions(window: QWidget) -> dict[str, QAction]:
    """The actions of :data:`ACTIONS`, by id, each calling its slot on ``window``."""
    actions = {}
    for spec in ACTIONS:
        action = QAction(spec.text, window)
        slot = attrgetter(spec.slot)(window)
        action.triggered.connect(lambda _checked=False, slot=slot: slot())
        if spec.shortcut is not None:
            action.setShortcut(QKeySequence(spec.shortcut))
        if spec.icon is not None:
            name, fallback = spec.icon
            action.setIcon(QIcon.fromTheme(name, window.style().standardIcon(fallback)))
        if spec.tip is not None:
            action.setStatusTip(spec.tip)
            shortcut = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            action.setToolTip(f"{spec.tip} ({shortcut})" if spec.shortcut is not None else spec.tip)
        actions[spec.id] = action
    return actions


def fill(
    target: QMenu | QToolBar,
    layout: Sequence[str],
    actions: Mapping[str, QAction],
    submenus: Mapping[str, QMenu] | None = None,
) -> None:
    """Add the actions (and submenus) of ``layout`` to a menu or toolbar, in order."""
    for item in layout:
        if item == SEPARATOR:
            target.addSeparator()
        elif submenus and item in submenus:
            assert isinstance(target, QMenu), "a toolbar holds no submenus"
            target.addMenu(submenus[item])
        else:
            target.addAction(actions[item])


def build_menus(bar: QMenuBar, actions: Mapping[str, QAction], recent: QMenu) -> None:
    for title, layout in MENUS:
        fill(bar.addMenu(title), layout, actions, {RECENT: recent})


def build_toolbar(window: QWidget, actions: Mapping[str, QAction]) -> QToolBar:
    """The fixed toolbar, with text under each icon."""
    toolbar = QToolBar("Main", window)
    toolbar.setObjectName("main-toolbar")
    toolbar.setMovable(False)
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
    fill(toolbar, TOOLBAR, actions)
    return toolbar


def enable(actions: Mapping[str, QAction], state: UiState) -> None:
    """Enable each action that has a rule as its rule says for ``state``."""
    for spec in ACTIONS:
        if spec.enabled_when is not None:
            actions[spec.id].setEnabled(spec.enabled_when(state))
