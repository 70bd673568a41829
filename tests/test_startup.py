"""Start-up cost: the CPU paths never import torch (about a second and 200 MB per command).

torch is needed for CUDA, training and the torch engine's checks; compressing with the default
profile (cmx with the built-in LM, run by the compiled step), listing, testing and extracting on a
CPU must not load it.  Each command runs in a fresh interpreter, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lmarchive.device import cuda_possible
from lmarchive.models import registry

CHILD = """
import sys
from lmarchive.cli import main
code = main(sys.argv[1:])
loaded = sorted(m for m in ("torch", "lmarchive.models.lm.exact", "lmarchive.models.lm.torch_path") if m in sys.modules)
print("loaded:", ",".join(loaded))
sys.exit(code)
"""


def run_cli(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in registry.PROFILE_LM_ENVS}  # the real profiles
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, env=env, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.shipped_lm
def test_cpu_commands_never_import_torch(tmp_path: Path) -> None:
    source = tmp_path / "notes.txt"
    source.write_bytes(b"The CPU path of every profile runs compiled integer code, not torch.\n" * 40)
    archive = tmp_path / "notes.lmz"
    device = "cpu" if cuda_possible() else "auto"  # with a GPU, auto rightly asks torch
    out = run_cli("create", "--device", device, str(archive), str(source))
    assert out.rstrip().endswith("loaded:"), out
    listed = run_cli("list", str(archive))
    assert "cmx+lmb-s1" in listed, "the default profile ran with its LM"
    assert listed.rstrip().endswith("loaded:"), listed
    for command in (["test", str(archive)], ["extract", str(archive), "-o", str(tmp_path / "out")], ["--version"]):
        out = run_cli(*command)
        assert out.rstrip().endswith("loaded:"), (command, out)
    assert (tmp_path / "out" / "notes.txt").read_bytes() == source.read_bytes()


def test_selftest_passes_without_torch_installed() -> None:
    """torch is an optional extra: without it the selftest checks the CPU engines and says what it skipped."""
    child = "import sys; sys.modules['torch'] = None\nfrom lmarchive.cli import main\nsys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", child, "selftest"], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "torch: not installed" in done.stdout
    assert "compiled step, cpu" in done.stdout and "parallel" not in done.stdout
    assert "PASS: all" in done.stdout
    cuda = subprocess.run(
        [sys.executable, "-c", child, "selftest", "--device", "cuda"], capture_output=True, text=True, timeout=60
    )
    assert cuda.returncode == 1 and "PyTorch is not installed" in cuda.stderr
