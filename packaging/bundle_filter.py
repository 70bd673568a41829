"""What the PyInstaller spec leaves out of the bundle after analysis: Qt plugins the app never loads.

PyInstaller's PySide6 hooks take every plugin of a used Qt module (QtGui brings embedded-Linux
platforms, PDF and TIFF image readers, a virtual keyboard...).  The patterns below match
destination paths inside the bundle ('/'-separated); each is something the app does not use on
any of the three systems.
"""

from __future__ import annotations

from fnmatch import fnmatch

QT_PLUGINS = "PySide6/*plugins"  # PySide6/Qt/plugins on Linux and macOS, PySide6/plugins on Windows
UNNEEDED = (
    # Platforms for embedded devices and remote framebuffers; xcb, wayland, offscreen, minimal,
    # cocoa and windows stay.
    f"{QT_PLUGINS}/platforms/*qeglfs*",
    f"{QT_PLUGINS}/platforms/*qlinuxfb*",
    f"{QT_PLUGINS}/platforms/*qminimalegl*",
    f"{QT_PLUGINS}/platforms/*qvkkhrdisplay*",
    f"{QT_PLUGINS}/platforms/*qvnc*",
    f"{QT_PLUGINS}/egldeviceintegrations/*",
    f"{QT_PLUGINS}/generic/*",  # evdev and TUIO input for devices without a window system
    f"{QT_PLUGINS}/platforminputcontexts/*qtvirtualkeyboard*",
    # Image formats the app never reads (icons are PNG or SVG).
    f"{QT_PLUGINS}/imageformats/*qpdf*",
    f"{QT_PLUGINS}/imageformats/*qtiff*",
    f"{QT_PLUGINS}/imageformats/*qwebp*",
    f"{QT_PLUGINS}/imageformats/*qtga*",
    f"{QT_PLUGINS}/imageformats/*qwbmp*",
    f"{QT_PLUGINS}/imageformats/*qicns*",
    # QtNetwork is used only for the single-instance local socket: no TLS, no network status.
    f"{QT_PLUGINS}/tls/*",
    f"{QT_PLUGINS}/networkinformation/*",
    # Qt's own translations: the app installs no translator, so they would never be read.
    "PySide6/*translations/*",
    # Libraries that only the plugins above link to.
    "*Qt6Pdf*",
    "*Qt6VirtualKeyboard*",
    # PyTorch is left out of the bundle (the spec's EXCLUDES), but a hook still copies its metadata.
    "torch-*.dist-info/*",
)


def unneeded(dest: str) -> bool:
    path = dest.replace("\\", "/")
    return any(fnmatch(path, pattern) for pattern in UNNEEDED)


def drop_unneeded(toc: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The TOC without the entries that :data:`UNNEEDED` matches."""
    return [entry for entry in toc if not unneeded(entry[0])]
