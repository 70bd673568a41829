"""Time left in a job, from how fast its work went lately: no Qt, so it is tested on its own.

The coders report work done in units of equal cost (a byte coded with the LM counts as more than
one coded without it, see lmarchive.models.mix.predictor.LM_COST), so a steady rate in those units
is a fair predictor.  What is not steady: the seconds before the first unit (loading the model,
compiling it on a first run), and the first moments after, when a batch's cheap chunks are counted
at once.  So the clock starts when work starts moving, the rate is taken over a recent window (it
follows a slowdown, such as the end of a batch with fewer streams than threads), and nothing is
promised before a tenth of the job is done.
"""

from __future__ import annotations

from collections import deque

MIN_FRACTION = 0.10
"""No estimate before this much of the job is done: early rates are a poor guide."""
MIN_SECONDS = 5.0
"""Nor before work has been moving this long."""
MIN_WINDOW_S = 30.0
WINDOW_SHARE = 0.2
"""The rate is measured over the last WINDOW_SHARE of the time worked, at least MIN_WINDOW_S seconds:
long enough not to jitter, short enough to follow a change of pace (chosen on scripts/eta_check.py's
traces of canterbury with the default profile, where the pace moved with the machine's other load)."""


class EtaEstimator:
    """Feed it (time, work done) as progress comes; ask it for the rate and the seconds left."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._samples: deque[tuple[float, int]] = deque()
        self._began: float | None = None
        """When work started moving (the last sample with nothing done before the first with some)."""
        self._first: tuple[float, int] | None = None

    def update(self, now: float, done: int) -> None:
        """Record that ``done`` units of ``total`` were done at ``now`` (seconds, monotonic)."""
        if self._first is None:
            self._first = (now, done)
        if self._began is None:
            if done <= self._first[1]:
                self._first = (now, done)  # nothing moved yet: preparation, not work
                return
            self._began = self._first[0]
            self._samples.append(self._first)
        self._samples.append((now, done))
        window = max(MIN_WINDOW_S, WINDOW_SHARE * (now - self._began))
        while len(self._samples) > 2 and now - self._samples[1][0] >= window:
            self._samples.popleft()

    def rate(self) -> float | None:
        """Units per second over the recent window; None until work has moved for a while."""
        if len(self._samples) < 2:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        if t1 - t0 < min(MIN_SECONDS, MIN_WINDOW_S) or d1 <= d0:
            return None
        return (d1 - d0) / (t1 - t0)

    def remaining(self) -> float | None:
        """Seconds left, or None while it cannot be told honestly (too early, or nothing moving)."""
        if not self._samples or self.total <= 0:
            return None
        now, done = self._samples[-1]
        assert self._began is not None
        if done < MIN_FRACTION * self.total or now - self._began < MIN_SECONDS:
            return None
        rate = self.rate()
        return None if rate is None else max(self.total - done, 0) / rate
