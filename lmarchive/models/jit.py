"""Where numba keeps compiled code: a per-user cache folder, so the model compiles once per version.

numba's default is a __pycache__ next to the sources, which an installed or frozen app may not be
able to write.  Imported before numba itself; a NUMBA_CACHE_DIR set by the user wins.
"""

from __future__ import annotations

import os

from platformdirs import user_cache_dir

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(user_cache_dir("lmarchive", appauthor=False), "numba"))
