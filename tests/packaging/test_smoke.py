"""Packaging smoke test (Linux): build the bundle, the .deb and the tarball, then use them as a user would.

Run by ``packaging/smoke.sh``.  Steps: build everything (``packaging/build.py linux``), unpack the
.deb into a scratch root with ``dpkg -x``, run the frozen CLI (``--version``, ``selftest``, create /
test / extract round trips compared byte for byte), start the frozen GUI offscreen with an archive on
its command line and check the window listed it, validate the .desktop file and the MIME XML,
install them into a scratch XDG data folder and ask ``xdg-mime`` what an .lmz is and what opens it,
and do the same through the tarball's ``integrate-desktop.sh``.  Measurements go to stdout and to
``build/smoke-report.json``.

``LMARCHIVE_SMOKE_PREBUILT=1`` reuses what ``dist/`` already holds instead of building;
``LMARCHIVE_SMOKE_DEB_COMPRESSION=gzip`` builds the .deb faster than the default xz.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
BUNDLE = DIST / "lmarchive"
sys.path.insert(0, str(ROOT / "packaging"))

import check_frozen  # noqa: E402  (packaging/ is not a package: its scripts are run directly)

pytestmark = pytest.mark.packaging

MIME_TYPE = "application/x-lmarchive"
TOOLS = {
    # command: Debian package that provides it
    "dpkg-deb": "dpkg",
    "desktop-file-validate": "desktop-file-utils",
    "update-desktop-database": "desktop-file-utils",
    "xmllint": "libxml2-utils",
    "update-mime-database": "shared-mime-info",
    "xdg-mime": "xdg-utils",
    "mimetype": "libfile-mimeinfo-perl",  # what xdg-mime asks outside a desktop session
}
REPORT: dict[str, object] = {}


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def ensure_tools() -> None:
    """Install the Debian packages behind missing tools where we can (root and apt-get), else skip naming them."""
    missing = missing_tools()
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        packages = sorted({TOOLS[tool] for tool in missing})
        subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=False, capture_output=True)
        missing = missing_tools()
    if missing:
        pytest.skip("packaging smoke test needs " + ", ".join(f"{tool} (Debian: {TOOLS[tool]})" for tool in missing))
    if sys.platform != "linux":
        pytest.skip("the packaging smoke test builds Linux packages; macOS and Windows are built by CI")


def folder_bytes(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


@pytest.fixture(scope="module")
def built() -> Iterator[dict[str, Path]]:
    """The bundle, .deb and tarball, built now (or reused with LMARCHIVE_SMOKE_PREBUILT=1)."""
    ensure_tools()
    if os.environ.get("LMARCHIVE_SMOKE_PREBUILT") != "1":
        pytest.importorskip("PyInstaller", reason="PyInstaller is missing: pip install -e '.[package]'")
        started = time.monotonic()
        compression = os.environ.get("LMARCHIVE_SMOKE_DEB_COMPRESSION", "xz")
        command = [sys.executable, str(ROOT / "packaging" / "build.py"), "linux", "--deb-compression", compression]
        subprocess.run(command, check=True)
        REPORT["build_s"] = round(time.monotonic() - started)
    debs = sorted(DIST.glob("lmarchive_*.deb"), key=lambda p: p.stat().st_mtime)
    tarballs = sorted(DIST.glob("lmarchive-*-linux-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    assert debs and tarballs and BUNDLE.is_dir(), f"nothing built in {DIST}"
    REPORT["bundle_size"] = mib(folder_bytes(BUNDLE))
    REPORT["deb_size"] = mib(debs[-1].stat().st_size)
    REPORT["tarball_size"] = mib(tarballs[-1].stat().st_size)
    yield {"bundle": BUNDLE, "deb": debs[-1], "tarball": tarballs[-1]}
    report = ROOT / "build" / "smoke-report.json"
    report.parent.mkdir(exist_ok=True)
    report.write_text(json.dumps(REPORT, indent=1) + "\n")
    print("\npackaging smoke test measurements:")
    for key, value in REPORT.items():
        print(f"  {key}: {value}")


@pytest.fixture(scope="module")
def deb_root(built: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The .deb's files unpacked into a scratch root, as `dpkg -i` would lay them out."""
    root = tmp_path_factory.mktemp("deb-root")
    subprocess.run(["dpkg-deb", "-x", str(built["deb"]), str(root)], check=True)
    return root


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One user's environment for every CLI check, with an empty cache folder, as for a new user."""
    return check_frozen.isolated_env(tmp_path_factory.mktemp("cli-home"))


@pytest.fixture(scope="module")
def frozen_archive(deb_root: Path, cli_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive made by the installed frozen CLI (the round trip checks it byte for byte)."""
    work = tmp_path_factory.mktemp("frozen")
    started = time.monotonic()
    archive = check_frozen.check_round_trip(deb_root / "opt" / "lmarchive", work, cli_env)
    REPORT["first_round_trip_s (empty cache, nothing compiled)"] = round(time.monotonic() - started)
    check_frozen.check_round_trip(deb_root / "opt" / "lmarchive", work, cli_env, model="cm2")
    REPORT["round_trips"] = "default and cm2 models: every byte identical"
    return archive


def clean_env(home: Path) -> dict[str, str]:
    """No desktop session (so xdg-mime uses the freedesktop databases), every XDG folder under ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "KDE_", "GNOME_"))}
    env.pop("DE", None)
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_DIRS="/usr/local/share:/usr/share",
    )
    return env


def test_deb_layout_and_metadata(built: dict[str, Path], deb_root: Path) -> None:
    for path in (
        "opt/lmarchive/lmarchive",
        "opt/lmarchive/lmarchive-gui",
        "opt/lmarchive/_internal/lmarchive/data/selftest/lm-golden.json",
        "opt/lmarchive/_internal/lmarchive/data/icons/lmarchive-256.png",
        "usr/share/applications/lmarchive.desktop",
        "usr/share/mime/packages/lmarchive.xml",
        "usr/share/icons/hicolor/scalable/apps/lmarchive.svg",
        "usr/share/icons/hicolor/48x48/apps/lmarchive.png",
        "usr/share/icons/hicolor/48x48/mimetypes/application-x-lmarchive.png",
        "usr/share/doc/lmarchive/copyright",
    ):
        assert (deb_root / path).is_file(), f"{path} is not in the .deb"
    for name in ("lmarchive", "lmarchive-gui"):
        launcher = deb_root / "usr" / "bin" / name
        assert os.access(launcher, os.X_OK)
        assert f'exec /opt/lmarchive/{name} "$@"' in launcher.read_text()
    info = subprocess.run(["dpkg-deb", "--info", str(built["deb"])], check=True, capture_output=True, text=True)
    for field in ("Package: lmarchive", "Depends: ", "postinst", "postrm"):
        assert field in info.stdout, f"{field!r} missing from the .deb's control data"
    contents = subprocess.run(
        ["dpkg-deb", "--contents", str(built["deb"])], check=True, capture_output=True, text=True
    ).stdout
    assert " root/root " in contents and contents.count("\n") > 100


def test_frozen_cli(deb_root: Path, frozen_archive: Path, cli_env: dict[str, str]) -> None:
    folder = deb_root / "opt" / "lmarchive"
    REPORT["version"] = check_frozen.check_version(folder)
    REPORT["selftest"] = check_frozen.check_selftest(folder, cli_env)
    assert frozen_archive.stat().st_size > 0


def test_frozen_gui_opens_the_archive_on_its_command_line(deb_root: Path, frozen_archive: Path, tmp_path: Path) -> None:
    folder = deb_root / "opt" / "lmarchive"
    env = check_frozen.isolated_env(tmp_path / "home")  # fresh settings and caches: a first start
    REPORT["gui_cold_start_s"] = round(check_frozen.check_gui_opens(folder, frozen_archive, env), 2)
    REPORT["gui_warm_start_s"] = round(check_frozen.check_gui_opens(folder, frozen_archive, env), 2)


def test_desktop_file_and_mime_xml_validate(deb_root: Path) -> None:
    desktop = deb_root / "usr" / "share" / "applications" / "lmarchive.desktop"
    checked = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True, text=True)
    assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout + checked.stderr
    assert f"MimeType={MIME_TYPE};" in desktop.read_text()
    xml = deb_root / "usr" / "share" / "mime" / "packages" / "lmarchive.xml"
    subprocess.run(["xmllint", "--noout", str(xml)], check=True)


def xdg_mime(env: dict[str, str], *args: str) -> str:
    return subprocess.run(["xdg-mime", *args], env=env, check=True, capture_output=True, text=True).stdout.strip()


def test_xdg_mime_knows_the_type_and_its_handler(deb_root: Path, frozen_archive: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = clean_env(home)
    data = Path(env["XDG_DATA_HOME"])
    (data / "mime" / "packages").mkdir(parents=True)
    (data / "applications").mkdir(parents=True)
    shutil.copy2(deb_root / "usr/share/mime/packages/lmarchive.xml", data / "mime/packages/lmarchive.xml")
    shutil.copy2(deb_root / "usr/share/applications/lmarchive.desktop", data / "applications/lmarchive.desktop")
    subprocess.run(["update-mime-database", str(data / "mime")], env=env, check=True)
    subprocess.run(["update-desktop-database", str(data / "applications")], env=env, check=True)

    by_name = tmp_path / "some.lmz"
    shutil.copy2(frozen_archive, by_name)
    by_magic = tmp_path / "renamed-archive"  # no extension: only the magic bytes can tell
    shutil.copy2(frozen_archive, by_magic)
    not_ours = tmp_path / "fake.lmz.txt"
    not_ours.write_text("plain text\n")
    results = {
        "xdg-mime query filetype some.lmz": xdg_mime(env, "query", "filetype", str(by_name)),
        "xdg-mime query filetype <archive without extension>": xdg_mime(env, "query", "filetype", str(by_magic)),
        f"xdg-mime query default {MIME_TYPE}": xdg_mime(env, "query", "default", MIME_TYPE),
    }
    REPORT.update(results)
    assert results["xdg-mime query filetype some.lmz"] == MIME_TYPE
    assert results["xdg-mime query filetype <archive without extension>"] == MIME_TYPE
    assert results[f"xdg-mime query default {MIME_TYPE}"] == "lmarchive.desktop"
    assert xdg_mime(env, "query", "filetype", str(not_ours)) != MIME_TYPE


def test_portable_tarball_integrates_without_root(built: dict[str, Path], tmp_path: Path) -> None:
    with tarfile.open(built["tarball"]) as tar:
        tar.extractall(tmp_path / "un packed", filter="tar")  # a space, as the desktop entry must quote it
    (folder,) = (tmp_path / "un packed").iterdir()
    home = tmp_path / "home"
    env = clean_env(home)
    script = folder / "integrate-desktop.sh"
    subprocess.run([str(script)], env=env, check=True, capture_output=True)

    data = home / ".local" / "share"
    desktop = data / "applications" / "lmarchive.desktop"
    subprocess.run(["desktop-file-validate", str(desktop)], check=True)
    assert f'Exec="{folder}/lmarchive-gui" %F' in desktop.read_text()
    assert xdg_mime(env, "query", "default", MIME_TYPE) == "lmarchive.desktop"
    assert (data / "icons/hicolor/256x256/mimetypes/application-x-lmarchive.png").is_file()
    linked = home / ".local" / "bin" / "lmarchive"
    assert check_frozen.run([linked, "--version"]).startswith("lmarchive "), "the CLI runs through its symlink"

    subprocess.run([str(script), "--remove"], env=env, check=True, capture_output=True)
    assert not desktop.exists() and not linked.exists()
    assert not (data / "mime" / "packages" / "lmarchive.xml").exists()
