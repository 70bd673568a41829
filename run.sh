#!/usr/bin/env bash
# Set everything up, then run LM Archive: the desktop app where there is a display (X11, Wayland or
# macOS), otherwise the command-line demo (archive this repository's sources and docs, list them
# with our ratio next to gzip's, extract and verify).  Arguments go to whichever runs.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ] || [ "$(uname)" = "Darwin" ]; then
    exec .venv/bin/python -m app "$@"
fi
exec .venv/bin/python scripts/demo.py "$@"
