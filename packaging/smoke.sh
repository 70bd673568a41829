#!/bin/sh
# Build LM Archive's Linux bundle, .deb and portable tarball, then smoke-test them as a user would:
# frozen CLI and GUI, .desktop and MIME validation, xdg-mime in a scratch XDG folder, desktop
# integration from the tarball (tests/packaging/test_smoke.py).  Takes many minutes; Linux only.
#
#   packaging/smoke.sh                                   build everything, then test
#   LMARCHIVE_SMOKE_PREBUILT=1 packaging/smoke.sh        test what dist/ already holds
#   LMARCHIVE_SMOKE_DEB_COMPRESSION=gzip packaging/smoke.sh   a faster (larger) .deb than xz
#
# Measurements (bundle and .deb size, GUI cold start, xdg-mime answers) print at the end and land
# in build/smoke-report.json.  Extra arguments go to pytest.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/python -m pip install --quiet -e ".[package]"
# The build runs here, not inside a test: on a loaded machine it can take longer than pytest's
# per-test timeout (600 s), which would fail a build that is merely slow.
if [ "${LMARCHIVE_SMOKE_PREBUILT:-}" != 1 ]; then
    started=$(date +%s)
    .venv/bin/python packaging/build.py linux --deb-compression "${LMARCHIVE_SMOKE_DEB_COMPRESSION:-xz}"
    echo "packaging build: $(( $(date +%s) - started )) s"
fi
LMARCHIVE_SMOKE_PREBUILT=1 exec .venv/bin/python -m pytest -m packaging tests/packaging -s -p no:cacheprovider "$@"
