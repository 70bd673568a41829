"""The listing page: a filter line with the ratio bars' legend above the entry tree, its columns sized to fit.

The page also does what needs nothing but the listing: it tells which members are selected, opens
and closes folders, and copies names.  Opening a file, the right-click menu and a drag out need
the archive and its jobs, so the window does those, from the view's signals and ``open_requested``.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QMimeData, QModelIndex, Qt, Signal
from PySide6.QtWidgets import QApplication, QHBoxLayout, QHeaderView, QLineEdit, QVBoxLayout, QWidget

from lmarchive_gui.entry_model import HEADERS, NAME_ROLE, Column
from lmarchive_gui.entry_tree import FOLDER_ROLE, EntryTreeProxy
from lmarchive_gui.entry_view import EntryView
from lmarchive_gui.profiles import PROFILE_NAMES
from lmarchive_gui.ratio_delegate import RatioDelegate, RatioLegend, cell_width


class EntryPage(QWidget):
    """The filter line (``filter``) and the entry tree (``view``) over ``proxy``."""

    open_requested = Signal(str)
    """The member name of a file activated (double-click, Enter, or Open on it)."""

    def __init__(
        self, proxy: EntryTreeProxy, drag_provider: Callable[[], QMimeData | None], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter by name, e.g. report or *.txt  (Ctrl+F)")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(proxy.set_pattern)
        filter_row = QHBoxLayout()
        filter_row.addWidget(self.filter, 1)
        filter_row.addSpacing(12)
        filter_row.addWidget(RatioLegend())

        self.view = EntryView(drag_provider)
        self.view.setModel(proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(Column.NAME, Qt.SortOrder.AscendingOrder)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.setItemDelegateForColumn(Column.RATIO, RatioDelegate(self.view))
        self.view.activated.connect(self._activated)
        self.filter.textChanged.connect(self.view.show_matches)
        self._size_columns()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(filter_row)
        layout.addWidget(self.view, 1)

    def _size_columns(self) -> None:
        """The name takes what is left; the other columns fit their widest usual value."""
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
            Column.RATIO: cell_width(metrics) + 8,
            Column.GZIP: digits,
            Column.METHOD: digits - 10,
            Column.MODEL: max(digits - 10, names + 32),
            Column.MODIFIED: digits + 60,
        }
        for column, width in widths.items():
            header.resizeSection(column, width)

    def selected_names(self) -> list[str]:
        """The selected members; a folder stands for everything below it, as the core's jobs take it."""
        return [index.data(NAME_ROLE) for index in self.view.selectionModel().selectedRows()]

    def _activated(self, index: QModelIndex) -> None:
        """Double-click or Enter: a folder opens or closes in the tree (never extracts), a file opens."""
        if index.data(FOLDER_ROLE):
            self.view.toggle(index)
        else:
            self.open_requested.emit(index.data(NAME_ROLE))

    def open_selected(self) -> None:
        rows = self.view.selectionModel().selectedRows()
        if len(rows) == 1:
            self._activated(rows[0])

    def copy_selected_names(self) -> None:
        names = self.selected_names()
        if names:
            QApplication.clipboard().setText("\n".join(names))

    def focus_filter(self) -> None:
        self.filter.setFocus()
        self.filter.selectAll()
