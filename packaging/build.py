"""Build LM Archive's installers: ``python packaging/build.py bundle|deb|tarball|linux``.

- ``bundle``: the PyInstaller one-folder bundle, ``dist/lmarchive/`` (and ``dist/LM Archive.app`` on macOS);
- ``deb``: ``dist/lmarchive_<version>_<arch>.deb`` from the bundle, with dpkg-deb (Linux);
- ``tarball``: ``dist/lmarchive-<version>-linux-<machine>.tar.gz``, the portable folder with
  ``integrate-desktop.sh`` for users without root (Linux);
- ``linux``: all three.

macOS's .dmg is made by ``packaging/macos/build-dmg.sh`` and Windows's installer by Inno Setup
from ``packaging/windows/lmarchive.iss``, each after ``bundle``.  Run with the project's
environment (``.venv/bin/python``), where PyInstaller is installed by ``pip install -e .[package]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
LINUX = PACKAGING / "linux"
SERVICE_MENUS = ("lmarchive-compress.desktop", "lmarchive-extract.desktop")
DIST = ROOT / "dist"
WORK = ROOT / "build"
BUNDLE = DIST / "lmarchive"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
MIME_TYPE = "application/x-lmarchive"

DEB_DEPENDS = (
    # The system libraries the bundle links to but does not carry (PyInstaller leaves the C library,
    # OpenGL/EGL, libdrm, libxcb and Wayland's client libraries to the host), found by listing the
    # NEEDED entries of every binary in the bundle (objdump -p) that the bundle does not contain and
    # mapping them to packages with dpkg -S.  libc6's version is added by build_deb: the bundle also
    # carries libraries from the build machine, which need its C library or newer.
    "libgl1",
    "libegl1",
    "libdrm2",
    "libxcb1",
    "libxcb-icccm4",
    "libxcb-keysyms1",
    "libwayland-client0",
    "libwayland-cursor0",
    "libwayland-egl1",
)
DEB_RECOMMENDS = ("shared-mime-info", "desktop-file-utils", "xdg-utils")
DEB_SUGGESTS = (
    "libgtk-3-0",  # Qt's GTK platform theme (native dialogs on GNOME) loads only where GTK is installed
    "libtbb12",  # numba's optional TBB thread pool
)


def run(*command: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(c) for c in command), flush=True)
    subprocess.run([str(c) for c in command], check=True, env=env)


def build_bundle() -> Path:
    """PyInstaller over packaging/lmarchive.spec, from scratch.

    --clean: without it PyInstaller judged its cached PYZ up to date after our modules had changed,
    and shipped the old byte code (caught by the frozen selftest's golden streams).  First the
    kernels are compiled for every CPU baseline of this architecture (lmarchive/data/jit, which the
    spec takes with the rest of lmarchive/data), so that the app's first run needs no compiler; before
    that the pretrained model of the ``max`` profile is imported (a no-op when current), so that the
    installers carry it and the warm-up compiles its kernels too.
    """
    run(sys.executable, "-m", "lmarchive.models.pretrained.importer")
    run(sys.executable, "-m", "lmarchive.models.jit_seed", "--all")
    run(
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--clean",
        "--distpath",
        DIST,
        "--workpath",
        WORK / "pyinstaller",
        PACKAGING / "lmarchive.spec",
    )
    return BUNDLE


def install_desktop_files(share: Path) -> None:
    """The .desktop file, the MIME package and the hicolor icons under ``share`` (a usr/share-like folder)."""
    (share / "applications").mkdir(parents=True, exist_ok=True)
    shutil.copy2(LINUX / "lmarchive.desktop", share / "applications" / "lmarchive.desktop")
    (share / "mime" / "packages").mkdir(parents=True, exist_ok=True)
    shutil.copy2(LINUX / "lmarchive-mime.xml", share / "mime" / "packages" / "lmarchive.xml")
    # Dolphin's "Compress with LM Archive" and "Extract Here" (KDE service menus, KF 5.85 and later).
    (share / "kio" / "servicemenus").mkdir(parents=True, exist_ok=True)
    for menu in SERVICE_MENUS:
        shutil.copy2(LINUX / menu, share / "kio" / "servicemenus" / menu)
    icons = ROOT / "lmarchive" / "data" / "icons"
    hicolor = share / "icons" / "hicolor"
    (hicolor / "scalable" / "apps").mkdir(parents=True, exist_ok=True)
    shutil.copy2(icons / "lmarchive.svg", hicolor / "scalable" / "apps" / "lmarchive.svg")
    for size in ICON_SIZES:
        for kind, name in (("apps", "lmarchive"), ("mimetypes", MIME_TYPE.replace("/", "-"))):
            folder = hicolor / f"{size}x{size}" / kind
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy2(icons / f"lmarchive-{size}.png", folder / f"{name}.png")


def copy_bundle(target: Path) -> None:
    if not (BUNDLE / "lmarchive").is_file():
        raise SystemExit(f"no bundle at {BUNDLE}: run `python packaging/build.py bundle` first")
    shutil.copytree(BUNDLE, target, symlinks=True)


def folder_kib(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() or p.is_symlink()) // 1024


def build_deb(compression: str = "xz") -> Path:
    """A .deb: the bundle in /opt/lmarchive, launchers in /usr/bin, desktop integration under /usr/share.

    xz makes the smallest package; gzip builds several times faster (for test builds on slow machines).
    """
    arch = subprocess.run(["dpkg", "--print-architecture"], check=True, capture_output=True, text=True).stdout.strip()
    ver = version("lmarchive")
    root = WORK / "deb" / "root"
    shutil.rmtree(root.parent, ignore_errors=True)
    copy_bundle(root / "opt" / "lmarchive")
    (root / "usr" / "bin").mkdir(parents=True)
    for name in ("lmarchive", "lmarchive-gui"):
        # A script, not a symlink: the bundle must start from its own folder, whatever the shell's PATH holds.
        launcher = root / "usr" / "bin" / name
        launcher.write_text(f'#!/bin/sh\nexec /opt/lmarchive/{name} "$@"\n')
        launcher.chmod(0o755)
    share = root / "usr" / "share"
    install_desktop_files(share)
    doc = share / "doc" / "lmarchive"
    doc.mkdir(parents=True)
    shutil.copy2(LINUX / "copyright", doc / "copyright")

    control = root / "DEBIAN"
    control.mkdir()
    (control / "control").write_text(
        "\n".join(
            [
                "Package: lmarchive",
                f"Version: {ver}",
                f"Architecture: {arch}",
                "Maintainer: LM Archive maintainers <maintainers@lmarchive.invalid>",
                f"Installed-Size: {folder_kib(root)}",
                f"Depends: libc6 (>= {platform.libc_ver()[1]}), {', '.join(DEB_DEPENDS)}",
                f"Recommends: {', '.join(DEB_RECOMMENDS)}",
                f"Suggests: {', '.join(DEB_SUGGESTS)}",
                "Section: utils",
                "Priority: optional",
                "Description: lossless archiver driven by exact integer models",
                " LM Archive compresses files with models that drive a range coder, and shows",
                " each entry's ratio next to what gzip -9 achieves. This package holds the",
                " desktop app (lmarchive-gui), the lmarchive command and the .lmz file type.",
                "",
            ]
        )
    )
    for script in ("postinst", "postrm"):
        shutil.copy2(LINUX / script, control / script)
        (control / script).chmod(0o755)
    deb = DIST / f"lmarchive_{ver}_{arch}.deb"
    # --root-owner-group: files owned by root in the package without needing fakeroot.
    run("dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", root, deb)
    return deb


def build_tarball() -> Path:
    """The portable folder (bundle, share/, integrate-desktop.sh) as a .tar.gz that unpacks anywhere."""
    ver = version("lmarchive")
    name = f"lmarchive-{ver}-linux-{platform.machine()}"
    stage = WORK / "tarball" / name
    shutil.rmtree(stage.parent, ignore_errors=True)
    copy_bundle(stage)
    install_desktop_files(stage / "share")
    shutil.copy2(LINUX / "integrate-desktop.sh", stage / "integrate-desktop.sh")
    (stage / "integrate-desktop.sh").chmod(0o755)
    archive = DIST / f"{name}.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=6) as tar:  # gzip's default; Python's (9) is far slower
        tar.add(stage, arcname=name)
    print(f"wrote {archive}")
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=("bundle", "deb", "tarball", "linux"))
    parser.add_argument("--deb-compression", choices=("xz", "gzip", "zstd"), default="xz")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    if args.target in ("bundle", "linux"):
        build_bundle()
    if args.target in ("deb", "linux"):
        build_deb(args.deb_compression)
    if args.target in ("tarball", "linux"):
        build_tarball()
    return 0


if __name__ == "__main__":
    sys.exit(main())
