"""Extracting over existing files, member by member: replace, skip, or rename (keep both)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import partial_files

from lmarchive import cli, extracting
from lmarchive.container import ContainerReader, EntryRecord
from lmarchive.errors import OverwriteError
from lmarchive.extracting import existing_targets, numbered_name
from lmarchive.jobs import CreateJob, ExtractJob

FILES = {"a.txt": b"archived a " * 50, "b.txt": b"archived b " * 40, "sub/c.txt": b"archived c " * 30}


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    for name, data in FILES.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    path = tmp_path / "t.lmz"
    CreateJob(archive=path, paths=sorted(src.iterdir()), model="cm2").run()
    return path


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """A destination where a.txt and sub/c.txt are already there."""
    dest = tmp_path / "out"
    (dest / "sub").mkdir(parents=True)
    (dest / "a.txt").write_bytes(b"mine a")
    (dest / "sub/c.txt").write_bytes(b"mine c")
    return dest


def test_existing_targets_names_only_the_files_in_the_way(archive: Path, out: Path) -> None:
    with ContainerReader(archive) as reader:
        found = existing_targets(reader.entries, out)
    assert [(entry.name, st.st_size) for entry, st in found] == [("a.txt", 6), ("sub/c.txt", 6)]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["a.txt", "sub", "sub/c.txt"]


def test_numbered_name() -> None:
    assert numbered_name("a.txt", 2) == "a (2).txt"
    assert numbered_name("report.tar.gz", 3) == "report.tar (3).gz"
    assert numbered_name(".bashrc", 2) == ".bashrc (2)"
    assert numbered_name("README", 2) == "README (2)"


def test_skip_leaves_the_existing_file_and_extracts_the_rest(archive: Path, out: Path) -> None:
    done = ExtractJob(archive=archive, dest=out, resolutions={"a.txt": "skip", "sub/c.txt": "skip"}).run()
    assert (out / "a.txt").read_bytes() == b"mine a"
    assert (out / "sub/c.txt").read_bytes() == b"mine c"
    assert (out / "b.txt").read_bytes() == FILES["b.txt"]
    assert done.entries == 2  # b.txt and the folder sub/
    assert not partial_files(out)


def test_rename_keeps_both(archive: Path, out: Path) -> None:
    (out / "a (2).txt").write_bytes(b"an earlier copy")
    ExtractJob(archive=archive, dest=out, resolutions={"a.txt": "rename", "sub/c.txt": "rename"}).run()
    assert (out / "a.txt").read_bytes() == b"mine a"
    assert (out / "a (2).txt").read_bytes() == b"an earlier copy", "the first free number, never a taken one"
    assert (out / "a (3).txt").read_bytes() == FILES["a.txt"]
    assert (out / "sub/c.txt").read_bytes() == b"mine c"
    assert (out / "sub/c (2).txt").read_bytes() == FILES["sub/c.txt"]
    assert not partial_files(out)


def race(monkeypatch: pytest.MonkeyPatch, member: str, action: Callable[[], None]) -> None:
    """Run ``action`` as ``member`` decodes: after every check, before it is given its name."""
    real = extracting.iter_chunks

    def hooked(*args: object, **kwargs: object) -> Iterator[tuple[EntryRecord, int, bytes]]:
        for item in real(*args, **kwargs):  # type: ignore[arg-type]
            if item[0].name == member:
                action()
            yield item

    monkeypatch.setattr(extracting, "iter_chunks", hooked)


def test_rename_picks_the_name_when_it_commits(archive: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that takes 'a (2).txt' while a.txt decodes is not replaced: the member becomes 'a (3).txt'."""
    race(monkeypatch, "a.txt", lambda: (out / "a (2).txt").write_bytes(b"raced in"))
    ExtractJob(archive=archive, dest=out, resolutions={"a.txt": "rename"}, members=["a.txt"]).run()
    assert (out / "a (2).txt").read_bytes() == b"raced in"
    assert (out / "a (3).txt").read_bytes() == FILES["a.txt"]


def test_replace_replaces_only_the_named_members(archive: Path, out: Path) -> None:
    with pytest.raises(OverwriteError, match=r"sub/c\.txt"):
        ExtractJob(archive=archive, dest=out, resolutions={"a.txt": "replace"}).run()
    assert (out / "a.txt").read_bytes() == b"mine a", "all or nothing: the refused member takes back the rest"
    assert not (out / "b.txt").exists()
    ExtractJob(archive=archive, dest=out, resolutions={"a.txt": "replace", "sub/c.txt": "skip"}).run()
    assert (out / "a.txt").read_bytes() == FILES["a.txt"]
    assert (out / "sub/c.txt").read_bytes() == b"mine c"
    assert not partial_files(out)


def test_a_rename_is_taken_back_by_a_later_failure(archive: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """All or nothing still: b.txt appearing while it decodes fails the extraction, and the renamed a goes."""
    race(monkeypatch, "b.txt", lambda: (out / "b.txt").write_bytes(b"raced in"))
    with pytest.raises(OverwriteError, match=r"b\.txt"):
        ExtractJob(archive=archive, dest=out, resolutions={"a.txt": "rename", "sub/c.txt": "skip"}).run()
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["a.txt", "b.txt", "sub", "sub/c.txt"]
    assert (out / "a.txt").read_bytes() == b"mine a"


@pytest.mark.parametrize(
    ("option", "check"),
    [
        ("skip", lambda out: (out / "a.txt").read_bytes() == b"mine a" and not (out / "a (2).txt").exists()),
        ("rename", lambda out: (out / "a (2).txt").read_bytes() == FILES["a.txt"]),
        ("replace", lambda out: (out / "a.txt").read_bytes() == FILES["a.txt"]),
    ],
)
def test_cli_existing(archive: Path, out: Path, option: str, check: Callable[[Path], bool]) -> None:
    assert cli.main(["extract", str(archive), "-o", str(out), "--existing", option]) == 0
    assert check(out)
    assert (out / "b.txt").read_bytes() == FILES["b.txt"]


def test_cli_existing_error_is_the_default(archive: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["extract", str(archive), "-o", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert not (out / "b.txt").exists()
