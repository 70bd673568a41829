"""Word that numba is compiling one of our kernels, for whoever shows progress (jobs, the selftest).

Apart from :mod:`.jit` on purpose: importing this sets nothing up, so a job can listen without
loading numba's set-up (a delete or a listing never needs it).  :mod:`.jit_hooks` calls
:func:`compiling` from numba's compile event.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

_listeners: list[Callable[[], None]] = []
_listeners_lock = threading.Lock()


@contextlib.contextmanager
def compile_notices(callback: Callable[[], None]) -> Iterator[None]:
    """Call ``callback`` (from whichever thread compiles) each time numba starts compiling one of
    our kernels while the block runs: code neither shipped nor cached, so a wait of up to a minute
    is coming.  Loading cached code calls nothing."""
    with _listeners_lock:
        _listeners.append(callback)
    try:
        yield
    finally:
        with _listeners_lock:
            _listeners.remove(callback)


def compiling() -> None:
    """Called by :mod:`.jit_hooks` when numba starts a compilation of ours."""
    with _listeners_lock:
        callbacks = list(_listeners)
    for callback in callbacks:
        callback()
