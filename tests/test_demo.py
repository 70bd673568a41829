"""``./run.sh [PATH...]`` without a display runs scripts/demo.py, which must honour its arguments as the app would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import lmarchive

DEMO = Path(__file__).resolve().parent.parent / "scripts" / "demo.py"


def demo(*args: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("DISPLAY", None)
    return subprocess.run(
        [sys.executable, str(DEMO), *map(str, args)], capture_output=True, text=True, env=env, timeout=600, check=False
    )


def test_an_archive_is_listed_and_tested(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("the archive lists this file\n" * 20)
    archive = tmp_path / "given.lmz"
    with lmarchive.open(archive, "w", model="cm2") as lmz:
        lmz.write(tmp_path / "notes.txt", "notes.txt")
    result = demo(archive)
    assert result.returncode == 0, result.stderr
    assert f"$ lmarchive list {archive}" in result.stdout and "notes.txt" in result.stdout
    assert f"$ lmarchive test {archive}" in result.stdout and "\nOK: 1 entr" in result.stdout
    assert "create" not in result.stdout, "the archive given is shown, not archived again"


def test_files_are_archived_and_verified(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.txt").write_text("alpha " * 50)
    (tmp_path / "b.txt").write_text("beta " * 50)
    result = demo(tmp_path / "folder", tmp_path / "b.txt")
    assert result.returncode == 0, result.stderr
    assert "archiving folder, b.txt" in result.stdout
    assert "extracted files byte-identical to the originals: 2 of 2" in result.stdout


def test_a_missing_path_is_an_error(tmp_path: Path) -> None:
    result = demo(tmp_path / "absent.lmz")
    assert result.returncode == 1 and "no such file or folder" in result.stderr
