"""The command's text helpers: escaping hostile names, sizes and ratios, counts and tables."""

from __future__ import annotations

from lmarchive.errors import one_line

PROG = "lmarchive"


def printable(text: str) -> str:
    """Escape control characters, so a hostile member name cannot drive the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def message_line(text: str) -> str:
    """An error or warning as one line with control characters escaped: messages quote paths and
    member names, which may hold terminal escapes."""
    return printable(one_line(text))


def bpb(coded: int, size: int) -> str:
    """Bits per byte, the unit compression papers use; ``size`` must be positive."""
    return f"{coded * 8 / size:.3f}"


def ratio(coded: int, size: int) -> str:
    """Coded size as a percentage of the original; '-' for empty entries."""
    return f"{coded / size:.1%}" if size else "-"


def sizes_text(size: int, packed: int, gzip_size: int) -> str:
    """'3,251,493 -> 1,022,975 bytes (2.517 bpb; gzip -9: 2.608 bpb)'; gzip only where it was measured."""
    text = f"{size:,} -> {packed:,} bytes"
    if size:
        gzip_part = f"; gzip -9: {bpb(gzip_size, size)} bpb" if gzip_size else ""
        text += f" ({bpb(packed, size)} bpb{gzip_part})"
    return text


def count_text(count: int, one: str = "entry", many: str = "entries") -> str:
    """'1 entry', '19 entries'."""
    return f"{count:,} {one if count == 1 else many}"


def tail(text: str, width: int) -> str:
    """The end of a long path or name, which is the part that tells files apart."""
    return text if len(text) <= width else "..." + text[-(width - 3) :]


def format_table(rows: list[list[str]], left: set[int]) -> list[str]:
    """Columns padded to their widest cell (first row: the header); numbers right, ``left`` columns left."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(w) if i in left else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
