"""What create meets on a real disk (pipes, sockets, devices, odd names, files that change) and what
error messages may print (names holding terminal escapes)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
from conftest import run_cli

import lmarchive
from lmarchive.errors import AccessError, LMArchiveError
from lmarchive.jobs import CreateJob, EntryStarted, Event, Notice

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="named pipes, sockets and byte names are POSIX")
ESCAPE = "\x1b]0;pwned\x07\x1b[2J"


def names_in(archive: Path) -> list[str]:
    with lmarchive.open(archive) as lmz:
        return lmz.namelist()


@POSIX
def test_special_files_and_unstorable_names_are_skipped_with_a_warning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_bytes(b"kept " * 40)
    (tree / "sub" / "b.txt").write_bytes(b"kept too " * 40)
    os.mkfifo(tree / "pipe")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tree / "sock"))
    os.close(os.open(os.fsencode(tree) + b"/latin1-\xe9.txt", os.O_CREAT | os.O_WRONLY, 0o644))
    os.mkdir(os.fsencode(tree) + b"/bad-\xff-folder")
    os.close(os.open(os.fsencode(tree) + b"/bad-\xff-folder/inside", os.O_CREAT | os.O_WRONLY, 0o644))
    (tree / "back\\slash").write_bytes(b"x")
    try:
        code, _, err = run_cli(capsys, "create", tmp_path / "t.lmz", tree)
    finally:
        server.close()
    assert code == 0
    assert sorted(names_in(tmp_path / "t.lmz")) == ["tree", "tree/a.txt", "tree/sub", "tree/sub/b.txt"]
    warnings = err.splitlines()
    assert all(line.startswith("lmarchive: warning: skipped ") for line in warnings)
    assert len(warnings) == 5, warnings  # the pipe, the socket, two names that are not UTF-8, the backslash
    assert any("a named pipe" in line for line in warnings) and any("a socket" in line for line in warnings)
    assert sum("not valid UTF-8" in line for line in warnings) == 2
    assert any("backslash" in line for line in warnings)


def test_a_device_given_by_name_is_skipped(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    if not os.path.exists("/dev/null"):
        pytest.skip("no /dev/null here")
    (tmp_path / "a.txt").write_bytes(b"hello")
    code, _, err = run_cli(capsys, "create", tmp_path / "d.lmz", "/dev/null", tmp_path / "a.txt")
    assert code == 0 and names_in(tmp_path / "d.lmz") == ["a.txt"]
    assert err.startswith("lmarchive: warning: skipped /dev/null: it is a device") and err.count("\n") == 1


@POSIX
def test_the_api_skips_a_pipe_inside_a_folder(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_bytes(b"hello")
    os.mkfifo(tree / "pipe")
    with lmarchive.open(tmp_path / "t.lmz", "w") as lmz:
        lmz.add(tree)
    assert names_in(tmp_path / "t.lmz") == ["tree", "tree/a.txt"]


def create_with_hook(tmp_path: Path, target: Path, hook: object) -> tuple[list[Event], Path]:
    """Create an archive of ``target``; ``hook(path)`` runs as that entry starts, before it is read."""
    events: list[Event] = []

    def on_event(event: Event) -> None:
        events.append(event)
        if isinstance(event, EntryStarted):
            hook(target)  # type: ignore[operator]

    archive = tmp_path / "grow.lmz"
    CreateJob(on_event=on_event, archive=archive, paths=[target]).run()
    return events, archive


def test_a_file_that_grows_while_archived_is_stored_at_its_listed_size(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    original = b"line of a log file\n" * 5000
    log.write_bytes(original)

    def grow(path: Path) -> None:
        with path.open("ab") as handle:
            handle.write(b"written meanwhile\n" * 20000)

    events, archive = create_with_hook(tmp_path, log, grow)
    with lmarchive.open(archive) as lmz:
        assert lmz.read("app.log") == original
        assert lmz.getinfo("app.log").size == len(original)
    notices = [e.message for e in events if isinstance(e, Notice)]
    assert len(notices) == 1 and "grew while it was being archived" in notices[0]


def test_a_file_that_shrinks_while_archived_is_stored_as_read_with_a_warning(tmp_path: Path) -> None:
    data = tmp_path / "data.txt"
    data.write_bytes(b"0123456789" * 1000)
    events, archive = create_with_hook(tmp_path, data, lambda path: os.truncate(path, 2500))
    with lmarchive.open(archive) as lmz:
        assert lmz.read("data.txt") == (b"0123456789" * 1000)[:2500]
    assert any(isinstance(e, Notice) and "shrank" in e.message for e in events)


@POSIX
def test_a_file_swapped_for_a_pipe_fails_at_once_instead_of_blocking(tmp_path: Path) -> None:
    data = tmp_path / "data.txt"
    data.write_bytes(b"hello " * 100)

    def swap(path: Path) -> None:
        path.unlink()
        os.mkfifo(path)

    with pytest.raises(LMArchiveError, match="changed while it was being archived: it is now a named pipe"):
        create_with_hook(tmp_path, data, swap)
    assert not (tmp_path / "grow.lmz").exists()


@POSIX
def test_error_messages_escape_terminal_controls(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    archive = tmp_path / "evil.lmz"
    with lmarchive.open(archive, "w", model=None) as lmz:
        lmz.writestr(f"name{ESCAPE}.txt", b"content")
    out = tmp_path / "out"
    out.mkdir()
    (out / f"name{ESCAPE}.txt").write_bytes(b"mine")
    code, _, err = run_cli(capsys, "extract", archive, "-o", out)  # the target exists: an overwrite error
    assert code == 1 and "already exists" in err
    assert "\x1b" not in err and "\x07" not in err and "\\x1b" in err and err.count("\n") == 1
    code, _, err = run_cli(capsys, "create", tmp_path / "x.lmz", tmp_path / f"missing{ESCAPE}")
    assert code == 1 and "no such file" in err
    assert "\x1b" not in err and "\\x1b" in err and err.count("\n") == 1
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / f"link{ESCAPE}").symlink_to(tmp_path)
    code, _, err = run_cli(capsys, "create", tmp_path / "y.lmz", tmp_path / "tree")  # a warning names the link
    assert code == 0 and "skipped symbolic link" in err and "\x1b" not in err


def test_the_api_raises_library_errors_for_unreadable_paths(tmp_path: Path) -> None:
    """A missing archive, and an input file that vanished before the archive was written."""
    with pytest.raises(AccessError) as info:
        lmarchive.open(tmp_path / "missing.lmz")
    assert isinstance(info.value, LMArchiveError) and info.value.filename == str(tmp_path / "missing.lmz")
    source = tmp_path / "vanishing.txt"
    source.write_bytes(b"soon gone")
    lmz = lmarchive.open(tmp_path / "a.lmz", "w")
    lmz.add(source)
    source.unlink()
    with pytest.raises(AccessError, match="No such file"):
        lmz.close()
    assert not (tmp_path / "a.lmz").exists()
