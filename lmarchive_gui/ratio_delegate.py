"""The Ratio column's picture: our packed size against gzip's, as two bars under the number.

People would rather look than read: a short upper bar over a long lower one says "much better
than gzip" before anyone parses a percentage.  Colours come from the palette (highlight for ours,
a mid tone for gzip), so the bars follow the light or dark theme and the selection.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from lmarchive_gui.entry_model import RATIO_ROLE

BAR_WIDTH = 120
"""Width of a full (100%) bar in pixels; longer ratios are clipped at it."""
GAP = 6


def bar_colors(palette: QPalette, selected: bool) -> tuple[QColor, QColor]:
    """(ours, gzip) in the palette's terms; on a selected row the highlight is the background."""
    if selected:
        ours = palette.color(QPalette.ColorRole.HighlightedText)
        gzip = QColor(ours)
        gzip.setAlphaF(0.45)
        return ours, gzip
    return palette.color(QPalette.ColorRole.Highlight), palette.color(QPalette.ColorRole.Mid)


def paint_bar(painter: QPainter, rect: QRectF, fraction: float, color: QColor) -> None:
    """A rounded bar ``fraction`` (clipped to 0..1) of ``rect``'s width, at least a sliver."""
    width = max(2.0, rect.width() * min(max(fraction, 0.0), 1.0))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color)
    painter.drawRoundedRect(QRectF(rect.left(), rect.top(), width, rect.height()), 1.5, 1.5)


class RatioDelegate(QStyledItemDelegate):
    """Paints the percentage, then our bar above gzip's beside it; other cells paint as usual."""

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        ratios = index.data(RATIO_ROLE)
        if ratios is None:
            super().paint(painter, option, index)
            return
        ours, gzip = ratios
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text = opt.text
        opt.text = ""
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)

        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        rect = opt.rect.adjusted(4, 0, -4, 0)
        text_width = opt.fontMetrics.horizontalAdvance("100.0%")
        text_rect = QRect(rect.left(), rect.top(), text_width, rect.height())
        bars = QRect(
            text_rect.right() + GAP, rect.top(), min(BAR_WIDTH, rect.right() - text_rect.right() - GAP), rect.height()
        )
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.setPen(opt.palette.color(role))
        painter.setFont(opt.font)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, text)
        if bars.width() > 4:
            ours_color, gzip_color = bar_colors(opt.palette, selected)
            height = max(3, (bars.height() - 8) // 2)
            top = bars.top() + (bars.height() - 2 * height - 2) / 2
            paint_bar(painter, QRectF(bars.left(), top, bars.width(), height), ours, ours_color)
            if gzip is not None:
                paint_bar(painter, QRectF(bars.left(), top + height + 2, bars.width(), height), gzip, gzip_color)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        hint = super().sizeHint(option, index)
        return QSize(cell_width(option.fontMetrics), hint.height())


def cell_width(metrics: QFontMetrics) -> int:
    """Room for '100.0%' and a full bar, with the cell's padding."""
    return metrics.horizontalAdvance("100.0%") + GAP + BAR_WIDTH + 8


class RatioLegend(QWidget):
    """'[bar] LM Archive  [bar] gzip -9' in the delegate's colours, so the bars explain themselves."""

    LABELS = ("LM Archive", "gzip -9")
    SWATCH = 18

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setToolTip("Ratio column: packed size as a share of the original, ours against gzip -9's")

    def sizeHint(self) -> QSize:
        metrics = self.fontMetrics()
        width = sum(self.SWATCH + 4 + metrics.horizontalAdvance(label) + 12 for label in self.LABELS)
        return QSize(width, metrics.height() + 4)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        metrics = self.fontMetrics()
        x = 0
        height = 6
        for label, color in zip(self.LABELS, bar_colors(self.palette(), False), strict=True):
            top = (self.height() - height) / 2
            paint_bar(painter, QRectF(x, top, self.SWATCH, height), 1.0, color)
            x += self.SWATCH + 4
            painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
            width = metrics.horizontalAdvance(label)
            painter.drawText(QRect(x, 0, width, self.height()), Qt.AlignmentFlag.AlignVCenter, label)
            x += width + 12
        painter.end()
