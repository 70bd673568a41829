"""Time one header click's sort of 10,000 entries: Qt's own proxy sort against the entry model's.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/sort_timing.py

Why the entry list sorts in its model (lmarchive_gui/entry_model.py): a plain
QSortFilterProxyModel calls the model's data() across the Python boundary for every comparison.
"""

from __future__ import annotations

import random
import time
from typing import Any

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtWidgets import QApplication

from lmarchive.container import ChunkRecord, EntryRecord, EntryType, Method
from lmarchive_gui.entry_model import Column, EntryFilterProxy, EntryTableModel


def record(name: str, size: int) -> EntryRecord:
    chunk = ChunkRecord(16, size // 3, size, size, 0, Method.MODEL)
    return EntryRecord(
        name, EntryType.FILE, size, 1_700_000_000 * 10**9, 0o644, Method.MODEL, "cm2", bytes(32), size // 2, 0, (chunk,)
    )


def main() -> None:
    app = QApplication([])  # noqa: F841  (models need an application object)
    rng = random.Random(5)
    sizes = rng.sample(range(1000, 10_000_000), 10_000)
    model = EntryTableModel()
    model.set_entries([record(f"folder{i % 50}/file{i:05d}.txt", s) for i, s in enumerate(sizes)])
    data = EntryTableModel.data
    calls = 0

    def counting(self: EntryTableModel, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        nonlocal calls
        calls += 1
        return data(self, index, role)

    for column in (Column.SIZE, Column.NAME):
        plain = QSortFilterProxyModel()  # Qt's own sort, through data()
        plain.setSourceModel(model)
        plain.setSortRole(Qt.ItemDataRole.DisplayRole)
        EntryTableModel.data = counting  # type: ignore[method-assign]
        calls = 0
        started = time.perf_counter()
        plain.sort(column, Qt.SortOrder.DescendingOrder)
        qt_s = time.perf_counter() - started
        EntryTableModel.data = data  # type: ignore[method-assign]
        ours = EntryFilterProxy()
        ours.setSourceModel(model)
        started = time.perf_counter()
        ours.sort(column, Qt.SortOrder.DescendingOrder)
        ours_ms = (time.perf_counter() - started) * 1000
        print(f"{column.name}: Qt's proxy sort {qt_s:.3f} s ({calls:,} data() calls), the model's {ours_ms:.1f} ms")


if __name__ == "__main__":
    main()
