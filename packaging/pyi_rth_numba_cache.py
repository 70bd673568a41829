"""PyInstaller runtime hook: one numba cache folder per frozen executable.

Frozen, numba keys its on-disk cache of compiled code by a hash of the running executable (there is
no source file to hash).  lmarchive and lmarchive-gui are different files, so in one shared folder
each would invalidate the other's entries, and the model would compile again (minutes) whenever
the user switched between the command line and the app.  This runs before the app's code, which
keeps a NUMBA_CACHE_DIR already set, as it keeps one the user sets.
"""

import os
import sys
from pathlib import Path

from platformdirs import user_cache_dir

os.environ.setdefault(
    "NUMBA_CACHE_DIR",
    os.path.join(user_cache_dir("lmarchive", appauthor=False), "numba", Path(sys.executable).stem),
)
