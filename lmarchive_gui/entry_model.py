"""The archive's entries as a Qt table model, and the proxy that sorts and filters them.

Rows are plain Python objects and cells are formatted only when the view asks for them, so a
listing of ten thousand entries fills at once.  Sorting is done by the source model with one
Python ``list.sort`` on raw values, and the proxy forwards its ``sort`` there:
QSortFilterProxyModel's own sort calls ``data()`` across the Python boundary for every comparison,
which on a large listing makes a click on a column header take a noticeable pause, where one
``list.sort`` takes milliseconds (the figures are in docs/BENCHMARKS.md, "The desktop app:
responsiveness").  The proxy does the filtering, and keeps the source's order.  The window shows
these rows as a folder tree (lmarchive_gui/entry_tree.py), which formats its cells through
:meth:`EntryTableModel.row_data` and sorts each folder with the same keys.
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

from lmarchive.container import EntryRecord, EntryType, Method
from lmarchive.jobs import EntryFinished
from lmarchive.member import LMZInfo
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


@dataclass(frozen=True)
class Row:
    """One entry as the table shows it: the member as the archive (or the job coding it) lists it."""

    info: LMZInfo
    stored: bool = True
    """False for a folder that the archive implies without an entry of its own: it has no time to show."""

    @classmethod
    def implied(cls, name: str) -> Row:
        """The row of a folder that the archive has no entry for."""
        return cls(LMZInfo.from_record(EntryRecord(name, EntryType.DIRECTORY, 0, 0, 0)), stored=False)

    @property
    def ratio(self) -> float | None:
        info = self.info
        return info.packed / info.size if info.size and not info.is_dir() else None

    @property
    def gzip_ratio(self) -> float | None:
        info = self.info
        return info.gzip_size / info.size if info.size and info.gzip_size and not info.is_dir() else None


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
        self._rows = [Row(LMZInfo.from_record(e)) for e in entries]
        if self._sorting is not None:
            self._rows.sort(key=SORT_KEYS[self._sorting[0]], reverse=self._sorting[1] == Qt.SortOrder.DescendingOrder)
        self._index = {row.info.name: i for i, row in enumerate(self._rows)}
        self.endResetModel()

    def clear(self) -> None:
        self.set_entries(())

    def apply_finished(self, events: Sequence[EntryFinished]) -> None:
        """Show entries a job has just coded: update rows already there, append the new ones at once."""
        new: list[Row] = []
        for event in events:
            row = Row(event.info)
            at = self._index.get(row.info.name)
            if at is None:
                self._index[row.info.name] = len(self._rows) + len(new)
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
        names = [self._rows[i.row()].info.name for i in before]
        self._rows.sort(key=SORT_KEYS[Column(column)], reverse=order == Qt.SortOrder.DescendingOrder)
        self._index = {row.info.name: i for i, row in enumerate(self._rows)}
        after = [self.index(self._index[name], i.column()) for name, i in zip(names, before, strict=True)]
        self.changePersistentIndexList(before, after)
        self.layoutChanged.emit()

    def row(self, number: int) -> Row:
        return self._rows[number]

    def names(self) -> list[str]:
        return [row.info.name for row in self._rows]

    def folders_by_name(self) -> dict[str, bool]:
        """Every entry's name, and whether it is a folder."""
        return {row.info.name: row.info.is_dir() for row in self._rows}

    def totals(self) -> Totals:
        files = [r.info for r in self._rows if not r.info.is_dir()]
        return Totals(
            len(self._rows),
            len(self._rows) - len(files),
            sum(f.size for f in files),
            sum(f.packed for f in files),
            sum(f.gzip_size for f in files),
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
        info = row.info
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == RATIO_ROLE:
            return None if row.ratio is None else (row.ratio, row.gzip_ratio)
        if role == NAME_ROLE:
            return info.name
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(info, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.DecorationRole and column == Column.NAME:
            return self._folder_icon if info.is_dir() else self._file_icon
        return None

    def _display(self, row: Row, column: Column) -> str:
        info = row.info
        if column == Column.NAME:
            return info.name + "/" if info.is_dir() else info.name
        if info.is_dir():
            return mtime_text(info.mtime_ns) if column == Column.MODIFIED and row.stored else ""
        match column:
            case Column.SIZE:
                return size_text(info.size)
            case Column.PACKED:
                return size_text(info.packed)
            case Column.RATIO:
                return ratio_text(info.packed, info.size)
            case Column.GZIP:
                return ratio_text(info.gzip_size, info.size) if info.gzip_size else ""
            case Column.METHOD:
                return info.method
            case Column.MODEL:
                return self._model_names.get(info.model, info.model) if info.coding == Method.MODEL else ""
        return mtime_text(info.mtime_ns)

    @staticmethod
    def _tooltip(info: LMZInfo, column: Column) -> str | None:
        if column == Column.NAME:
            return info.name
        if info.is_dir():
            return None
        if column == Column.SIZE:
            return bytes_text(info.size)
        if column == Column.PACKED:
            return bytes_text(info.packed)
        if column == Column.MODEL and info.coding == Method.MODEL and info.model:
            return f"{info.model}: {model_note(info.model)}"
        if column in (Column.RATIO, Column.GZIP) and info.size:
            ours = f"LM Archive: {ratio_text(info.packed, info.size)} of the original ({bytes_text(info.packed)})"
            if not info.gzip_size:
                return ours
            gzip = f"gzip -9: {ratio_text(info.gzip_size, info.size)} ({bytes_text(info.gzip_size)})"
            saving = 1 - info.packed / info.gzip_size
            verdict = f"{abs(saving):.0%} {'smaller' if saving >= 0 else 'larger'} than gzip -9"
            return f"{ours}\n{gzip}\n{verdict}"
        return None


SORT_KEYS: dict[Column, Callable[[Row], Any]] = {
    Column.NAME: lambda r: (r.info.name.casefold(), r.info.name),
    Column.SIZE: lambda r: r.info.size,
    Column.PACKED: lambda r: r.info.packed,
    Column.RATIO: lambda r: -1.0 if r.ratio is None else r.ratio,
    Column.GZIP: lambda r: -1.0 if r.gzip_ratio is None else r.gzip_ratio,
    Column.METHOD: lambda r: r.info.method,
    Column.MODEL: lambda r: r.info.model,
    Column.MODIFIED: lambda r: r.info.mtime_ns if r.stored else 0,
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
