"""The session's temporary folder: entries extracted to be opened or dragged out, and selftest scratch.

One folder per session, created on first use and removed at exit.  Inside it, each archive
version (path, size and modification time) gets its own folder, so an entry extracted once is
reused for later opens and drags until the archive changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

PREFIX = "lmarchive-gui-"


def _force_remove(function: Callable[[str], Any], path: str, _exc: object) -> None:
    """rmtree's error handler: entries keep their stored modes, so make read-only things writable and retry."""
    with contextlib.suppress(OSError):
        os.chmod(os.path.dirname(path), stat.S_IRWXU)
        if not os.path.islink(path):
            os.chmod(path, stat.S_IRWXU)
        function(path)


class ScratchArea:
    def __init__(self) -> None:
        self._root: Path | None = None

    @property
    def root(self) -> Path:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix=PREFIX))
        return self._root

    def folder_for(self, archive: Path) -> Path:
        """The folder that entries of this version of ``archive`` are extracted to."""
        info = archive.stat()
        key = hashlib.sha256(f"{archive.resolve()}|{info.st_size}|{info.st_mtime_ns}".encode()).hexdigest()[:16]
        folder = self.root / key
        folder.mkdir(exist_ok=True)
        return folder

    def cleanup(self) -> None:
        if self._root is not None:
            if sys.version_info >= (3, 12):
                shutil.rmtree(self._root, onexc=_force_remove)
            else:
                shutil.rmtree(self._root, onerror=_force_remove)
            self._root = None
