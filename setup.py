"""Only what pyproject.toml cannot say: a wheel that carries compiled kernels is platform-specific.

``lmarchive/data/jit`` (built by scripts/setup.sh, see lmarchive.models.jit_seed) holds machine code
for this system's CPU and Python, so a wheel with it is tagged for this platform and Python
(cp311-cp311-linux_x86_64 and the like); without it the wheel is pure.  The sdist never carries it
(MANIFEST.in): built from source, the kernels compile on first use instead.
"""

from pathlib import Path

from setuptools import setup
from setuptools.dist import Distribution

COMPILED = Path(__file__).resolve().parent / "lmarchive" / "data" / "jit"


class _Distribution(Distribution):
    def has_ext_modules(self) -> bool:
        return any(COMPILED.glob("*/*/*.nbi"))


setup(distclass=_Distribution)
