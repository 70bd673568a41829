"""The time-left estimate (lmarchive_gui/eta.py): silent while it cannot know, then close to the truth."""

from __future__ import annotations

import io
import random
import sys
import threading
from pathlib import Path

import pytest
from conftest import text_bytes

from lmarchive.cli.console import Console
from lmarchive.errors import CancelledError
from lmarchive.jobs import CreateJob, EntryFinished, Event, ExtractJob, Job, JobStarted, Preparing, Progress
from lmarchive.models.mix.params import FAST_PARAMS
from lmarchive.models.mix.predictor import LM_COST, MixPredictor, _Job
from lmarchive.models.registry import DEFAULT_MODEL
from lmarchive_gui.eta import MIN_SECONDS, EtaEstimator


def feed(eta: EtaEstimator, points: list[tuple[float, int]]) -> list[float | None]:
    out = []
    for now, done in points:
        eta.update(now, done)
        out.append(eta.remaining())
    return out


def test_preparation_does_not_count_as_slow_work() -> None:
    """A minute at 0 (loading and compiling the model), then 1,000 units/s: no 'hours left'."""
    eta = EtaEstimator(100_000)
    feed(eta, [(t * 0.5, 0) for t in range(121)])
    said = feed(eta, [(60 + t, 1000 * t) for t in range(1, 30)])
    assert said[-1] == pytest.approx(71.0, rel=0.01)
    assert eta.rate() == pytest.approx(1000.0)


def test_nothing_before_a_tenth_or_before_a_few_seconds() -> None:
    slow = EtaEstimator(1_000_000)
    assert feed(slow, [(t, 1000 * t) for t in range(60)]) == [None] * 60  # 6% after a minute
    burst = EtaEstimator(1000)
    said = feed(burst, [(0.0, 0), (0.1, 500), (0.2, 600), (MIN_SECONDS - 0.5, 700)])
    assert said == [None] * 4  # half done in a tenth of a second proves nothing


def test_a_burst_at_the_start_does_not_promise_seconds() -> None:
    """A batch's stored chunks counted at once (a third of the job), then the model's slow pace:
    the former 4-second window said '5 s left' here; the estimate must follow the slow pace."""
    eta = EtaEstimator(300_000)
    feed(eta, [(0.0, 0), (0.05, 100_000)])
    said = feed(eta, [(0.05 + t, 100_000 + 500 * t) for t in range(1, 120)])
    truth = (300_000 - (100_000 + 500 * 119)) / 500
    assert said[-1] == pytest.approx(truth, rel=0.3)


def test_follows_a_change_of_pace() -> None:
    """Two streams, then one (the end of a batch): the rate halves and the estimate follows."""
    eta = EtaEstimator(2_000_000)
    feed(eta, [(t, 2000 * t) for t in range(301)])
    said = feed(eta, [(300 + t, 600_000 + 1000 * t) for t in range(1, 601)])
    assert said[9] == pytest.approx((2_000_000 - 610_000) / 1000, rel=0.5)  # on its way
    assert said[99] == pytest.approx((2_000_000 - 700_000) / 1000, rel=0.01)  # the window holds only the new pace


def test_a_stall_withdraws_the_estimate() -> None:
    eta = EtaEstimator(100_000)
    feed(eta, [(t, 1000 * t) for t in range(30)])
    assert eta.remaining() is not None
    said = feed(eta, [(30 + t, 29_000) for t in range(1, 200)])
    assert said[-1] is None


def test_empty_job() -> None:
    eta = EtaEstimator(0)
    assert feed(eta, [(0.0, 0), (10.0, 0)]) == [None, None]


# --- what the jobs feed the estimate and the bars -------------------------------------------------


def run_job(job: Job) -> list[Event]:
    events: list[Event] = []
    job.on_event = events.append
    job.run()
    return events


def test_progress_names_the_entry_the_count_has_reached() -> None:
    """Chunks of many entries are coded at once: the count is laid over the entries in order."""
    events: list[Event] = []
    job = Job(on_event=events.append)
    job._lay_out([("folder", 0), ("a", 100), ("empty", 0), ("b", 300)])
    for delta in (50, 50, 150, 150):
        job._last_progress = float("-inf")  # every step reported, not only 25 a second
        job._progress(delta)
    assert [(e.entry, e.entry_done, e.entry_total) for e in events if isinstance(e, Progress)] == [
        ("a", 50, 100),
        ("b", 0, 300),
        ("b", 150, 300),
        ("b", 300, 300),
    ]


def test_jobs_prepare_after_starting_and_lay_out_their_entries(tmp_path: Path, rng: random.Random) -> None:
    files = {"a.txt": text_bytes(rng, 30_000), "b.txt": text_bytes(rng, 70_000), "sub/c.txt": text_bytes(rng, 5_000)}
    for name, data in files.items():
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / name).write_bytes(data)
    archive = tmp_path / "x.lmz"
    created = run_job(CreateJob(archive=archive, paths=[tmp_path / "in"], model=DEFAULT_MODEL))
    extracted = run_job(ExtractJob(archive=archive, dest=tmp_path / "out"))
    for events in (created, extracted):
        kinds = [type(e) for e in events]
        assert kinds[0] is JobStarted and Preparing in kinds
        assert kinds.index(Preparing) < kinds.index(Progress)  # the model is ready before bytes are counted
        sizes = {e.info.name: e.info.size for e in events if isinstance(e, EntryFinished) and not e.info.is_dir()}
        order = list(sizes)
        before = {name: sum(sizes[n] for n in order[: order.index(name)]) for name in order}
        for p in (e for e in events if isinstance(e, Progress)):
            assert p.entry in sizes and p.entry_total == sizes[p.entry]
            assert before[p.entry] + p.entry_done == p.done_bytes
    steps = [e.step for e in created if isinstance(e, Preparing)]
    assert steps[0] == f"loading the model {DEFAULT_MODEL}"


def test_mixed_codings_tick_in_proportion_to_their_work() -> None:
    """A chunk coded without the LM costs 1/LM_COST of one coded with it: when the cheap one is done and
    the dear one not begun, barely any of the time has passed, and the ticks must say so."""
    cheap_done, release = threading.Event(), threading.Event()

    def cheap(_lm: object, progress: object, job: int) -> None:
        progress.done[job] = 100  # type: ignore[attr-defined]
        cheap_done.set()

    def dear(_lm: object, progress: object, job: int) -> None:
        release.wait(10)
        progress.done[job] = 100  # type: ignore[attr-defined]

    ticks: list[int] = []

    def tick(done: int) -> None:
        ticks.append(done)
        if cheap_done.is_set():
            release.set()

    jobs = [_Job(cheap, (None,), 100, 1), _Job(dear, ("an LM",), 100, LM_COST)]  # args end with the LM
    MixPredictor("cmx", FAST_PARAMS, threads=2)._parallel(jobs, tick)
    assert ticks[-1] == 200
    assert set(ticks) <= {0, 200 * 100 // (100 + 100 * LM_COST), 200}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_cli_bar_names_the_preparation_then_the_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with Console() as console:
        console.on_event(JobStarted("extract", "x.lmz", 2, 1000, "CPU"))
        console.on_event(Preparing("loading the model default"))
        assert "loading the model default" in terminal.getvalue().rsplit("\r", 1)[-1]
        console.on_event(Progress(500, 1000, "b.txt", 100, 600))  # no EntryStarted yet: an extraction
        console.bar.refresh()  # type: ignore[union-attr]
        assert terminal.getvalue().rsplit("\r", 1)[-1].rstrip().endswith("b.txt]")


def test_a_cancel_during_preparation_stops_the_job(tmp_path: Path, rng: random.Random) -> None:
    (tmp_path / "a.txt").write_bytes(text_bytes(rng, 20_000))
    archive = tmp_path / "x.lmz"
    CreateJob(archive=archive, paths=[tmp_path / "a.txt"]).run()
    for job in (
        CreateJob(archive=tmp_path / "y.lmz", paths=[tmp_path / "a.txt"]),
        ExtractJob(archive=archive, dest=tmp_path / "out"),
    ):
        events: list[Event] = []

        def on_event(event: Event, job: Job = job, events: list[Event] = events) -> None:
            events.append(event)
            if isinstance(event, Preparing):
                job.cancel()

        job.on_event = on_event
        with pytest.raises(CancelledError):
            job.run()
        assert not any(isinstance(e, Progress) for e in events)
    assert not (tmp_path / "y.lmz").exists() and not (tmp_path / "out" / "a.txt").exists()
