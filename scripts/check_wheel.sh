#!/usr/bin/env bash
# Build the sdist and from it the wheel, install the wheel (not editable) into a fresh venv, and run what a
# user of `pip install lmarchive` runs first: `selftest` (which needs the vectors shipped inside the
# package) and a round trip with the default profile (which must record the built-in LM, so the
# model files must be inside the wheel too).  Run by ./test.sh, so CI checks it on every run.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/lmarchive-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT
.venv/bin/python -c "import sys; from setuptools import build_meta; build_meta.build_sdist(sys.argv[1])" "$work/dist" >/dev/null
sdist=$(ls "$work"/dist/lmarchive-*.tar.gz)
.venv/bin/python -c "import sys, tarfile; names = tarfile.open(sys.argv[1]).getnames(); sys.exit(not any(n.endswith('lmarchive/data/models/lmb-s1/model.safetensors') for n in names))" "$sdist" \
    || { echo "check_wheel: the sdist lacks the built-in model" >&2; exit 1; }
# The wheel is built from the sdist, as pip does for a source install (and it keeps build/ out of the checkout).
.venv/bin/python -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir "$work/dist" "$sdist" >/dev/null
wheel=$(ls "$work"/dist/lmarchive-*.whl)
# The package's data must be in the wheel itself, not found next to this checkout.
for member in lmarchive/data/models/lmb-s1/model.safetensors lmarchive/data/selftest/lm-golden.json \
    lmarchive/data/icons/lmarchive-256.png lmarchive/training/sources.toml lmarchive_gui/__main__.py; do
    .venv/bin/python -c "import sys, zipfile; sys.exit('$member' not in zipfile.ZipFile(sys.argv[1]).namelist())" "$wheel" \
        || { echo "check_wheel: $member is missing from $(basename "$wheel")" >&2; exit 1; }
done
python=$(.venv/bin/python -c 'import sys; print(sys._base_executable)')
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "$wheel" 2>&1 | grep -v "^WARNING: Location" >&2 || true
"$work/venv/bin/python" -c "import lmarchive" || { echo "check_wheel: the wheel did not install" >&2; exit 1; }
cd "$work"  # nothing of the checkout on the path: only the installed package
export NUMBA_CACHE_DIR="$work/numba"
venv/bin/lmarchive selftest >/dev/null
printf 'A wheel installed as a user would install it, tried once.\n%.0s' {1..200} > sample.txt
venv/bin/lmarchive create sample.lmz sample.txt >/dev/null
venv/bin/lmarchive list sample.lmz | grep -q "cmx+lmb-s1" \
    || { echo "check_wheel: the default profile did not record the built-in LM" >&2; exit 1; }
mkdir out
venv/bin/lmarchive extract sample.lmz -o out >/dev/null
cmp sample.txt out/sample.txt
echo "check_wheel: $(basename "$wheel") installs, passes selftest and round-trips with cmx+lmb-s1"
