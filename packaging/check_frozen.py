"""Check a built LM Archive: the frozen CLI and GUI really run, archive, extract and open archives.

``python packaging/check_frozen.py FOLDER`` where FOLDER holds ``lmarchive`` and ``lmarchive-gui``
(``dist/lmarchive``, ``.../opt/lmarchive`` of an unpacked .deb, or ``LM Archive.app/Contents/MacOS``).
The CI workflow runs it on every OS; the packaging smoke test calls the same functions.
Each check raises AssertionError naming what failed, and prints what it measured.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIMEOUT_S = 600
"""Generous: a first start on a slow shared machine can take a while."""


def executable(folder: Path, name: str) -> Path:
    path = folder / (name + ".exe" if sys.platform == "win32" else name)
    assert path.is_file(), f"{path} is missing"
    return path


def run(command: list[str | Path], env: dict[str, str] | None = None) -> str:
    """Run one frozen command; its stdout, or an AssertionError with everything it printed."""
    return run_both(command, env)[0]


def run_both(command: list[str | Path], env: dict[str, str] | None = None) -> tuple[str, str]:
    """Run one frozen command; its stdout and stderr, or an AssertionError with everything it printed."""
    done = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=TIMEOUT_S, env=env, check=False
    )
    assert done.returncode == 0, (
        f"{' '.join(str(c) for c in command)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout, done.stderr


def isolated_env(home: Path) -> dict[str, str]:
    """The environment with settings, caches, logs and the single-instance socket under ``home``."""
    env = dict(os.environ)
    for variable in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
        env[variable] = str(home / variable.lower())
    env["TMPDIR"] = str(home)  # Qt's local sockets live there on Unix
    env["QT_QPA_PLATFORM"] = "offscreen"
    for variable in ("NUMBA_CACHE_DIR", "LMARCHIVE_DEFAULT_LM", "LMARCHIVE_LM", "LMARCHIVE_MODEL_PATH"):
        env.pop(variable, None)  # the app's own defaults must work: its cache folder, its shipped LM
    return env


def check_version(folder: Path) -> str:
    out = run([executable(folder, "lmarchive"), "--version"]).strip()
    assert out.startswith("lmarchive ") and "unknown" not in out, f"unexpected --version output: {out!r}"
    return out


def check_selftest(folder: Path, env: dict[str, str]) -> str:
    out = run([executable(folder, "lmarchive"), "selftest"], env=env)
    assert "PASS" in out, f"selftest did not pass:\n{out}"
    return out.strip().splitlines()[-1]


def sample_tree(root: Path) -> dict[str, bytes]:
    """A few files worth compressing (text, a repeated log, random bytes), written under ``root``."""
    rng = random.Random(7)
    words = ["archive", "model", "chunk", "range", "coder", "the", "of"]
    files = {
        "notes.txt": " ".join(rng.choice(words) for _ in range(6000)).encode(),
        "logs/app.log": b"".join(b"2026-11-30 12:00:%02d INFO job %d finished\n" % (i % 60, i) for i in range(3000)),
        "data/random.bin": bytes(rng.getrandbits(8) for _ in range(50_000)),
        "empty.txt": b"",
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def check_round_trip(folder: Path, work: Path, env: dict[str, str], model: str | None = None) -> Path:
    """Create an archive of a sample folder with the frozen CLI, test it, extract it, compare every byte."""
    source = work / "source"
    files = sample_tree(source)
    archive = work / f"sample-{model or 'default'}.lmz"
    cli = executable(folder, "lmarchive")
    # Not quiet: the CLI would say on stderr that it compiles, which it must not with the bundle's kernels.
    _, errors = run_both([cli, "create", archive, source, *(["--model", model] if model else []), "--force"], env=env)
    assert "compiling" not in errors, f"the frozen CLI compiled its kernels (the bundle's were not used):\n{errors}"
    run([cli, "test", archive, "-q"], env=env)
    if model is None:  # the default profile is the shipped LM mixed in (the profiles' LM is in the bundle)
        recorded = {e["model"] for e in json.loads(run([cli, "list", "--json", archive], env=env)) if e["packed"]}
        assert "cmx+lmb-s1" in recorded, f"the default profile coded with {recorded}, not cmx+lmb-s1"
    out = work / f"out-{model or 'default'}"
    run([cli, "extract", archive, "-o", out, "-q"], env=env)
    for name, data in files.items():
        extracted = out / "source" / name
        assert extracted.read_bytes() == data, f"{name} differs after the round trip through {archive.name}"
    return archive


def check_gui_opens(folder: Path, archive: Path, env: dict[str, str]) -> float:
    """Start the frozen GUI with ``archive`` on its command line; seconds until its window had the archive listed."""
    report = archive.with_suffix(".report.json")
    report.unlink(missing_ok=True)
    started = time.time()
    run([executable(folder, "lmarchive-gui"), "--report-open", report, archive], env=env)
    shown = json.loads(report.read_text(encoding="utf-8"))
    assert shown["errors"] == [], f"the GUI showed errors: {shown['errors']}"
    assert shown["archive"] == str(archive), f"the GUI opened {shown['archive']!r}, not {archive}"
    assert "source/notes.txt" in shown["entries"], f"the GUI lists {shown['entries']}"
    return shown["written_at"] - started


def check_all(folder: Path) -> dict[str, object]:
    """Every check in turn, with an isolated home; what was measured."""
    with tempfile.TemporaryDirectory(prefix="lmarchive-check-") as scratch:
        work = Path(scratch)
        env = isolated_env(work / "home")
        results: dict[str, object] = {"version": check_version(folder), "selftest": check_selftest(folder, env)}
        archive = check_round_trip(folder, work, env)  # the default model: the shipped compiled kernels
        check_round_trip(folder, work, env, model="cm2")  # the pure-Python integer context model
        results["round_trips"] = "default and cm2 models: every byte identical"
        results["gui_cold_start_s"] = round(check_gui_opens(folder, archive, env), 2)
        results["gui_warm_start_s"] = round(check_gui_opens(folder, archive, env), 2)
        return results


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python packaging/check_frozen.py FOLDER_WITH_THE_EXECUTABLES", file=sys.stderr)
        return 2
    for key, value in check_all(Path(argv[0])).items():
        print(f"{key}: {value}")
    print("all frozen checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
