"""The set-up's Qt probe: after scripts/setup.sh, Qt's xcb plugin (a window on X11) loads, not only
the offscreen one the tests use, and a plugin that cannot load is reported by name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).resolve().parent.parent / "scripts" / "qt_probe.py"

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the probe checks Linux's xcb libraries")


def run_probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(PROBE), *args], capture_output=True, text=True, timeout=60)


@linux_only
def test_set_up_leaves_xcb_and_offscreen_loadable() -> None:
    done = run_probe()
    assert done.returncode == 0, done.stderr
    assert run_probe("--plugin", "xcb").returncode == 0


@linux_only
def test_a_plugin_that_cannot_load_is_named() -> None:
    done = run_probe("--plugin", "no-such-platform")
    assert done.returncode == 1
    assert "no-such-platform platform plugin cannot load" in done.stderr
