"""Numbers as people read them, in the user's locale: sizes, ratios, rates, durations and times."""

from __future__ import annotations

from PySide6.QtCore import QDateTime, QLocale


def size_text(size: int) -> str:
    """'152.1 kB'-style size in the user's locale, in decimal units (1 kB = 1000 bytes) as GNOME and
    macOS show file sizes: Qt's traditional format divides by 1024 yet says kB, which is neither."""
    return QLocale().formattedDataSize(size, 1, QLocale.DataSizeFormat.DataSizeSIFormat)


def bytes_text(size: int) -> str:
    """The exact byte count with the locale's digit grouping, for tooltips."""
    return f"{QLocale().toString(size)} bytes"


def ratio_text(part: int, whole: int) -> str:
    """``part`` as a percentage of ``whole``; empty when there is nothing to compare."""
    return f"{QLocale().toString(100.0 * part / whole, 'f', 1)}%" if whole else ""


def rate_text(bytes_per_second: float) -> str:
    return f"{size_text(int(bytes_per_second))}/s"


def duration_text(seconds: float) -> str:
    """'45 s', '3 min 5 s', '2 h 10 min': precise enough for an estimate, never falsely exact."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def mtime_text(mtime_ns: int) -> str:
    """Local time as the CLI's listing shows it: unambiguous in every locale, and it sorts as text."""
    return QDateTime.fromMSecsSinceEpoch(mtime_ns // 1_000_000).toString("yyyy-MM-dd HH:mm")
