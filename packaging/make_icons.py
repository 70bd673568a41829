"""Render lmarchive/data/icons/lmarchive.svg into every icon file the app and the installers need.

Run it after changing the SVG: ``python packaging/make_icons.py``.  The outputs are committed, so
a build needs neither this script nor an SVG renderer on the build machine.

- ``lmarchive/data/icons/lmarchive-<N>.png``: the window icon (shipped in lmarchive/data/) and the
  Linux hicolor theme icons;
- ``packaging/icons/lmarchive.ico``: Windows (executables, installer, .lmz document icon);
- ``packaging/icons/lmarchive.icns``: macOS (the .app bundle and .lmz document icon).

ICO and ICNS are written here rather than through an image library: both formats are a small
directory of embedded images, and Qt's own plugins write only one image per file.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parent.parent
SVG = ROOT / "lmarchive" / "data" / "icons" / "lmarchive.svg"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICO_BMP_LIMIT = 48
"""Entries up to this size are stored as bitmaps in the .ico (old Windows shell code reads only those)."""
ICNS_TYPES = (
    (b"icp4", 16),
    (b"icp5", 32),
    (b"ic11", 32),  # 16 pt @2x
    (b"ic12", 64),  # 32 pt @2x
    (b"ic07", 128),
    (b"ic13", 256),  # 128 pt @2x
    (b"ic08", 256),
    (b"ic14", 512),  # 256 pt @2x
    (b"ic09", 512),
    (b"ic10", 1024),  # 512 pt @2x
)


def render(size: int) -> QImage:
    """The SVG drawn at ``size`` x ``size`` pixels, premultiplied ARGB."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QSvgRenderer(str(SVG)).render(painter)
    painter.end()
    return image


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise RuntimeError("Qt could not encode a PNG")
    buffer.close()
    return bytes(data.data())


def bmp_icon_entry(image: QImage) -> bytes:
    """An ICO bitmap entry: BITMAPINFOHEADER (height doubled for the mask), bottom-up BGRA rows, AND mask."""
    size = image.width()
    argb = image.convertToFormat(QImage.Format.Format_ARGB32)  # straight alpha, BGRA byte order in memory
    rows = [bytes(argb.constScanLine(y))[: size * 4] for y in range(size)]
    header = struct.pack("<IiiHHIIiiII", 40, size, size * 2, 1, 32, 0, size * size * 4, 0, 0, 0, 0)
    mask_row = bytes(((size + 31) // 32) * 4)  # all zero: the alpha channel decides transparency
    return header + b"".join(reversed(rows)) + mask_row * size


def write_ico(path: Path) -> None:
    entries = []
    for size in ICO_SIZES:
        image = render(size)
        entries.append((size, bmp_icon_entry(image) if size <= ICO_BMP_LIMIT else png_bytes(image)))
    offset = 6 + 16 * len(entries)
    directory = struct.pack("<HHH", 0, 1, len(entries))
    for size, data in entries:
        dim = 0 if size >= 256 else size  # 0 means 256 in an ICONDIRENTRY
        directory += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
    path.write_bytes(directory + b"".join(data for _, data in entries))


def write_icns(path: Path) -> None:
    body = b""
    for kind, size in ICNS_TYPES:
        data = png_bytes(render(size))
        body += kind + struct.pack(">I", 8 + len(data)) + data
    path.write_bytes(b"icns" + struct.pack(">I", 8 + len(body)) + body)


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    _app = QGuiApplication(sys.argv[:1])
    for size in PNG_SIZES:
        (ROOT / "lmarchive" / "data" / "icons" / f"lmarchive-{size}.png").write_bytes(png_bytes(render(size)))
    out = ROOT / "packaging" / "icons"
    out.mkdir(exist_ok=True)
    write_ico(out / "lmarchive.ico")
    write_icns(out / "lmarchive.icns")
    print(f"wrote {len(PNG_SIZES)} PNGs to lmarchive/data/icons, lmarchive.ico and lmarchive.icns to packaging/icons")
    return 0


if __name__ == "__main__":
    sys.exit(main())
