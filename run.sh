#!/usr/bin/env bash
# Set everything up, then run LM Archive: the desktop app where there is a display (X11, Wayland or
# macOS), otherwise the command-line demo.  Arguments go to whichever runs, and mean the same to
# both: an archive is opened (the demo lists and tests it), files and folders are archived (the
# demo archives, lists, extracts and verifies them; with none, this repository's sources and docs).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ] || [ "$(uname)" = "Darwin" ]; then
    exec .venv/bin/python -m lmarchive_gui "$@"
fi
exec .venv/bin/python scripts/demo.py "$@"
