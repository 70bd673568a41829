"""Compiled code that ships with the package, so that a first run needs no compiler.

Built once where the package is built (set-up, the wheel, the installers), for a named CPU
baseline (see :mod:`.jit`): a fresh process with an empty cache folder codes and decodes a few
small samples with every installed model and runs the selftest, and whatever numba wrote for our
kernel modules is kept under ``lmarchive/data/jit/<cpu>/<module>-<source hash>/``.  On a user's machine
:func:`lmarchive.models.jit.install_shipped` copies the folders of the current sources into the
cache on first use.  Code of other sources is never copied (their hash differs), and code for
another numba or Python is ignored by numba itself, so a stale build costs time, never results.

    python -m lmarchive.models.jit_seed            build this machine's target, unless up to date
    python -m lmarchive.models.jit_seed --all     every baseline of this architecture (installers)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lmarchive.models import jit

SAMPLES = {
    "text.txt": b"".join(b"Line %d of a sample, the words of which repeat now and then.\n" % i for i in range(60)),
    "one.txt": b"x",
    "empty.txt": b"",
    "binary.bin": bytes(range(256)) * 4,
}
"""What the warm-up codes: text, a one-byte member, an empty one and binary data, in one archive."""
PRETRAINED_SAMPLES = {"text.txt": b"A sentence or two of plain English, so that the LM codes it.\n", "one.txt": b"x"}
"""The same for the pretrained LM, short: its kernels compile alike for any length, and it decodes
a few dozen tokens a second on one stream."""


def warm_up() -> None:
    """Code and decode :data:`SAMPLES` with every installed model, on the CPU, in this process, and
    run the selftest (its reference LM has a shape of its own, so kernels of other signatures)."""
    import lmarchive
    from lmarchive.models.registry import PRETRAINED_LM, available_models, resolve
    from lmarchive.selftest import run_selftest

    failed = [check.name for check in run_selftest("cpu") if not check.ok]
    if failed:
        raise AssertionError(f"selftest failed: {', '.join(failed)}")

    with tempfile.TemporaryDirectory(prefix="lmarchive-warm-up-") as folder:
        concrete = {resolve(model) for model in available_models()}  # a profile and its model: once
        for model in sorted(concrete):
            samples = PRETRAINED_SAMPLES if model == PRETRAINED_LM else SAMPLES
            path = Path(folder, f"{model}.lmz")
            with lmarchive.open(path, "w", model=model) as archive:
                for name, data in samples.items():
                    archive.writestr(name, data)
            with lmarchive.open(path) as archive:
                for name, data in samples.items():
                    if archive.read(name) != data:
                        raise AssertionError(f"{model}: {name} did not round-trip")


def up_to_date(cpu: str) -> bool:
    """Whether ``lmarchive/data/jit/<cpu>`` holds an index for every kernel module's current source."""
    folder = jit.shipped_dir(cpu)
    for module, path in jit.kernel_sources().items():
        built = folder / jit.module_folder(module, path)
        if not built.is_dir() or not any(name.endswith(".nbi") for name in os.listdir(built)):
            return False
    return True


def build(cpu: str) -> Path:
    """Compile every kernel for ``cpu`` in a fresh process and keep the result as the shipped code."""
    target = jit.shipped_dir(cpu)
    with tempfile.TemporaryDirectory(prefix="lmarchive-jit-") as cache:
        env = {**os.environ, jit.CACHE_ENV: cache, jit.CPU_ENV: cpu, jit.FEATURES_ENV: ""}
        env.pop(jit.LOCATOR_ENV, None)
        subprocess.run([sys.executable, "-m", "lmarchive.models.jit_seed", "--warm-up"], env=env, check=True)
        compiled = Path(cache, jit.CACHE_SUBFOLDER)
        staging = target.with_name(f".{cpu}.{os.getpid()}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(compiled, staging, ignore=shutil.ignore_patterns(".*"))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lmarchive.models.jit_seed", description=__doc__.split("\n")[0])
    parser.add_argument("--cpu", action="append", help="CPU baseline to build for (default: this machine's)")
    parser.add_argument("--all", action="store_true", help="build for every CPU baseline of this architecture")
    parser.add_argument("--force", action="store_true", help="build even where the shipped code is up to date")
    parser.add_argument("--warm-up", action="store_true", help=argparse.SUPPRESS)  # the child process's part
    args = parser.parse_args(argv)
    if args.warm_up:
        warm_up()
        return 0
    for cpu in jit.cpu_targets() if args.all else args.cpu or [jit.cpu_target()]:
        if not args.force and up_to_date(cpu):
            print(f"compiled models for {cpu}: up to date")
            continue
        print(f"compiling the models for {cpu} (once per version; about a minute)...", flush=True)
        started = time.monotonic()
        folder = build(cpu)
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        print(f"compiled models for {cpu}: {size / 1e6:.1f} MB in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
