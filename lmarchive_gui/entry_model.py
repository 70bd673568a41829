"""The archive's entries as a Qt table model, and the proxy that sorts and filters them.

Rows are plain Python objects and cells are formatted only when the view asks for them, so a
listing of ten thousand entries fills at once.  Sorting is done by the source model with one
Python ``list.sort`` on raw values, and the proxy forwards its ``sort`` there: measured with
10,000 entries, QSortFilterProxyModel's own sort calls ``data()`` across the Python boundary
about 300,000 times and takes 0.5-1 s per click, the model's sort a few milliseconds.  The proxy
does the filtering, and keeps the source's order.  The window shows these rows as a folder tree
(lmarchive_gui/entry_tree.py), which formats its cells through :meth:`EntryTableModel.row_data` and sorts
each folder with the same keys.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtWidgets import QApplication, QStyle

from lmarchive.container import EntryRecord
from lmarchive.jobs import EntryFinished
from lmarchive_gui.formatting import bytes_text, mtime_text, ratio_text, size_text
from lmarchive_gui.profiles import model_names, model_note

RATIO_ROLE = Qt.ItemDataRole.UserRole + 2
"""(our ratio, gzip's ratio or None) for the bars; None where there is nothing to compare."""
NAME_ROLE = Qt.ItemDataRole.UserRole + 3
"""The entry's member name, whatever the column."""

AnyIndex = QModelIndex | QPersistentModelIndex


class Column(enum.IntEnum):
    NAME = 0
    SIZE = 1
    PACKED = 2
    RATIO = 3
    GZIP = 4
    METHOD = 5
    MODEL = 6
    MODIFIED = 7


HEADERS = {
    Column.NAME: "Name",
    Column.SIZE: "Size",
    Column.PACKED: "Packed",
    Column.RATIO: "Ratio",
    Column.GZIP: "gzip ratio",
    Column.METHOD: "Method",
    Column.MODEL: "Model",
    Column.MODIFIED: "Modified",
}
HEADER_TIPS = {
    Column.RATIO: "Packed size as a share of the original (shorter bars are better).\n"
    "Upper bar: LM Archive; lower bar: what gzip -9 would have given.",
    Column.GZIP: "What gzip -9 would have packed this entry to, as a share of the original",
    Column.METHOD: "model: coded by the model; zstd or store: where that was smaller",
    Column.MODEL: "The profile whose model coded the entry (its exact model id is in the tooltip)",
}
_NUMERIC = {Column.SIZE, Column.PACKED, Column.RATIO, Column.GZIP}


@dataclass
class Row:
    """One entry as the table shows it."""

    name: str
    is_dir: bool
    size: int
    packed: int
    gzip_size: int
    method: str
    model: str
    mtime_ns: int | None
    """None for an entry just coded by a running job; the reload at its end fills it in."""

    @classmethod
    def from_record(cls, entry: EntryRecord) -> Row:
        return cls(
            entry.name,
            entry.is_dir,
            entry.size,
            entry.packed,
            entry.gzip_size,
            entry.method.name.lower(),
            entry.model,
            entry.mtime_ns,
        )

    @classmethod
    def from_event(cls, event: EntryFinished) -> Row:
        return cls(event.name, event.is_dir, event.size, event.packed, event.gzip_size, event.method, event.model, None)

    @property
    def ratio(self) -> float | None:
        return self.packed / self.size if self.size and not self.is_dir else None

    @property
    def gzip_ratio(self) -> float | None:
        return self.gzip_size / self.size if self.size and self.gzip_size and not self.is_dir else None


@dataclass(frozen=True)
class Totals:
    """Sums over the files (folders count as entries, not bytes), for the status bar."""

    entries: int
    folders: int
    size: int
    packed: int
    gzip_size: int


class EntryTableModel(QAbstractTableModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Row] = []
        self._index: dict[str, int] = {}
        self._sorting: tuple[Column, Qt.SortOrder] | None = None
        style = QApplication.style()
        self._folder_icon = style.standardIcon(QStyle.StandardPixmap.SP_DirIcon)
        self._file_icon = style.standardIcon(QStyle.StandardPixmap.SP_FileIcon)
        self._model_names = model_names()
        """Concrete model id -> plain name ('cmx' -> 'Fast'); unknown ids are shown as they are."""

    # -- contents -------------------------------------------------------------------------
    def set_entries(self, entries: Iterable[EntryRecord]) -> None:
        """Replace every row (one reset, so the view and proxy rebuild once)."""
        self.beginResetModel()
        self._rows = [Row.from_record(e) for e in entries]
        if self._sorting is not None:
            self._rows.sort(key=SORT_KEYS[self._sorting[0]], reverse=self._sorting[1] == Qt.SortOrder.DescendingOrder)
        self._index = {row.name: i for i, row in enumerate(self._rows)}
        self.endResetModel()

    def clear(self) -> None:
        self.set_entries(())

    def apply_finished(self, events: Sequence[EntryFinished]) -> None:
        """Show entries a job has just coded: update rows already there, append the new ones at once."""
        new: list[Row] = []
        for event in events:
            row = Row.from_event(event)
            at = self._index.get(row.name)
            if at is None:
                self._index[row.name] = len(self._rows) + len(new)
                new.append(row)
            else:
                self._rows[at] = row
                self.dataChanged.emit(self.index(at, 0), self.index(at, len(Column) - 1))
        if new:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            self._rows.extend(new)
            self.endInsertRows()
        if new and self._sorting is not None:
            self.sort(*self._sorting)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Order the rows by a column's raw values, keeping selections and the current row in place."""
        self._sorting = (Column(column), order)
        self.layoutAboutToBeChanged.emit()
        before = self.persistentIndexList()
        names = [self._rows[i.row()].name for i in before]
        self._rows.sort(key=SORT_KEYS[Column(column)], reverse=order == Qt.SortOrder.DescendingOrder)
        self._index = {row.name: i for i, row in enumerate(self._rows)}
        after = [self.index(self._index[name], i.column()) for name, i in zip(names, before, strict=True)]
        self.changePersistentIndexList(before, after)
        self.layoutChanged.emit()

    def row(self, number: int) -> Row:
        return self._rows[number]

    def names(self) -> list[str]:
        return [row.name for row in self._rows]

    def folders_by_name(self) -> dict[str, bool]:
        """Every entry's name, and whether it is a folder."""
        return {row.name: row.is_dir for row in self._rows}

    def totals(self) -> Totals:
        files = [r for r in self._rows if not r.is_dir]
        return Totals(
            len(self._rows),
            len(self._rows) - len(files),
            sum(r.size for r in files),
            sum(r.packed for r in files),
            sum(r.gzip_size for r in files),
        )

    # -- QAbstractTableModel --------------------------------------------------------------
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(Column):
            return None
        column = Column(section)
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _NUMERIC:
            side = Qt.AlignmentFlag.AlignLeft if column == Column.RATIO else Qt.AlignmentFlag.AlignRight
            return int(side | Qt.AlignmentFlag.AlignVCenter)  # the ratio's number starts its cell
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        return self.row_data(self._rows[index.row()], Column(index.column()), role)

    def row_data(self, row: Row, column: Column, role: int) -> Any:
        """A cell of ``row`` (in this model or not): the folder tree shows its rows through this."""
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == RATIO_ROLE:
            return None if row.ratio is None else (row.ratio, row.gzip_ratio)
        if role == NAME_ROLE:
            return row.name
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.DecorationRole and column == Column.NAME:
            return self._folder_icon if row.is_dir else self._file_icon
        return None

    def _display(self, row: Row, column: Column) -> str:
        if column == Column.NAME:
            return row.name + "/" if row.is_dir else row.name
        if row.is_dir:
            return "" if column != Column.MODIFIED or row.mtime_ns is None else mtime_text(row.mtime_ns)
        match column:
            case Column.SIZE:
                return size_text(row.size)
            case Column.PACKED:
                return size_text(row.packed)
            case Column.RATIO:
                return ratio_text(row.packed, row.size)
            case Column.GZIP:
                return ratio_text(row.gzip_size, row.size) if row.gzip_size else ""
            case Column.METHOD:
                return row.method
            case Column.MODEL:
                return self._model_names.get(row.model, row.model) if row.method == "model" else ""
        return "" if row.mtime_ns is None else mtime_text(row.mtime_ns)

    @staticmethod
    def _tooltip(row: Row, column: Column) -> str | None:
        if column == Column.NAME:
            return row.name
        if row.is_dir:
            return None
        if column == Column.SIZE:
            return bytes_text(row.size)
        if column == Column.PACKED:
            return bytes_text(row.packed)
        if column == Column.MODEL and row.method == "model" and row.model:
            return f"{row.model}: {model_note(row.model)}"
        if column in (Column.RATIO, Column.GZIP) and row.size:
            ours = f"LM Archive: {ratio_text(row.packed, row.size)} of the original ({bytes_text(row.packed)})"
            if not row.gzip_size:
                return ours
            gzip = f"gzip -9: {ratio_text(row.gzip_size, row.size)} ({bytes_text(row.gzip_size)})"
            saving = 1 - row.packed / row.gzip_size
            verdict = f"{abs(saving):.0%} {'smaller' if saving >= 0 else 'larger'} than gzip -9"
            return f"{ours}\n{gzip}\n{verdict}"
        return None


SORT_KEYS: dict[Column, Callable[[Row], Any]] = {
    Column.NAME: lambda r: (r.name.casefold(), r.name),
    Column.SIZE: lambda r: r.size,
    Column.PACKED: lambda r: r.packed,
    Column.RATIO: lambda r: -1.0 if r.ratio is None else r.ratio,
    Column.GZIP: lambda r: -1.0 if r.gzip_ratio is None else r.gzip_ratio,
    Column.METHOD: lambda r: r.method,
    Column.MODEL: lambda r: r.model,
    Column.MODIFIED: lambda r: r.mtime_ns or 0,
}
"""Raw values to sort on (folders and empty files sort below every real ratio)."""


class EntryFilterProxy(QSortFilterProxyModel):
    """Filters names by substring, or by wildcard when the text has * ? or [; sorting goes to the source."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(Column.NAME)
        self.setFilterRole(NAME_ROLE)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Let the source model sort (see the module's docstring); this proxy keeps its order."""
        source = self.sourceModel()
        if source is not None and column >= 0:
            source.sort(column, order)

    def set_pattern(self, text: str) -> None:
        if any(c in text for c in "*?["):
            self.setFilterWildcard(text)
        else:
            self.setFilterFixedString(text)
