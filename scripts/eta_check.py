"""How good is the progress panel's time-left estimate?  Runs a real create, then an extract, and
compares what lmarchive_gui.eta.EtaEstimator would have said at every Progress event with the time that
was really left.

    .venv/bin/python scripts/eta_check.py ../shared/corpus/canterbury [--model default]

Prints, per job, the worst ratio (estimate / truth or its inverse) once 10% is done, counting only
moments with at least --floor seconds really left (a ratio of tenths of a second means nothing),
and the same for the rate over the last 4 seconds that the panel showed before.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lmarchive.jobs import CreateJob, Event, ExtractJob, Job, JobStarted, Preparing, Progress
from lmarchive_gui.eta import MIN_FRACTION, EtaEstimator

OLD_WINDOW_S = 4.0


def _old_estimate(samples: list[tuple[float, int]], total: int) -> float | None:
    """The panel's former estimate: the rate over the last 4 s (at least 0.5 s of it), from the first event."""
    now, done = samples[-1]
    recent = [s for s in samples if now - s[0] <= OLD_WINDOW_S] or samples[-1:]
    t0, d0 = recent[0]
    if now - t0 < 0.5 or done <= d0:
        return None
    return (total - done) / ((done - d0) / (now - t0))


Trace = dict[str, object]
"""One job's run: label, started, ended, prepared (the first Progress), total, steps, and (time, done) pairs."""


def record(label: str, make: Callable[[Callable[[Event], None]], Job]) -> Trace:
    """Run the job and note when each event came."""
    log: list[tuple[float, Event]] = []
    started = time.monotonic()
    make(lambda event: log.append((time.monotonic(), event))).run()
    return {
        "label": label,
        "started": started,
        "ended": time.monotonic(),
        "prepared": next((t for t, e in log if isinstance(e, Progress)), started),  # the Preparing steps are before
        "total": next(e.total_bytes for _, e in log if isinstance(e, JobStarted)),
        "steps": sorted({e.step for _, e in log if isinstance(e, Preparing)}),
        "progress": [(t, e.done_bytes) for t, e in log if isinstance(e, Progress)],
    }


def score(trace: Trace, floor: float) -> None:
    """Print how far off the estimates were, once 10% was done and at least ``floor`` seconds were left."""
    started, ended, total = float(trace["started"]), float(trace["ended"]), int(trace["total"])  # type: ignore[arg-type]
    prepared = float(trace["prepared"])  # type: ignore[arg-type]
    print(
        f"{trace['label']}: {total:,} bytes in {ended - started:.1f} s, "
        f"{prepared - started:.1f} s before the first Progress {trace['steps']}"
    )
    eta = EtaEstimator(total)
    samples: list[tuple[float, int]] = []
    worst = {"new": (1.0, 0.0, 0.0, 0.0), "old": (1.0, 0.0, 0.0, 0.0)}
    first_estimate = None
    milestones: list[str] = []
    for t, done in trace["progress"]:  # type: ignore[attr-defined]
        eta.update(t, done)
        samples.append((t, done))
        truth = ended - t
        new = eta.remaining()
        if new is not None and first_estimate is None:
            first_estimate = (t - started, done / total)
        if done * 10 >= (len(milestones) + 1) * total and len(milestones) < 9:
            said = "estimating" if new is None else f"{new:.0f} s"
            milestones.append(f"{done / total:.0%} at {t - started:.0f} s: {said}, really {truth:.0f} s")
        if done < MIN_FRACTION * total or truth < floor:
            continue
        for name, guess in (("new", new), ("old", _old_estimate(samples, total))):
            if guess is None:
                continue
            ratio = max(guess / truth, truth / guess) if guess > 0 else float("inf")
            if ratio > worst[name][0]:
                worst[name] = (ratio, t - started, guess, truth)
    for line in milestones:
        print(f"  {line}")
    if first_estimate is not None:
        print(f"  first estimate at {first_estimate[0]:.1f} s ({first_estimate[1]:.0%} done)")
    for name, (ratio, at, guess, truth) in worst.items():
        print(f"  {name}: worst ratio {ratio:.2f} at {at:.1f} s (said {guess:.1f} s left, really {truth:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--model", default="default")
    parser.add_argument("--floor", type=float, default=2.0, help="ignore moments with less than this really left")
    parser.add_argument("--save", type=Path, help="write the runs' traces here (JSON), to score again later")
    parser.add_argument("--replay", action="store_true", help="score the traces in FOLDER (a --save file) instead")
    args = parser.parse_args()
    if args.replay:
        traces = json.loads(args.folder.read_text())
    else:
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / "eta.lmz"
            make = lambda on_event: CreateJob(on_event=on_event, archive=archive, paths=[args.folder], model=args.model)  # noqa: E731
            traces = [record(f"create ({args.model})", make)]
            if args.save:
                args.save.write_text(json.dumps(traces))
            score(traces[0], args.floor)
            out = Path(tmp) / "out"
            traces.append(record("extract", lambda on_event: ExtractJob(on_event=on_event, archive=archive, dest=out)))
        if args.save:
            args.save.write_text(json.dumps(traces))
    for trace in traces[1 if not args.replay else 0 :]:
        score(trace, args.floor)


if __name__ == "__main__":
    main()
