"""The coding-thread limit (:mod:`lmarchive.models.threads`): its default, and that the mixing model's
streams, the LM's decoding steps and the desktop app's Threads setting all go through it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from lmarchive.models.lm import predictor as lm_predictor
from lmarchive.models.lm.predictor import LMPredictor
from lmarchive.models.mix import predictor as mix_predictor
from lmarchive.models.mix.params import FAST_PARAMS
from lmarchive.models.mix.predictor import MixPredictor, _Job
from lmarchive.models.threads import DEFAULT_MAX_THREADS, coding_threads, set_coding_threads

REFERENCE_LM = Path(__file__).resolve().parent.parent / "lmarchive" / "data" / "selftest" / "lm-tiny-random"


@pytest.fixture(autouse=True)
def default_limit() -> Iterator[None]:
    """Every test starts and ends with the default: the limit is the process's."""
    set_coding_threads(0)
    yield
    set_coding_threads(0)


def test_the_default_is_a_few_threads_and_never_more_than_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    for cores, expected in ((1, 1), (2, 2), (64, DEFAULT_MAX_THREADS), (None, 1)):
        monkeypatch.setattr(os, "cpu_count", lambda cores=cores: cores)
        assert coding_threads() == expected
    set_coding_threads(7)
    assert coding_threads() == 7
    set_coding_threads(0)
    assert coding_threads() == 1
    with pytest.raises(ValueError, match="negative"):
        set_coding_threads(-1)


def test_the_mixing_model_codes_on_as_many_threads_as_the_limit_allows(monkeypatch: pytest.MonkeyPatch) -> None:
    pools: list[int] = []

    class Recording(ThreadPoolExecutor):
        def __init__(self, max_workers: int) -> None:
            pools.append(max_workers)
            super().__init__(max_workers)

    def nothing(_lm: object, progress: object, job: int) -> None:
        pass

    monkeypatch.setattr(mix_predictor, "ThreadPoolExecutor", Recording)
    jobs = [_Job(nothing, (None,), 10, 1) for _ in range(8)]
    model = MixPredictor("cmx", FAST_PARAMS)
    for limit in (3, 1):
        set_coding_threads(limit)
        model._parallel(jobs, lambda _: None)
    MixPredictor("cmx", FAST_PARAMS, threads=2)._parallel(jobs, lambda _: None)  # a model's own count wins
    set_coding_threads(6)
    model._parallel(jobs[:2], lambda _: None)  # never more threads than streams
    assert pools == [3, 1, 2, 2]


def test_the_lm_step_splits_its_streams_over_as_many_threads_as_the_limit_allows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    used: list[int] = []
    real = lm_predictor._pool

    def pool(threads: int) -> ThreadPoolExecutor:
        used.append(threads)
        return real(threads)

    monkeypatch.setattr(lm_predictor, "_pool", pool)
    lm = LMPredictor("lm-tiny-random", REFERENCE_LM)
    streams = np.arange(24)
    tables = {}
    for limit in (1, 3):
        set_coding_threads(limit)
        tables[limit] = lm.open_batch(len(streams)).frequencies(streams)
    assert used == [3, 3, 3]  # one thread: no pool; three: the step in three parts
    assert np.array_equal(tables[1], tables[3])


def test_the_worker_process_applies_the_threads_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from lmarchive_gui.worker_process import THREAD_VARIABLES, limit_threads

    for name in THREAD_VARIABLES:  # set, then removed: the test's end restores each as it was
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    limit_threads(0)
    assert coding_threads() == min(DEFAULT_MAX_THREADS, os.cpu_count() or 1)
    assert not set(THREAD_VARIABLES) & set(os.environ)
    limit_threads(2)
    assert coding_threads() == 2
    assert {name: os.environ[name] for name in THREAD_VARIABLES} == dict.fromkeys(THREAD_VARIABLES, "2")
