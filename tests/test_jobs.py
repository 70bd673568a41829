"""Jobs: the event sequence of every job, cancelling from an event handler, and job-level refusals."""

from __future__ import annotations

import pickle
import random
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import partial_files, snapshot, text_bytes

import lmarchive
from lmarchive.codec import ChunkPlan
from lmarchive.container import ContainerReader
from lmarchive.errors import (
    CancelledError,
    ChecksumError,
    LMArchiveError,
    MemberNotFoundError,
    OverwriteError,
)
from lmarchive.jobs import (
    AddJob,
    CreateJob,
    DeleteJob,
    EntryFailed,
    EntryFinished,
    EntryStarted,
    Event,
    ExtractJob,
    Job,
    JobFinished,
    JobStarted,
    Progress,
    TestJob,
)
from lmarchive.models.registry import DEFAULT_MODEL, resolve


def make_tree(root: Path, rng: random.Random) -> dict[str, bytes | None]:
    """A source folder; returns member name -> content (None for folders) as the archive will hold it."""
    tree: dict[str, bytes | None] = {
        "src": None,
        "src/empty-dir": None,
        "src/sub": None,
        "src/a.txt": text_bytes(rng, 3000),
        "src/sub/b.txt": text_bytes(rng, 1500),
        "src/sub/noise.bin": rng.randbytes(700),
        "src/zero": b"",
    }
    for name, content in tree.items():
        path = root / name
        if content is None:
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.write_bytes(content)
    return tree


def check_events(
    events: list[Event], kind: str, finished: dict[str, bytes | None], *, ok: bool = True
) -> tuple[JobStarted, JobFinished]:
    """The invariants every job's events obey; ``finished`` is what EntryFinished must report."""
    start, end = events[0], events[-1]
    assert isinstance(start, JobStarted)
    assert start.kind == kind
    assert isinstance(end, JobFinished)
    assert end.ok is ok
    assert sum(isinstance(e, JobStarted) for e in events) == 1
    assert sum(isinstance(e, JobFinished) for e in events) == 1
    progress = [e for e in events if isinstance(e, Progress)]
    done = [p.done_bytes for p in progress]
    assert done == sorted(done)
    for p in progress:
        assert 0 <= p.done_bytes <= p.total_bytes == start.total_bytes
    if ok and start.total_bytes and kind != "delete":
        assert done[-1] == start.total_bytes
    infos = [e.info for e in events if isinstance(e, EntryFinished)]
    assert sorted(info.name for info in infos) == sorted(finished)
    started_at = {e.name: i for i, e in reversed(list(enumerate(events))) if isinstance(e, EntryStarted)}
    for index, event in enumerate(events):
        if isinstance(event, EntryFinished):
            info = event.info
            content = finished[info.name]
            assert started_at[info.name] < index
            assert info.is_dir() is (content is None)
            assert info.size == (0 if content is None else len(content))
            assert 0 <= info.packed <= info.size
            if content:
                assert info.gzip_size > 0
            assert info.method in ("store", "zstd", "model")
            assert info.model == (resolve(DEFAULT_MODEL) if info.method == "model" else "")
    if ok:
        files = [info for info in infos if not info.is_dir()]
        assert end.entries == len(infos)
        assert end.size == sum(e.size for e in files)
        assert end.packed == sum(e.packed for e in files)
        assert end.gzip_size == sum(e.gzip_size for e in files)
        assert not end.cancelled
        assert end.error is None
    return start, end


@pytest.fixture
def built(tmp_path: Path, rng: random.Random) -> tuple[Path, dict[str, bytes | None]]:
    tree = make_tree(tmp_path, rng)
    archive = tmp_path / "jobs.lmz"
    CreateJob(archive=archive, paths=[tmp_path / "src"]).run()
    return archive, tree


def test_create_events(tmp_path: Path, rng: random.Random) -> None:
    tree = make_tree(tmp_path, rng)
    events: list[Event] = []
    archive = tmp_path / "c.lmz"
    summary = CreateJob(archive=archive, paths=[tmp_path / "src"], on_event=events.append).run()
    assert summary == events[-1]
    start, _ = check_events(events, "create", tree)
    assert start.entries == len(tree)
    assert start.total_bytes == sum(len(c) for c in tree.values() if c is not None)
    by_name = {e.info.name: e.info for e in events if isinstance(e, EntryFinished)}
    assert by_name["src/a.txt"].method == "model"
    assert by_name["src/a.txt"].packed < by_name["src/a.txt"].gzip_size
    with lmarchive.open(archive) as lmz:
        assert sorted(lmz.namelist()) == sorted(tree)
        for info in lmz.infolist():
            assert by_name[info.name] == info, "a job reports each member as the archive lists it"


def test_extract_and_test_events(tmp_path: Path, built: tuple[Path, dict[str, bytes | None]]) -> None:
    archive, tree = built
    events: list[Event] = []
    TestJob(archive=archive, on_event=events.append).run()
    check_events(events, "test", tree)
    events = []
    ExtractJob(archive=archive, dest=tmp_path / "out", on_event=events.append).run()
    check_events(events, "extract", tree)
    assert snapshot(tmp_path / "out") == tree


def test_extract_some_members(tmp_path: Path, built: tuple[Path, dict[str, bytes | None]]) -> None:
    archive, tree = built
    events: list[Event] = []
    ExtractJob(archive=archive, dest=tmp_path / "out", members=["src/sub/", "src/a.txt"], on_event=events.append).run()
    chosen = {k: v for k, v in tree.items() if k.startswith("src/sub") or k == "src/a.txt"}
    start, _ = check_events(events, "extract", chosen)
    assert start.entries == len(chosen)
    assert snapshot(tmp_path / "out") == chosen | {"src": None}


def test_add_events(tmp_path: Path, built: tuple[Path, dict[str, bytes | None]], rng: random.Random) -> None:
    archive, tree = built
    extra = tmp_path / "extra.txt"
    extra.write_bytes(text_bytes(rng, 1200))
    events: list[Event] = []
    AddJob(archive=archive, paths=[extra], on_event=events.append).run()
    check_events(events, "add", {"extra.txt": extra.read_bytes()})
    with lmarchive.open(archive) as lmz:
        assert sorted(lmz.namelist()) == sorted([*tree, "extra.txt"])
        assert lmz.read("extra.txt") == extra.read_bytes()
        lmz.test()


def test_add_to_a_missing_archive_creates_it(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"content")
    AddJob(archive=tmp_path / "new.lmz", paths=[tmp_path / "f"]).run()
    with lmarchive.open(tmp_path / "new.lmz") as lmz:
        assert lmz.read("f") == b"content"


def chunk_lengths(archive: Path) -> dict[str, list[int]]:
    """Each entry's chunk lengths as the directory records them."""
    with ContainerReader(archive) as reader:
        return {e.name: [c.orig_len for c in e.chunks] for e in reader.entries}


SMALL_CHUNKS = ChunkPlan(min_size=64 << 10, max_size=64 << 10)


def test_a_chunk_plan_caps_chunk_sizes(tmp_path: Path, rng: random.Random) -> None:
    # Over 1 MiB, or the default plan (16 chunks, at least 64 KiB each) would cut it the same way.
    # No model, so zstd codes it in moments; the plan decides chunking whatever the method.
    text = tmp_path / "big.txt"
    text.write_bytes(text_bytes(rng, (2 << 20) + 12345))
    small, default = tmp_path / "small.lmz", tmp_path / "default.lmz"
    CreateJob(archive=small, paths=[text], model=None, plan=SMALL_CHUNKS).run()
    CreateJob(archive=default, paths=[text], model=None).run()
    small_chunks, default_chunks = chunk_lengths(small)["big.txt"], chunk_lengths(default)["big.txt"]
    assert max(small_chunks) <= 64 << 10 and sum(small_chunks) == text.stat().st_size
    assert len(default_chunks) < len(small_chunks) and max(default_chunks) > 64 << 10
    with lmarchive.open(small) as lmz:
        assert lmz.read("big.txt") == text.read_bytes()


def test_add_uses_its_chunk_plan_for_new_entries_only(tmp_path: Path, rng: random.Random) -> None:
    # Incompressible data is stored in chunks of the plan's largest size: one under the default.
    first, second = tmp_path / "first.bin", tmp_path / "second.bin"
    first.write_bytes(rng.randbytes(300_000))
    second.write_bytes(rng.randbytes(300_000))
    archive = tmp_path / "a.lmz"
    CreateJob(archive=archive, paths=[first]).run()
    AddJob(archive=archive, paths=[second], plan=SMALL_CHUNKS).run()
    lengths = chunk_lengths(archive)
    assert lengths["first.bin"] == [300_000]
    assert len(lengths["second.bin"]) == 5 and max(lengths["second.bin"]) <= 64 << 10


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (ChunkPlan(min_size=1 << 10, max_size=32 << 10), "largest chunk must be between 64 KiB and 16 MiB"),
        (ChunkPlan(max_size=(16 << 20) + 1), "largest chunk must be between 64 KiB and 16 MiB"),
        (ChunkPlan(min_size=0), "smallest chunk"),
        (ChunkPlan(min_size=2 << 20, max_size=1 << 20), "smallest chunk"),
    ],
    ids=["too-small", "too-large", "empty-minimum", "minimum-above-maximum"],
)
def test_bad_chunk_plans_are_refused(tmp_path: Path, plan: ChunkPlan, message: str) -> None:
    (tmp_path / "f").write_bytes(b"content")
    for job in (CreateJob, AddJob):
        with pytest.raises(LMArchiveError, match=message):
            job(archive=tmp_path / "x.lmz", paths=[tmp_path / "f"], plan=plan)
    assert not (tmp_path / "x.lmz").exists()


def test_a_job_pickles_as_its_work_without_the_runners_handles(tmp_path: Path) -> None:
    """What the app sends its worker process: the description, checks run again; handles stay behind."""
    plan = ChunkPlan(min_size=64 << 10, max_size=64 << 10)
    job = CreateJob(on_event=lambda event: None, archive=tmp_path / "x.lmz", paths=[tmp_path], plan=plan)
    job.cancel()
    sent = pickle.loads(pickle.dumps(job))
    assert (sent.kind, sent.archive, sent.paths, sent.plan) == ("create", job.archive, job.paths, plan)
    assert sent.on_event is None and not sent.cancelled()


def test_delete_a_folder_removes_everything_under_it(built: tuple[Path, dict[str, bytes | None]]) -> None:
    archive, tree = built
    with lmarchive.open(archive) as lmz:
        kept_before = {i.name: i for i in lmz.infolist() if not i.name.startswith("src/sub")}
    events: list[Event] = []
    DeleteJob(archive=archive, members=["src/sub"], on_event=events.append).run()
    start, _ = check_events(events, "delete", {})
    assert start.entries == 3  # the folder and its two files
    with lmarchive.open(archive) as lmz:
        assert sorted(lmz.namelist()) == sorted(kept_before)
        assert {i.name: i for i in lmz.infolist()} == kept_before
        for name, content in tree.items():
            if name in kept_before and content is not None:
                assert lmz.read(name) == content
        lmz.test()


def test_delete_does_not_touch_names_that_only_share_a_prefix(tmp_path: Path) -> None:
    archive = tmp_path / "p.lmz"
    with lmarchive.open(archive, "w") as lmz:
        lmz.writestr("dir/a", b"a")
        lmz.writestr("dir2/b", b"b")
        lmz.writestr("dir.txt", b"c")
    DeleteJob(archive=archive, members=["dir"]).run()
    with lmarchive.open(archive) as lmz:
        assert lmz.namelist() == ["dir2/b", "dir.txt"]


# --- cancelling ----------------------------------------------------------------------------------


def cancel_on(job: Job, first: type[Event]) -> Callable[[Event], None]:
    """An on_event handler that records events and cancels ``job`` at the first event of type ``first``."""
    seen: list[Event] = []

    def handler(event: Event) -> None:
        seen.append(event)
        if isinstance(event, first):
            job.cancel()

    handler.seen = seen  # type: ignore[attr-defined]
    return handler


def assert_cancelled(job: Job, first: type[Event] = Progress) -> list[Event]:
    handler = cancel_on(job, first)
    job.on_event = handler
    with pytest.raises(CancelledError):
        job.run()
    events: list[Event] = handler.seen  # type: ignore[attr-defined]
    assert any(isinstance(e, first) for e in events)
    end = events[-1]
    assert isinstance(end, JobFinished)
    assert (end.ok, end.cancelled) == (False, True)
    return events


def test_cancel_create(tmp_path: Path, rng: random.Random) -> None:
    make_tree(tmp_path, rng)
    archive = tmp_path / "c.lmz"
    assert_cancelled(CreateJob(archive=archive, paths=[tmp_path / "src"]))
    assert not archive.exists()
    assert not partial_files(tmp_path)


def test_cancel_add(tmp_path: Path, built: tuple[Path, dict[str, bytes | None]], rng: random.Random) -> None:
    archive, _ = built
    before = archive.read_bytes()
    extra = tmp_path / "extra.txt"
    extra.write_bytes(text_bytes(rng, 3000))
    assert_cancelled(AddJob(archive=archive, paths=[extra]))
    assert archive.read_bytes() == before
    assert not partial_files(tmp_path)


def test_cancel_extract(tmp_path: Path, built: tuple[Path, dict[str, bytes | None]]) -> None:
    archive, _ = built
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "mine.txt").write_bytes(b"mine")
    assert_cancelled(ExtractJob(archive=archive, dest=dest))
    assert snapshot(dest) == {"mine.txt": b"mine"}
    assert_cancelled(ExtractJob(archive=archive, dest=tmp_path / "fresh"))
    assert not (tmp_path / "fresh").exists()
    assert not partial_files(tmp_path)


def test_cancel_test(built: tuple[Path, dict[str, bytes | None]]) -> None:
    archive, _ = built
    assert_cancelled(TestJob(archive=archive))


def test_cancel_delete(tmp_path: Path, built: tuple[Path, dict[str, bytes | None]]) -> None:
    archive, _ = built
    before = archive.read_bytes()
    assert_cancelled(DeleteJob(archive=archive, members=["src/a.txt"]), first=JobStarted)  # delete reports no progress
    assert archive.read_bytes() == before
    assert not partial_files(tmp_path)


def test_a_cancel_flag_owned_by_the_caller(tmp_path: Path, rng: random.Random) -> None:
    make_tree(tmp_path, rng)
    flag = threading.Event()
    flag.set()
    job = CreateJob(archive=tmp_path / "c.lmz", paths=[tmp_path / "src"], cancel_flag=flag)
    with pytest.raises(CancelledError):
        job.run()
    assert not (tmp_path / "c.lmz").exists()

    class Flag:
        def is_set(self) -> bool:
            return True

    other = TestJob(archive=tmp_path / "c.lmz", cancel_flag=Flag())
    with pytest.raises(TypeError):
        other.cancel()


@pytest.mark.parametrize("kind", ["extract", "test"])
def test_cancel_is_honoured_for_stored_entries(tmp_path: Path, kind: str) -> None:
    archive = tmp_path / "stored.lmz"
    rng = random.Random(3)
    with lmarchive.open(archive, "w") as lmz:
        for i in range(70):  # two decode batches of stored (random) chunks
            lmz.writestr(f"f{i:02}", rng.randbytes(4096))  # stored without modelling
    job: Job = ExtractJob(archive=archive, dest=tmp_path / "out") if kind == "extract" else TestJob(archive=archive)
    assert_cancelled(job, first=EntryFinished)
    assert not (tmp_path / "out").exists()


# --- refusals ------------------------------------------------------------------------------------


def test_create_refuses_an_existing_archive_unless_overwrite(
    tmp_path: Path, built: tuple[Path, dict[str, bytes | None]]
) -> None:
    archive, _ = built
    before = archive.read_bytes()
    (tmp_path / "other.txt").write_bytes(b"other")
    events: list[Event] = []
    with pytest.raises(OverwriteError):
        CreateJob(archive=archive, paths=[tmp_path / "other.txt"], on_event=events.append).run()
    assert archive.read_bytes() == before
    end = events[-1]
    assert isinstance(end, JobFinished)
    assert not end.ok
    assert end.error
    CreateJob(archive=archive, paths=[tmp_path / "other.txt"], overwrite=True).run()
    with lmarchive.open(archive) as lmz:
        assert lmz.namelist() == ["other.txt"]


@pytest.mark.parametrize("kind", ["extract", "test", "delete"])
def test_unknown_member_names(tmp_path: Path, built: tuple[Path, dict[str, bytes | None]], kind: str) -> None:
    archive, _ = built
    before = archive.read_bytes()
    jobs: dict[str, Job] = {
        "extract": ExtractJob(archive=archive, dest=tmp_path / "out", members=["src/a.txt", "nope"]),
        "test": TestJob(archive=archive, members=["nope"]),
        "delete": DeleteJob(archive=archive, members=["src/a.txt", "src/su"]),  # a prefix is not a folder
    }
    with pytest.raises(MemberNotFoundError):
        jobs[kind].run()
    assert archive.read_bytes() == before
    assert not (tmp_path / "out").exists()


def test_delete_needs_a_member(built: tuple[Path, dict[str, bytes | None]]) -> None:
    archive, _ = built
    with pytest.raises(LMArchiveError, match="at least one"):
        DeleteJob(archive=archive).run()


def test_a_failing_job_reports_the_entry_and_the_error(
    tmp_path: Path, built: tuple[Path, dict[str, bytes | None]]
) -> None:
    archive, _ = built
    with lmarchive.open(archive) as lmz:
        assert lmz.getinfo("src/sub/noise.bin").method == "model"
    with ContainerReader(archive) as reader:
        entry = reader.get("src/sub/noise.bin")
        assert entry is not None
        offset = entry.chunks[0].offset + 3
    blob = bytearray(archive.read_bytes())
    blob[offset] ^= 0xFF
    archive.write_bytes(bytes(blob))
    events: list[Event] = []
    with pytest.raises(ChecksumError):
        ExtractJob(archive=archive, dest=tmp_path / "out", on_event=events.append).run()
    end = events[-1]
    assert isinstance(end, JobFinished)
    assert (end.ok, end.cancelled) == (False, False)
    assert end.error is not None
    assert "noise.bin" in end.error
    assert any(isinstance(e, EntryFailed) for e in events)
    assert not (tmp_path / "out").exists()
    assert not partial_files(tmp_path)


def test_missing_sources_are_library_errors(tmp_path: Path) -> None:
    with pytest.raises(LMArchiveError, match="no such file"):
        CreateJob(archive=tmp_path / "x.lmz", paths=[tmp_path / "missing"]).run()
    assert not (tmp_path / "x.lmz").exists()
