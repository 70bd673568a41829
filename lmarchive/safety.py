"""Filesystem safety: atomic replacement of outputs, and extraction confined to its folder."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from lmarchive.container import validate_name
from lmarchive.errors import OverwriteError, UnsafePathError

TEMP_PREFIX = ".lmz-partial-"


@contextlib.contextmanager
def atomic_output(target: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[BinaryIO]:
    """Write a file under a temporary name in the target's folder; rename it into place on success.

    On an exception (a cancel included) the temporary file is removed and ``target`` is exactly as
    it was.  A kill leaves at most a hidden ``.lmz-partial-*`` file next to it, never a partial
    ``target``.
    """
    target = Path(target)
    if not overwrite and target.exists():
        raise OverwriteError(f"{target} already exists")
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent or ".")
    try:
        os.chmod(tmp, _mode_for(target))  # mkstemp makes 0o600; the user expects their usual mode
        with os.fdopen(fd, "w+b") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if not overwrite and target.exists():
            raise OverwriteError(f"{target} already exists")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _mode_for(target: Path) -> int:
    """The replaced file's permissions, or what a new file would get under the current umask."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def confined_path(root: Path, name: str) -> Path:
    """The path for member ``name`` under ``root``, refusing anything that could land outside it.

    ``root`` must already be resolved.  Names are checked by the container rules (no '..',
    absolute paths, drive letters or backslashes); existing components below ``root`` must be
    real directories, not links, so nothing is written through a link placed in the way.
    """
    validate_name(name)
    parts = name.split("/")
    current = root
    for part in parts[:-1]:
        current = current / part
        if current.is_symlink():
            raise UnsafePathError(f"refusing to extract {name!r}: {current} is a link")
        if current.exists() and not current.is_dir():
            raise UnsafePathError(f"refusing to extract {name!r}: {current} is not a folder")
    target = current / parts[-1]
    if target.is_symlink():
        raise UnsafePathError(f"refusing to extract {name!r}: {target} is a link")
    if os.path.commonpath([root, os.path.abspath(target)]) != str(root):
        raise UnsafePathError(f"refusing to extract {name!r}: it lies outside {root}")
    return target
