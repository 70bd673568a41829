"""Can Qt open a window here?  Loads Qt's platform plugins the way Qt would, without a display.

Offscreen (tests, CI) needs EGL, xkbcommon, fontconfig and D-Bus; a desktop window on X11 also
needs the xcb plugin's libraries, several of which a stock Debian 12 desktop lacks (libxcb-icccm4,
libxcb-keysyms1): Qt then aborts at start-up (rc 134) with a message naming another library.  The
plugin is a shared library, so loading it with the dynamic loader tells exactly which file is
missing, with or without a display.  Exit status 0 when every probed plugin loads; otherwise one line
per failure on stderr.  ``--plugin NAME`` probes one platform plugin only (xcb, offscreen, wayland).
"""

from __future__ import annotations

import argparse
import ctypes
import sys
from pathlib import Path

PLUGINS = ("offscreen", "xcb")
"""Probed by default: what the tests need, and what a Linux desktop window needs."""


def plugin_path(name: str) -> Path:
    """The file of Qt's platform plugin NAME inside the installed PySide6."""
    import PySide6

    suffix = {"win32": "dll", "darwin": "dylib"}.get(sys.platform, "so")
    return Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / f"libq{name}.{suffix}"


def probe(name: str) -> str | None:
    """None when plugin NAME loads; otherwise why not (the loader's message names the missing file)."""
    path = plugin_path(name)
    if not path.is_file():
        return f"{path} does not exist"
    try:
        ctypes.CDLL(str(path))
    except OSError as error:
        return str(error)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", action="append", help="a platform plugin to probe (default: offscreen and xcb)")
    args = parser.parse_args(argv)
    if not sys.platform.startswith("linux"):
        return 0  # Qt's wheels for Windows and macOS carry what their plugins need
    failed = [(name, why) for name in args.plugin or PLUGINS if (why := probe(name)) is not None]
    for name, why in failed:
        print(f"Qt's {name} platform plugin cannot load: {why}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
