#!/usr/bin/env bash
# Set everything up, then run the test suite (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
.venv/bin/ruff check lmarchive lmarchive_gui tests scripts
.venv/bin/mypy  # what and how strictly: [tool.mypy] in pyproject.toml
scripts/check_wheel.sh  # the wheel carries its data and works installed as a user installs it
exec .venv/bin/python -m pytest "$@"
