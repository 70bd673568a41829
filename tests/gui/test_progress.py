"""The progress panel: preparation shown as such, the current entry's bar moving, an honest time left."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_tree
from pytestqt.qtbot import QtBot

from lmarchive.jobs import COMPILING, CreateJob, EntryStarted, ExtractJob, JobStarted, Preparing, Progress
from lmarchive_gui.progress_panel import ESTIMATING, ProgressPanel
from lmarchive_gui.worker_process import JobRequest

from .conftest import text


class Clock:
    """Stands in for time.monotonic in the panel, so rates come out exact."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    fake = Clock()
    monkeypatch.setattr("lmarchive_gui.progress_panel.time.monotonic", fake)
    yield fake


@pytest.fixture
def panel(qtbot: QtBot) -> ProgressPanel:
    widget = ProgressPanel()
    qtbot.addWidget(widget)
    return widget


def test_preparation_is_a_labelled_step_not_a_stuck_zero(panel: ProgressPanel, clock: Clock) -> None:
    panel.start(JobRequest(1, CreateJob(archive="/x/books.lmz", model="default")))
    assert panel.overall.maximum() == 0 and panel.overall_text.text() == "Preparing…"  # the worker starting
    panel.on_event(JobStarted("create", "/x/books.lmz", 2, 4_000_000, "CPU"))
    panel.on_event(Preparing("loading the model default"))
    assert panel.overall.maximum() == 0, "a busy bar: no fraction is claimed while the model loads"
    assert panel.overall_text.text() == "Preparing: loading the model default…"
    panel.on_event(Progress(0, 4_000_000, "a.txt", 0, 1_000_000))
    assert panel.overall.maximum() > 0 and panel.overall.value() == 0
    assert panel.overall_text.text().endswith(ESTIMATING)


def test_compiling_mid_job_shows_as_preparation_then_the_bar_resumes(panel: ProgressPanel, clock: Clock) -> None:
    """Where the shipped kernels do not fit, numba compiles when a kernel is first called, which can be
    after bytes were counted (a decoder's kernel): the wait is named, then the bar comes back."""
    panel.start(JobRequest(1, ExtractJob(archive="/x/books.lmz")))
    panel.on_event(JobStarted("extract", "/x/books.lmz", 1, 1_000_000, "CPU"))
    panel.on_event(Progress(10_000, 1_000_000, "a.txt", 10_000, 1_000_000))
    panel.on_event(Preparing(COMPILING))
    assert panel.overall.maximum() == 0
    assert panel.overall_text.text() == f"Preparing: {COMPILING}…"
    panel.on_event(Progress(20_000, 1_000_000, "a.txt", 20_000, 1_000_000))
    assert panel.overall.maximum() > 0 and panel.overall.value() > 0


def test_time_left_waits_for_a_tenth_then_follows_the_recent_pace(panel: ProgressPanel, clock: Clock) -> None:
    panel.start(JobRequest(1, CreateJob(archive="/x/books.lmz", model="default")))
    panel.on_event(JobStarted("create", "/x/books.lmz", 1, 1_000_000, "CPU"))
    panel.on_event(Progress(0, 1_000_000, "a.txt", 0, 1_000_000))
    clock.now += 60  # a long warm-up at 0 must not count as a slow pace
    panel.on_event(Progress(0, 1_000_000, "a.txt", 0, 1_000_000))
    for second in range(1, 20):
        clock.now += 1
        panel.on_event(Progress(second * 5_000, 1_000_000, "a.txt", second * 5_000, 1_000_000))
    assert panel.overall_text.text().endswith(ESTIMATING), "10% is not done yet"
    for second in range(20, 41):
        clock.now += 1
        panel.on_event(Progress(second * 5_000, 1_000_000, "a.txt", second * 5_000, 1_000_000))
    assert panel.overall_text.text().endswith("about 2 min 40 s left")  # 800 kB at 5 kB/s


def test_current_entry_bar_moves_during_extraction(panel: ProgressPanel, clock: Clock) -> None:
    """An extraction reports entries only after their batch is decoded; Progress names the entry."""
    panel.start(JobRequest(1, ExtractJob(archive="/x/books.lmz")))
    panel.on_event(JobStarted("extract", "/x/books.lmz", 2, 4_000_000, "CPU"))
    panel.on_event(Progress(500_000, 4_000_000, "a.txt", 500_000, 1_000_000))
    assert panel.current_text.text() == "a.txt" and panel.current.value() == 500
    panel.on_event(Progress(2_500_000, 4_000_000, "b.txt", 1_500_000, 3_000_000))
    assert panel.current_text.text() == "b.txt" and panel.current.value() == 500
    panel.on_event(EntryStarted("a.txt", 1_000_000))  # late, with the batch's end: changes nothing shown
    assert panel.current_text.text() == "b.txt"


def test_a_real_extraction_drives_the_current_bar(panel: ProgressPanel, clock: Clock, tmp_path: Path) -> None:
    files = {f"f{i}.txt": text(40_000, seed=i) for i in range(3)}
    make_tree(tmp_path / "in", files)
    archive = tmp_path / "x.lmz"
    CreateJob(archive=archive, paths=[tmp_path / "in"]).run()
    shown: list[tuple[str, int]] = []

    def on_event(event: object) -> None:
        panel.on_event(event)  # type: ignore[arg-type]
        if isinstance(event, Progress):
            shown.append((panel.current_text.text(), panel.current.value()))

    panel.start(JobRequest(1, ExtractJob(archive=archive)))
    ExtractJob(on_event=on_event, archive=archive, dest=tmp_path / "out").run()
    assert shown and all(name.startswith("in/f") for name, _ in shown)
    assert shown[-1] == ("in/f2.txt", 1000)
