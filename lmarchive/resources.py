"""Where shipped files live, frozen (PyInstaller) or not: the one path helper for resources."""

from __future__ import annotations

import os
import sys
from pathlib import Path

MODEL_PATH_ENV = "LMARCHIVE_MODEL_PATH"
"""Extra folders (os.pathsep-separated) searched for model directories before the built-in ones."""


def resources_dir() -> Path:
    """resources/ of the installation: inside the PyInstaller bundle, or next to the package."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is not None:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def model_search_path() -> list[Path]:
    """Folders whose subfolders are model directories, most specific first."""
    extra = [Path(p) for p in os.environ.get(MODEL_PATH_ENV, "").split(os.pathsep) if p]
    return [*extra, resources_dir() / "models"]
