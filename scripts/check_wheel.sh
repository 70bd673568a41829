#!/usr/bin/env bash
# Build the sdist and from it the wheel, install the wheel (not editable) into a fresh venv, and run what a
# user of `pip install lmarchive` runs first: a round trip with the default profile (which must record
# the built-in LM, so the model files must be inside the wheel, and with an empty cache must compile
# nothing, so the compiled kernels must be too) and `selftest` (which needs the vectors shipped inside
# the package), all without torch.  Run by ./test.sh, so CI checks it on every run.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/lmarchive-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT
.venv/bin/python -c "import sys; from setuptools import build_meta; build_meta.build_sdist(sys.argv[1])" "$work/dist" >/dev/null
sdist=$(ls "$work"/dist/lmarchive-*.tar.gz)
.venv/bin/python -c "import sys, tarfile; names = tarfile.open(sys.argv[1]).getnames(); sys.exit(not any(n.endswith('lmarchive/data/models/lmb-s1/model.safetensors') for n in names))" "$sdist" \
    || { echo "check_wheel: the sdist lacks the built-in model" >&2; exit 1; }
.venv/bin/python -c "import sys, tarfile; names = tarfile.open(sys.argv[1]).getnames(); sys.exit(any('/lmarchive/data/jit/' in n for n in names))" "$sdist" \
    || { echo "check_wheel: the sdist carries compiled kernels (machine code for this system)" >&2; exit 1; }
# The wheel is built from the sdist, as pip does for a source install (and it keeps build/ out of the checkout),
# plus the kernels set-up compiled for this system (lmarchive/data/jit), as a binary wheel for this platform.
mkdir "$work/src"
tar -xzf "$sdist" -C "$work/src"
src=$(ls -d "$work"/src/lmarchive-*)
[ -d lmarchive/data/jit ] || { echo "check_wheel: no compiled kernels; run scripts/setup.sh" >&2; exit 1; }
cp -r lmarchive/data/jit "$src/lmarchive/data/jit"
.venv/bin/python -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir "$work/dist" "$src" >/dev/null
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
export NUMBA_CACHE_DIR="$work/numba"  # empty: a new user's first run
printf 'A wheel installed as a user would install it, tried once.\n%.0s' {1..200} > sample.txt
started=$EPOCHREALTIME
venv/bin/lmarchive create sample.lmz sample.txt >/dev/null 2>create.err
seconds=$(venv/bin/python -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$started" "$EPOCHREALTIME")
if grep -q "compiling" create.err; then
    echo "check_wheel: the first create compiled the kernels: the wheel's compiled code was not used" >&2
    cat create.err >&2
    exit 1
fi
listing=$(venv/bin/lmarchive list sample.lmz)
grep -q "cmx+lmb-s1" <<< "$listing" || {
    echo "check_wheel: the default profile did not record the built-in LM; the listing, then create's messages:" >&2
    echo "$listing" >&2
    cat create.err >&2
    exit 1
}
mkdir out
venv/bin/lmarchive extract sample.lmz -o out >/dev/null
cmp sample.txt out/sample.txt
venv/bin/python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)" \
    || { echo "check_wheel: torch was installed, but it is optional (the lmarchive[torch] extra)" >&2; exit 1; }
venv/bin/lmarchive selftest >/dev/null 2>selftest.err  # without torch: the CPU engines' checks
if grep -q "compiling" selftest.err; then
    echo "check_wheel: the selftest compiled kernels that the wheel should carry" >&2
    exit 1
fi
echo "check_wheel: $(basename "$wheel") installs without torch, passes selftest and round-trips with cmx+lmb-s1;" \
    "first create with an empty cache ${seconds} s, nothing compiled"
