"""The entry tree's view: folders that open and close, kept open across reloads, and drags out.

A drag out extracts the selection first (drag_out's docstring says why); the window passes
the function that does it.  Jobs that change the archive reload the whole listing, which resets
the model: the folders that were open are opened again by name, so adding a file does not
collapse the tree the user was looking at.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import (
    QAbstractItemModel,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeView,
    QWidget,
)

from lmarchive_gui.entry_tree import EntryTreeModel


class RoomyRows(QStyledItemDelegate):
    """Rows a little taller than the text, so the ratio column's two bars have room."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        hint = super().sizeHint(option, index)
        return QSize(hint.width(), max(hint.height(), option.fontMetrics.height() + 8))


class EntryView(QTreeView):
    drag_ready_late = Signal()

    def __init__(self, drag_provider: Callable[[], QMimeData | None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._drag_provider = drag_provider
        self._open: set[str] = set()
        """The folders open before the model's last reset, by path."""
        self._fresh = True
        """Whether the last reset brought a new listing (another archive's, or one into an empty view)."""
        self._forget = False
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setUniformRowHeights(True)  # lets Qt skip measuring each of ten thousand rows
        self.setExpandsOnDoubleClick(False)  # activation toggles folders, for Enter and double-click alike
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setItemDelegate(RoomyRows(self))

    def setModel(self, model: QAbstractItemModel | None) -> None:
        super().setModel(model)
        if model is not None:
            model.modelAboutToBeReset.connect(self._remember_open)
            model.modelReset.connect(self._reopen)
            model.rowsInserted.connect(self._first_rows)

    def toggle(self, index: QModelIndex) -> None:
        """Open a closed folder, close an open one."""
        first = index.siblingAtColumn(0)
        self.setExpanded(first, not self.isExpanded(first))

    def show_matches(self, pattern: str) -> None:
        """While a filter is typed, open every folder, so what matches is in sight."""
        if pattern:
            self.expandAll()

    def _folders(self) -> dict[str, QModelIndex]:
        """The view's index of each folder, found through the tree model under the filter proxy (the walk
        goes by folder, not by row: a reload of ten thousand entries should not visit each of them)."""
        proxy = self.model()
        if not isinstance(proxy, QSortFilterProxyModel):
            return {}
        tree = proxy.sourceModel()
        if not isinstance(tree, EntryTreeModel):
            return {}
        found = {name: proxy.mapFromSource(tree.index_of(name)) for name in tree.folder_names()}
        return {name: index for name, index in found.items() if index.isValid()}

    def forget_open(self) -> None:
        """The next listing is another archive's: open its single top folder, not this one's folders."""
        self._forget = True

    def _remember_open(self) -> None:
        self._fresh = self._forget or self.model().rowCount() == 0
        self._forget = False
        self._open = set() if self._fresh else {n for n, i in self._folders().items() if self.isExpanded(i)}

    def _first_rows(self, parent: QModelIndex, first: int, _last: int) -> None:
        """A job filling an empty listing (a new archive): its first top folder opens, as a new listing's does."""
        if not parent.isValid() and first == 0 and self.model().rowCount() == 1:
            self.expand(self.model().index(0, 0))

    def _reopen(self) -> None:
        """Open again what was open; a new listing opens its single top folder, as 'docs.lmz' holds 'docs/'."""
        model = self.model()
        if self._fresh:
            if model.rowCount() == 1:
                self.expand(model.index(0, 0))
            return
        for name, index in self._folders().items():
            if name in self._open:
                self.expand(index)

    def startDrag(self, supportedActions: Qt.DropAction) -> None:
        mime = self._drag_provider()
        if mime is None:
            return
        if not QApplication.mouseButtons() & Qt.MouseButton.LeftButton:
            self.drag_ready_late.emit()
            return
        drag = QDrag(self)
        drag.setMimeData(mime)
        drag.exec(Qt.DropAction.CopyAction)
