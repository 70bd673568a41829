"""Where numba keeps compiled code: a per-user cache folder, so the model compiles once per version.

numba's default is a __pycache__ next to the sources, which an installed or frozen app may not be
able to write.  Imported before numba itself.  A ``cache=True`` function cannot even be defined
without a writable cache folder (numba raises RuntimeError at import), so for a user whose home is
missing or read-only this falls back to a private folder in the temporary directory, then to a
fresh one for this process (which compiles again on every run, but works).  A NUMBA_CACHE_DIR set
by the user wins when it is usable.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import stat
import tempfile

from platformdirs import user_cache_dir

from lmarchive.errors import LMArchiveError

CACHE_ENV = "NUMBA_CACHE_DIR"


def _usable(path: str) -> bool:
    """numba's own test of a cache folder: it exists (made if need be) and takes a new file."""
    if not os.path.isabs(path):  # platformdirs gives '~/.cache' when no home can be found at all
        return False
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def _private_temp() -> str | None:
    """<temp>/lmarchive-numba-<uid>, if it is a folder of ours alone: the temporary folder is shared,
    and code another user could plant there would run as this one."""
    uid = os.getuid() if hasattr(os, "getuid") else None  # Windows: the temp folder is per user already
    try:
        path = os.path.join(tempfile.gettempdir(), "lmarchive-numba" + ("" if uid is None else f"-{uid}"))
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
        info = os.lstat(path)  # not followed: a link planted under our name is refused
        if not stat.S_ISDIR(info.st_mode):
            return None
        if uid is not None:
            if info.st_uid != uid:
                return None
            if stat.S_IMODE(info.st_mode) & 0o077:
                os.chmod(path, 0o700)
    except OSError:
        return None
    return path if _usable(path) else None


def _fresh_temp() -> str | None:
    """A new private folder for this process alone, removed at exit."""
    try:
        path = tempfile.mkdtemp(prefix="lmarchive-numba-")
    except OSError:
        return None
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def cache_dir() -> str:
    """The first usable of: $NUMBA_CACHE_DIR, the user cache folder, the private and the fresh
    temporary folder.  LMArchiveError when no folder at all can be written."""
    for candidate in (os.environ.get(CACHE_ENV), os.path.join(user_cache_dir("lmarchive", appauthor=False), "numba")):
        if candidate and _usable(candidate):
            return candidate
    path = _private_temp() or _fresh_temp()
    if path is None:
        raise LMArchiveError(f"no folder can be written for compiled code; set ${CACHE_ENV} to one")
    return path


os.environ[CACHE_ENV] = cache_dir()  # also inherited by worker processes, which then agree
