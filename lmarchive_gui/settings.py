"""The GUI's settings: a versioned JSON document in the platform's config folder.

Every field is validated on load, one by one, so a hand-edited or damaged file costs the user
only the fields that are wrong, never a crash at start.  A file written by an unknown (newer) or
older schema version is migrated to the defaults rather than misread.  The folders come from
platformdirs each time they are asked for, so tests (and users) can move them with the XDG
variables.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import platformdirs

from lmarchive.device import DEVICES
from lmarchive.models.registry import DEFAULT_MODEL, available_models
from lmarchive_gui import APP_ID

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SETTINGS_FILE = "settings.json"
DOUBLE_CLICK_CHOICES = ("show", "extract")
"""What opening an .lmz from the file manager does: show its contents, or extract it next to itself."""
OVERWRITE_CHOICES = ("ask", "never", "always")
CHUNK_KIB_CHOICES = (0, 64, 256, 1024, 4096, 16384)
"""Largest-chunk sizes offered, in KiB (0: the model's own plan); the core accepts 64 KiB to 16 MiB."""
MAX_THREADS = 256
MAX_RECENT = 10


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_ID, appauthor=False))


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP_ID, appauthor=False))


def log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_ID, appauthor=False))


@dataclass(frozen=True)
class Settings:
    """Everything the user can choose; immutable, so a dialog edits a copy and nothing half-applies."""

    model: str = DEFAULT_MODEL
    device: str = "auto"
    threads: int = 0
    """Threads that code chunks at once in the worker process, which also caps its numeric libraries'
    pools; 0: automatic (:func:`lmarchive.models.threads.coding_threads`, the libraries at every core)."""
    chunk_kib: int = 0
    """Largest chunk, KiB: smaller chunks decode with more parallelism and use less memory; larger ones
    compress a little better.  Files saved before it existed load with this default, so the schema stays 1."""
    double_click: str = "show"
    extract_folder: str = ""
    """Default extraction folder; empty means a folder next to the archive, named after it."""
    overwrite: str = "ask"
    recent: tuple[str, ...] = ()
    """Recently opened archives, newest first."""
    last_folder: str = ""
    """Where the Open dialog was last used (empty: none yet); loads as empty from older files, like chunk_kib."""

    def with_recent(self, archive: str | os.PathLike[str]) -> Settings:
        """These settings with ``archive`` moved to the front of the recent list."""
        path = str(Path(archive).resolve())
        recent = (path, *(p for p in self.recent if p != path))
        return replace(self, recent=recent[:MAX_RECENT])


def _choice(value: Any, choices: tuple[str, ...] | list[str], default: str) -> str:
    return value if isinstance(value, str) and value in choices else default


def _threads(value: Any) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_THREADS
    return value if ok else 0


def _chunk_kib(value: Any) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and value in CHUNK_KIB_CHOICES
    return value if ok else Settings.chunk_kib


def _folder(value: Any) -> str:
    return value if isinstance(value, str) and (not value or Path(value).is_absolute()) else ""


def _recent(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    paths = [p for p in value if isinstance(p, str) and Path(p).is_absolute()]
    return tuple(dict.fromkeys(paths))[:MAX_RECENT]


def from_json(data: Any) -> Settings:
    """Settings from a parsed document; wrong fields fall back to their defaults, other versions to all defaults."""
    if not isinstance(data, dict) or data.get("version") != SCHEMA_VERSION:
        found = data.get("version") if isinstance(data, dict) else type(data).__name__
        log.warning("settings schema %r is not %d: using the defaults", found, SCHEMA_VERSION)
        return Settings()
    default = Settings()
    settings = Settings(
        model=_choice(data.get("model"), available_models(), default.model),
        device=_choice(data.get("device"), DEVICES, default.device),
        threads=_threads(data.get("threads")),
        chunk_kib=_chunk_kib(data.get("chunk_kib")),
        double_click=_choice(data.get("double_click"), DOUBLE_CLICK_CHOICES, default.double_click),
        extract_folder=_folder(data.get("extract_folder")),
        overwrite=_choice(data.get("overwrite"), OVERWRITE_CHOICES, default.overwrite),
        recent=_recent(data.get("recent")),
        last_folder=_folder(data.get("last_folder")),
    )
    clean = to_json(settings)
    rejected = [key for key in clean if key in data and clean[key] != data[key]]
    if rejected:
        log.warning("settings fields reset to their defaults: %s", ", ".join(rejected))
    return settings


def to_json(settings: Settings) -> dict[str, Any]:
    document = asdict(settings)
    document["recent"] = list(settings.recent)
    return {"version": SCHEMA_VERSION, **document}


class SettingsStore:
    """Loads and saves :class:`Settings` at one path (by default in the platform's config folder)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else config_dir() / SETTINGS_FILE

    def load(self) -> Settings:
        """The saved settings, or the defaults when there are none or they cannot be read."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return Settings()
        except OSError as exc:
            log.warning("cannot read %s (%s): using the defaults", self.path, exc)
            return Settings()
        try:
            return from_json(json.loads(text))
        except json.JSONDecodeError as exc:
            log.warning("%s is not valid JSON (%s): using the defaults", self.path, exc)
            return Settings()

    def save(self, settings: Settings) -> None:
        """Write atomically, so a crash mid-save never leaves a truncated file behind."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".settings-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(to_json(settings), handle, indent=2)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
