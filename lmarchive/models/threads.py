"""How many threads code streams at once: the mixing model's streams and the LM's decoding steps.

Both spread independent streams over a pool of threads (their compiled code releases the GIL).
By default the pool has up to :data:`DEFAULT_MAX_THREADS` threads, never more than the machine has
cores: each mixing-model stream holds its own tables (about 110 MB), so more threads cost memory
as well as cores.  A program may set its own limit before it codes (the desktop app's Threads
setting does, in its worker process).  The thread count never changes what is coded: every stream
is coded on its own, whichever thread runs it.
"""

from __future__ import annotations

import os

DEFAULT_MAX_THREADS = 4
_limit = 0


def set_coding_threads(threads: int) -> None:
    """Code with at most ``threads`` threads from now on; 0 restores the default."""
    if threads < 0:
        raise ValueError(f"a thread count cannot be negative: {threads}")
    global _limit
    _limit = threads


def coding_threads() -> int:
    """The number of threads that code streams at once: the limit set, else the default."""
    return _limit or min(DEFAULT_MAX_THREADS, os.cpu_count() or 1)
