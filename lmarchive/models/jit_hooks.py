"""numba's side of :mod:`.jit`: where our kernels' compiled code is found, and word that compiling starts.

numba loads this module itself (it is first in NUMBA_CACHE_LOCATOR_CLASSES, which :mod:`.jit`
sets) when the first cached function of the process is defined; the kernel modules import it
too, so that the listener is in place whichever way it loads.
"""

from __future__ import annotations

import os
from typing import Any

from numba.core import config, event
from numba.core.caching import _CacheLocator

from lmarchive.models import compiling, jit


class PackageLocator(_CacheLocator):
    """The cache of one of our kernel modules: ``<cache>/lmarchive/<module>-<source hash>``.

    numba's own locators key the folder by the source file's absolute path (and, frozen, the
    stamp by the executable), so code compiled on the build machine would never be found on the
    user's.  Here folder and stamp depend only on the source's content, the same in a checkout, an
    installed wheel and the frozen bundle (which ships our modules as .py files as well).
    """

    def __init__(self, py_func: Any, source: str) -> None:
        self._lineno = py_func.__code__.co_firstlineno
        self._py_file = source  # numba's warning about a function it cannot cache names this file
        self._stamp = jit.source_hash(source)
        cache = config.CACHE_DIR  # type: ignore[attr-defined]  # numba's config sets its names at run time
        self._path = os.path.join(cache, jit.CACHE_SUBFOLDER, jit.module_folder(py_func.__module__, source))

    def get_cache_path(self) -> str:
        return self._path

    def get_source_stamp(self) -> str:
        return self._stamp

    def get_disambiguator(self) -> str:
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> PackageLocator | None:
        """A locator for a function of a kernel module whose source file exists; None for any other.

        The source is found by module name, not by ``py_file`` (the code object's file name): frozen,
        that is a path relative to the bundle, which names no file from the user's working folder.
        """
        source = jit.kernel_sources().get(py_func.__module__)
        if source is None or not config.CACHE_DIR:  # type: ignore[attr-defined]  # set at run time, as above
            return None
        locator = cls(py_func, source)
        try:
            locator.ensure_cache_path()
        except OSError:
            return None
        return locator


class _CompileListener(event.Listener):
    """Passes numba's compile events of our kernels to :func:`.compiling.compiling` (cache loads raise none)."""

    def on_start(self, ev: event.Event) -> None:
        dispatcher = ev.data.get("dispatcher") if isinstance(ev.data, dict) else None
        if getattr(getattr(dispatcher, "py_func", None), "__module__", None) in jit.KERNEL_MODULES:
            compiling.compiling()

    def on_end(self, ev: event.Event) -> None:
        pass


event.register("numba:compile", _CompileListener())
