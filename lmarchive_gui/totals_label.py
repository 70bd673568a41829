"""The status bar's summary of the listing: entries, folders, sizes, the ratio, gzip's for comparison.

It sits in a label that elides rather than cuts: the summary is long, and a narrow window or a
large scale factor leaves it less room than it needs.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from lmarchive_gui.entry_model import Totals
from lmarchive_gui.formatting import ratio_text, size_text
from lmarchive_gui.progress_panel import entries_text


def totals_text(totals: Totals, shown: int) -> str:
    """Entries and folders, sizes and the ratio, what gzip -9 would give, and how many of the entries
    the filter shows when that is not all of them."""
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
    if shown != totals.entries:
        parts.append(f"{shown:,} shown")
    return "  ·  ".join(parts)


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
