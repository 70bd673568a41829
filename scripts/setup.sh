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
# Qt needs a few system libraries even offscreen (tests, CI); install them where we can.
qt_probe='from PySide6.QtWidgets import QApplication; QApplication([])'
if ! QT_QPA_PLATFORM=offscreen .venv/bin/python -c "$qt_probe" >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0 >/dev/null
    else
        echo "warning: Qt cannot start; install your system's EGL, xkbcommon, fontconfig and D-Bus libraries" >&2
    fi
fi
