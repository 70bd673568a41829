"""Where shipped files live: lmarchive/data/, inside the package, so a wheel, an sdist and the
PyInstaller bundle (which keeps the package layout) all carry them.  The one path helper for them."""

from __future__ import annotations

import functools
import os
from pathlib import Path

MODEL_PATH_ENV = "LMARCHIVE_MODEL_PATH"
"""Extra folders (os.pathsep-separated) searched for model directories before the built-in ones."""


@functools.cache
def resources_dir() -> Path:
    """lmarchive/data/ of the installation: models, selftest vectors, icons (resolved once: every
    archive entry looks its model up through here)."""
    return Path(__file__).resolve().parent / "data"


def model_search_path() -> list[Path]:
    """Folders whose subfolders are model directories, most specific first."""
    extra = [Path(p) for p in os.environ.get(MODEL_PATH_ENV, "").split(os.pathsep) if p]
    return [*extra, resources_dir() / "models"]
