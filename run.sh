#!/usr/bin/env bash
# Set everything up, then run LM Archive. The desktop app is not built yet, so this runs the
# command-line demo: archive this repository's sources and docs, list them with our ratio next
# to gzip's, extract and verify.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
exec .venv/bin/python scripts/demo.py "$@"
