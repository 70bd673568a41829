"""The archive's entries as a folder tree, as 7-Zip and Ark show them, over the flat entry model.

:class:`~lmarchive_gui.entry_model.EntryTableModel` stays the one store of rows (jobs update it, the status
bar sums it); this model mirrors it as one node per path and synthesises the folders that an
archive implies without storing them (``a/b.txt`` alone still shows a folder ``a``).  Cells are
formatted by the flat model, so both show the same text, tooltips and ratio bars.  Each folder's
children are sorted by the view's column with one Python sort, folders first as file managers
list them; walks are iterative, so a hostile archive nested thousands deep cannot exhaust the stack.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from lmarchive_gui.entry_model import NAME_ROLE, SORT_KEYS, AnyIndex, Column, EntryFilterProxy, EntryTableModel, Row

FOLDER_ROLE = Qt.ItemDataRole.UserRole + 4
"""Whether a node is a folder (stored, synthesised, or a file that other names sit under)."""


class Node:
    """One path of the tree; ``row`` is the stored entry, or a stand-in for a synthesised folder."""

    __slots__ = ("by_label", "children", "label", "parent", "position", "row")

    def __init__(self, row: Row, parent: Node | None) -> None:
        self.row = row
        self.parent = parent
        self.label = row.info.name.rsplit("/", 1)[-1]
        self.children: list[Node] = []
        self.by_label: dict[str, Node] = {}
        self.position = 0

    @property
    def is_folder(self) -> bool:
        return self.row.info.is_dir() or bool(self.children)


class EntryTreeModel(QAbstractItemModel):
    """Follows an :class:`EntryTableModel`: rebuilt on its reset, grown by its inserts, updated by its changes."""

    def __init__(self, source: EntryTableModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._source = source
        self._root = Node(Row.implied(""), None)
        self._nodes: dict[str, Node] = {}
        self._sorting: tuple[Column, Qt.SortOrder] | None = None
        source.modelReset.connect(self._rebuild)
        source.rowsInserted.connect(self._inserted)
        source.dataChanged.connect(self._changed)
        self._rebuild()

    # -- following the flat model ----------------------------------------------------------
    def _rebuild(self) -> None:
        self.beginResetModel()
        self._root = Node(Row.implied(""), None)
        self._nodes = {}
        for number in range(self._source.rowCount()):
            self._place(self._source.row(number), signal=False)
        self._sort_all()
        self.endResetModel()

    def _inserted(self, _parent: AnyIndex, first: int, last: int) -> None:
        for number in range(first, last + 1):
            self._place(self._source.row(number), signal=True)
        if self._sorting is not None:
            self.sort(*self._sorting)

    def _changed(self, top_left: AnyIndex, bottom_right: AnyIndex, _roles: object = None) -> None:
        for number in range(top_left.row(), bottom_right.row() + 1):
            self._place(self._source.row(number), signal=True)

    def _place(self, row: Row, *, signal: bool) -> None:
        """Put ``row`` at its path, making the folders above it that do not exist yet."""
        parent = self._root
        parts = row.info.name.split("/")
        for depth in range(1, len(parts) + 1):
            name = "/".join(parts[:depth])
            node = self._nodes.get(name)
            last = depth == len(parts)
            if node is None:
                node = Node(row if last else Row.implied(name), parent)
                node.position = len(parent.children)
                if signal:
                    self.beginInsertRows(self._index_of(parent), node.position, node.position)
                parent.children.append(node)
                parent.by_label[node.label] = node
                self._nodes[name] = node
                if signal:
                    self.endInsertRows()
            elif last:
                node.row = row  # a folder that was synthesised, or an entry coded again
                if signal:
                    self.dataChanged.emit(self._index_of(node), self._index_of(node, len(Column) - 1))
            parent = node

    # -- sorting ---------------------------------------------------------------------------
    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Order every folder's children by a column (folders first), keeping selections in place."""
        self._sorting = (Column(column), order)
        self.layoutAboutToBeChanged.emit()
        before = self.persistentIndexList()
        kept = [(self._node(index), index.column()) for index in before]
        self._sort_all()
        self.changePersistentIndexList(before, [self._index_of(node, column) for node, column in kept])
        self.layoutChanged.emit()

    def _sort_all(self) -> None:
        if self._sorting is None:
            return
        key = SORT_KEYS[self._sorting[0]]
        descending = self._sorting[1] == Qt.SortOrder.DescendingOrder
        stack = [self._root]
        while stack:
            node = stack.pop()
            if not node.children:
                continue
            node.children.sort(key=lambda child: key(child.row), reverse=descending)
            node.children.sort(key=lambda child: not child.is_folder)  # stable: folders first, each in order
            for position, child in enumerate(node.children):
                child.position = position
            stack.extend(node.children)

    # -- lookups ---------------------------------------------------------------------------
    def _node(self, index: AnyIndex) -> Node:
        return index.internalPointer() if index.isValid() else self._root

    def _index_of(self, node: Node, column: int = 0) -> QModelIndex:
        return QModelIndex() if node is self._root else self.createIndex(node.position, column, node)

    def folder_names(self) -> list[str]:
        """Every folder's path, stored or synthesised."""
        return [name for name, node in self._nodes.items() if node.is_folder]

    def index_of(self, name: str, column: int = 0) -> QModelIndex:
        """The index of the node at path ``name`` (invalid if there is none)."""
        node = self._nodes.get(name)
        return QModelIndex() if node is None else self._index_of(node, column)

    # -- QAbstractItemModel ----------------------------------------------------------------
    def index(self, row: int, column: int, parent: AnyIndex = QModelIndex()) -> QModelIndex:  # noqa: B008 - Qt's
        children = self._node(parent).children
        if 0 <= row < len(children) and 0 <= column < len(Column):
            return self.createIndex(row, column, children[row])
        return QModelIndex()

    def parent(self, child: AnyIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not child.isValid():
            return QModelIndex()
        up = self._node(child).parent
        return QModelIndex() if up is None else self._index_of(up)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.column() > 0 else len(self._node(parent).children)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        return self._source.headerData(section, orientation, role)

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        node = self._node(index)
        column = Column(index.column())
        if role == FOLDER_ROLE:
            return node.is_folder
        if column == Column.NAME and role == Qt.ItemDataRole.DisplayRole:
            return node.label  # the path is in the tooltip; the tree's indent says where it is
        if column == Column.NAME and role == Qt.ItemDataRole.DecorationRole and node.children:
            return self._source.row_data(Row.implied(node.row.info.name), column, role)
        return self._source.row_data(node.row, column, role)


class EntryTreeProxy(EntryFilterProxy):
    """The filter over the tree: a node shows when its path matches or when something below it does."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setRecursiveFilteringEnabled(True)

    def matching(self, names: list[str]) -> int:
        """How many of ``names`` the filter lets through (the status bar's 'shown')."""
        pattern = self.filterRegularExpression()
        if not pattern.pattern():
            return len(names)
        return sum(1 for name in names if pattern.match(name).hasMatch())


def node_name(index: QModelIndex | QPersistentModelIndex) -> str:
    """The member name (path) of a view's index, whatever its column."""
    return str(index.data(NAME_ROLE))
