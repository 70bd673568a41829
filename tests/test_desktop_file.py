"""The Linux desktop integration: the .desktop file's actions, Dolphin's service menus, and how they ship.

``desktop-file-validate`` (desktop-file-utils) checks the application entry when it is installed;
KDE service menus are KDE's own kind of file (Type=Service), which that tool rejects by design, so
they are checked key by key here.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lmarchive_gui.__main__ import parse_args

LINUX = Path(__file__).resolve().parent.parent / "packaging" / "linux"
SERVICE_MENUS = ("lmarchive-compress.desktop", "lmarchive-extract.desktop")


def key_file(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser


def command(value: str) -> list[str]:
    """An Exec value as the desktop entry spec splits it: the key file's own backslash escape first, then
    words at spaces, where double quotes hold spaces and, inside them, a backslash escapes the next character."""
    words: list[str] = []
    word, quoted, escaped, started = "", False, False, False
    for char in value.replace("\\\\", "\\"):
        if escaped:
            word, escaped = word + char, False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted, started = not quoted, True
        elif char == " " and not quoted:
            if word or started:
                words.append(word)
            word, started = "", False
        else:
            word += char
    return [*words, word] if word or started else words


def actions(parser: configparser.ConfigParser) -> dict[str, list[str]]:
    """Each action the entry lists -> its Exec as words; every listed action must have its group."""
    listed = [a for a in parser["Desktop Entry"]["Actions"].split(";") if a]
    return {a: command(parser[f"Desktop Action {a}"]["Exec"]) for a in listed}


def test_the_application_has_compress_and_extract_actions() -> None:
    entry = key_file(LINUX / "lmarchive.desktop")
    assert entry["Desktop Entry"]["MimeType"] == "application/x-lmarchive;", "it opens only its own archives"
    found = actions(entry)
    assert found == {
        "compress": ["lmarchive-gui", "--compress", "%F"],
        "extract-here": ["lmarchive-gui", "--extract-here", "%F"],
    }
    for words in found.values():
        parse_args([w for w in words[1:] if w != "%F"] + ["x.lmz"])  # the app takes each option it is given


def test_service_menus_offer_the_same_actions() -> None:
    wanted = {
        "lmarchive-compress.desktop": ("all/all;", "compress"),
        "lmarchive-extract.desktop": ("application/x-lmarchive;", "extract-here"),
    }
    app_actions = actions(key_file(LINUX / "lmarchive.desktop"))
    for name, (mime, action) in wanted.items():
        menu = key_file(LINUX / name)
        head = menu["Desktop Entry"]
        assert head["Type"] == "Service" and head["X-KDE-ServiceTypes"] == "KonqPopupMenu/Plugin"
        assert head["MimeType"] == mime
        assert actions(menu) == {action: app_actions[action]}


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils is not installed")
def test_desktop_file_validate_accepts_the_entry() -> None:
    run = subprocess.run(
        ["desktop-file-validate", str(LINUX / "lmarchive.desktop")], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0 and not run.stdout.strip(), run.stdout + run.stderr


def load_build() -> object:
    spec = importlib.util.spec_from_file_location("lmarchive_build", LINUX.parent / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(sys.platform != "linux" or shutil.which("awk") is None, reason="the portable folder is Linux's")
def test_packages_ship_and_integrate_the_actions(tmp_path: Path) -> None:
    """What build.py puts in the .deb and the tarball, then integrate-desktop.sh run from an odd folder."""
    build = load_build()
    here = tmp_path / 'LM "Archive" $x'
    build.install_desktop_files(here / "share")  # type: ignore[attr-defined]
    for name in SERVICE_MENUS:
        assert (here / "share/kio/servicemenus" / name).read_bytes() == (LINUX / name).read_bytes()
    shutil.copy2(LINUX / "integrate-desktop.sh", here / "integrate-desktop.sh")
    for tool in ("lmarchive", "lmarchive-gui"):
        (here / tool).write_text("#!/bin/sh\n")
        (here / tool).chmod(0o755)
    home = tmp_path / "home"
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "PATH": "/usr/bin:/bin"}
    subprocess.run(["sh", str(here / "integrate-desktop.sh")], env=env, check=True, capture_output=True)

    gui = str(here / "lmarchive-gui")
    entry = key_file(home / "data/applications/lmarchive.desktop")
    assert command(entry["Desktop Entry"]["Exec"]) == [gui, "%F"]
    assert entry["Desktop Entry"]["TryExec"] == gui
    assert [words[:2] for words in actions(entry).values()] == [[gui, "--compress"], [gui, "--extract-here"]]
    for name in SERVICE_MENUS:
        menu = home / "data/kio/servicemenus" / name
        assert os.access(menu, os.X_OK), "KDE ignores a user's service menu that is not executable"
        assert all(words[0] == gui for words in actions(key_file(menu)).values())
    if shutil.which("desktop-file-validate"):
        run = subprocess.run(
            ["desktop-file-validate", str(home / "data/applications/lmarchive.desktop")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert run.returncode == 0, run.stdout

    subprocess.run(["sh", str(here / "integrate-desktop.sh"), "--remove"], env=env, check=True, capture_output=True)
    assert not list((home / "data/kio/servicemenus").iterdir())
