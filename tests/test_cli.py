"""Tests of the ``lmarchive`` command line: the behaviour scripts depend on, exit codes and output.

Most run ``main()`` in-process (fast, output captured by pytest); a few start ``python -m
lmarchive`` to check the real entry point, the exit status and that nothing else reaches stderr.
Files are a few KB so the model's coding stays quick.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli, text_bytes

from lmarchive import bench
from lmarchive.cli import main
from lmarchive.cli.console import Console
from lmarchive.container import ContainerReader
from lmarchive.device import resolve_device
from lmarchive.models import registry
from lmarchive.models.registry import DEFAULT_MODEL, available_models, resolve
from lmarchive.models.threads import DEFAULT_MAX_THREADS, coding_threads, set_coding_threads
from lmarchive.writing import Source, WriteCallbacks, write_archive


def assert_error(err: str, fragment: str) -> None:
    """Exactly one line, the CLI's error prefix, and the expected reason; no traceback."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("lmarchive: error: "), err
    assert fragment in lines[0], err


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A folder (text, binary, empty file, subfolder) and an archive of it, made once for the module."""
    root = tmp_path_factory.mktemp("sample")
    src = root / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(text_bytes(random.Random(1), 3000))
    (src / "sub" / "b.txt").write_bytes(text_bytes(random.Random(2), 2000))
    (src / "sub" / "r.bin").write_bytes(random.Random(3).randbytes(1000))
    (src / "empty").write_bytes(b"")
    archive = root / "sample.lmz"
    assert main(["-q", "create", str(archive), str(src)]) == 0
    return src, archive


@pytest.fixture
def archive(sample: tuple[Path, Path], tmp_path: Path) -> Path:
    """A private copy of the sample archive that a test may change."""
    return Path(shutil.copy(sample[1], tmp_path / "x.lmz"))


def tree(folder: Path) -> dict[str, bytes | None]:
    """Relative path -> content (None for folders)."""
    return {p.relative_to(folder).as_posix(): None if p.is_dir() else p.read_bytes() for p in sorted(folder.rglob("*"))}


# -- create / list / extract / test -----------------------------------------------------------
def test_create_prints_one_summary_line(
    capsys: pytest.CaptureFixture[str], sample: tuple[Path, Path], tmp_path: Path
) -> None:
    src, _ = sample
    code, out, err = run_cli(capsys, "create", tmp_path / "new.lmz", src)
    assert code == 0 and err == ""
    assert re.fullmatch(
        r"created \S+new\.lmz: 6 entries, 6,000 -> [\d,]+ bytes \(\d\.\d{3} bpb; gzip -9: \d\.\d{3} bpb\)\n", out
    ), out


def test_verbose_prints_each_entry_and_quiet_prints_nothing(
    capsys: pytest.CaptureFixture[str], sample: tuple[Path, Path], tmp_path: Path
) -> None:
    src, _ = sample
    code, out, _ = run_cli(capsys, "create", "-v", tmp_path / "v.lmz", src / "sub")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "sub/"
    assert re.fullmatch(r"sub/b\.txt: 2,000 -> [\d,]+ \([\d.]+%; gzip -9: [\d.]+%\) \w+", lines[1]), lines
    assert lines[-1].startswith("created ")
    assert run_cli(capsys, "-q", "create", tmp_path / "q.lmz", src / "sub") == (0, "", "")
    assert run_cli(capsys, "extract", "-q", tmp_path / "q.lmz", "-o", tmp_path / "out") == (0, "", "")


def test_list_table(capsys: pytest.CaptureFixture[str], archive: Path) -> None:
    code, out, err = run_cli(capsys, "list", archive)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["Modified", "Size", "Packed", "Ratio", "Gzip", "Method", "Model", "Name"]
    names = [line.split()[-1] for line in lines[1:-1]]
    assert names == ["src/", "src/sub/", "src/a.txt", "src/empty", "src/sub/b.txt", "src/sub/r.bin"]
    a_row = lines[1 + names.index("src/a.txt")].split()
    assert a_row[2] == "3,000" and a_row[-3:] == ["model", resolve(DEFAULT_MODEL), "src/a.txt"]
    assert lines[-1].startswith("6 entries (4 files, 2 folders): 6,000 -> ")


def test_list_json_fields(capsys: pytest.CaptureFixture[str], archive: Path, sample: tuple[Path, Path]) -> None:
    code, out, _ = run_cli(capsys, "list", "--json", archive)
    assert code == 0
    items = json.loads(out)
    with ContainerReader(archive) as reader:
        entries = {e.name: e for e in reader.entries}
    assert [item["name"] for item in items] == list(entries)
    for item in items:
        entry = entries[item["name"]]
        assert item["type"] == ("dir" if entry.is_dir else "file")
        assert (item["size"], item["packed"], item["gzip_size"]) == (entry.size, entry.packed, entry.gzip_size)
        assert (item["mode"], item["crc32"], item["chunks"]) == (entry.mode, entry.crc32, len(entry.chunks))
        assert item["method"] == entry.method.name.lower()
        assert item["mtime"].endswith("Z")
        parsed = datetime.fromisoformat(item["mtime"].replace("Z", "+00:00"))
        assert int(parsed.timestamp()) == entry.mtime_ns // 10**9
    a = next(item for item in items if item["name"] == "src/a.txt")
    assert a["method"] == "model" and a["model"] == resolve(DEFAULT_MODEL)
    assert re.fullmatch(r"[0-9a-f]{64}", a["fingerprint"])
    assert a["mode"] == (sample[0] / "a.txt").stat().st_mode & 0o7777
    folder = next(item for item in items if item["name"] == "src")
    assert (folder["type"], folder["model"], folder["fingerprint"]) == ("dir", None, None)


def test_list_escapes_control_characters_in_names(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    archive = tmp_path / "evil.lmz"
    write_archive(archive, [Source("red\x1b[31m\nname", data=b"x")], None, WriteCallbacks())
    code, out, _ = run_cli(capsys, "list", archive)
    assert code == 0
    assert "\x1b" not in out and "red\\x1b[31m\\nname" in out
    assert json.loads(run_cli(capsys, "list", "--json", archive)[1])[0]["name"] == "red\x1b[31m\nname"


def test_extract_everything_then_test(
    capsys: pytest.CaptureFixture[str], archive: Path, sample: tuple[Path, Path], tmp_path: Path
) -> None:
    code, out, _ = run_cli(capsys, "extract", archive, "-o", tmp_path / "out")
    assert code == 0 and out == f"extracted 6 entries (6,000 bytes) to {tmp_path / 'out'}\n"
    assert tree(tmp_path / "out" / "src") == tree(sample[0])
    assert run_cli(capsys, "test", archive) == (0, "OK: 6 entries verified\n", "")


def test_extract_defaults_to_the_current_folder(
    capsys: pytest.CaptureFixture[str], archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "here"
    work.mkdir()
    monkeypatch.chdir(work)
    assert run_cli(capsys, "-q", "extract", archive, "src/a.txt")[0] == 0
    assert tree(work) == {"src": None, "src/a.txt": text_bytes(random.Random(1), 3000)}


@pytest.mark.parametrize(
    "order",
    [
        ["{a}", "src/sub/b.txt", "src/empty", "-o", "{o}"],
        ["-o", "{o}", "{a}", "src/sub/b.txt", "src/empty"],
        ["{a}", "-o", "{o}", "src/sub/b.txt", "src/empty"],  # names after an option
        ["{a}", "src/sub/b.txt", "-o", "{o}", "src/empty"],
    ],
)
def test_extract_selected_members(
    capsys: pytest.CaptureFixture[str], archive: Path, tmp_path: Path, order: list[str]
) -> None:
    out_dir = tmp_path / "out"
    args = [item.format(a=archive, o=out_dir) for item in order]
    assert run_cli(capsys, "extract", "-q", *args)[0] == 0
    assert tree(out_dir) == {
        "src": None,
        "src/empty": b"",
        "src/sub": None,
        "src/sub/b.txt": text_bytes(random.Random(2), 2000),
    }


def test_extract_a_folder_member_and_an_unknown_one(
    capsys: pytest.CaptureFixture[str], archive: Path, tmp_path: Path
) -> None:
    assert run_cli(capsys, "-q", "extract", archive, "src/sub/", "-o", tmp_path / "out")[0] == 0
    assert sorted(tree(tmp_path / "out")) == ["src", "src/sub", "src/sub/b.txt", "src/sub/r.bin"]
    code, _, err = run_cli(capsys, "extract", archive, "-o", tmp_path / "other", "--", "-nope")
    assert code == 1
    assert_error(err, "no member named '-nope'")
    assert not (tmp_path / "other").exists() or not any((tmp_path / "other").iterdir())


def test_extract_refuses_existing_files_unless_overwrite(
    capsys: pytest.CaptureFixture[str], archive: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "out"
    target = out_dir / "src" / "a.txt"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"mine")
    code, out, err = run_cli(capsys, "extract", archive, "-o", out_dir)
    assert code == 1 and out == ""
    assert_error(err, "already exists")
    assert target.read_bytes() == b"mine"
    assert run_cli(capsys, "-q", "extract", archive, "-o", out_dir, "--overwrite")[0] == 0
    assert target.read_bytes() == text_bytes(random.Random(1), 3000)


# -- add / delete / create --force ------------------------------------------------------------
def test_add_then_delete(capsys: pytest.CaptureFixture[str], archive: Path, tmp_path: Path) -> None:
    extra = tmp_path / "c.txt"
    extra.write_bytes(text_bytes(random.Random(4), 1500))
    code, out, _ = run_cli(capsys, "add", archive, extra)
    assert code == 0 and out.startswith(f"added to {archive}: 1 entry, 1,500 -> ")
    names = [item["name"] for item in json.loads(run_cli(capsys, "list", "--json", archive)[1])]
    assert "c.txt" in names and len(names) == 7

    code, out, _ = run_cli(capsys, "delete", archive, "src/sub", "c.txt")
    assert (code, out) == (0, f"deleted 4 entries from {archive}\n")
    names = [item["name"] for item in json.loads(run_cli(capsys, "list", "--json", archive)[1])]
    assert names == ["src", "src/a.txt", "src/empty"]
    assert run_cli(capsys, "test", archive)[1] == "OK: 3 entries verified\n"


def test_delete_unknown_member_changes_nothing(capsys: pytest.CaptureFixture[str], archive: Path) -> None:
    before = archive.read_bytes()
    code, _, err = run_cli(capsys, "delete", archive, "nope")
    assert code == 1
    assert_error(err, "no member named 'nope'")
    assert archive.read_bytes() == before


def test_create_refuses_an_existing_archive_unless_force(
    capsys: pytest.CaptureFixture[str], archive: Path, sample: tuple[Path, Path]
) -> None:
    before = archive.read_bytes()
    code, out, err = run_cli(capsys, "create", archive, sample[0] / "sub" / "b.txt")
    assert code == 1 and out == ""
    assert_error(err, "already exists (use --force")
    assert archive.read_bytes() == before
    assert run_cli(capsys, "-q", "create", "--force", archive, sample[0] / "sub" / "b.txt")[0] == 0
    assert [item["name"] for item in json.loads(run_cli(capsys, "list", "--json", archive)[1])] == ["b.txt"]


def test_warnings_go_to_stderr_unless_quiet(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "real.txt").write_bytes(text_bytes(random.Random(5), 500))
    (folder / "link.txt").symlink_to(folder / "real.txt")
    code, _, err = run_cli(capsys, "create", tmp_path / "l.lmz", folder)
    assert code == 0
    assert err.startswith("lmarchive: warning: skipped symbolic link ") and err.count("\n") == 1
    assert run_cli(capsys, "-q", "create", tmp_path / "l2.lmz", folder) == (0, "", "")


# -- other commands and options ---------------------------------------------------------------
def test_version_and_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "--version") == (0, f"lmarchive {version('lmarchive')}\n", "")
    code, out, _ = run_cli(capsys, "models")
    assert code == 0
    lines = out.splitlines()
    assert [line.split(" ")[0] for line in lines] == available_models()
    default = next(line for line in lines if line.startswith(f"{DEFAULT_MODEL} "))
    assert "the default" in default and default.endswith(f"model {resolve(DEFAULT_MODEL)})")
    assert sum("the default" in line for line in lines) == 1


def test_unknown_model_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], sample: tuple[Path, Path], tmp_path: Path
) -> None:
    code, _, err = run_cli(capsys, "create", "--model", "nosuch", tmp_path / "m.lmz", sample[0])
    assert code == 1
    assert_error(err, f"unknown model 'nosuch'; available: {', '.join(available_models())}")
    assert not (tmp_path / "m.lmz").exists()


def test_device_cuda_without_torch(
    capsys: pytest.CaptureFixture[str], archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    for args in (["create", "--device", "cuda", tmp_path / "c.lmz", archive], ["test", "--device", "cuda", archive]):
        code, _, err = run_cli(capsys, *args)
        assert code == 1
        assert_error(err, "CUDA requested but not available")
    assert resolve_device("auto") == resolve_device("cpu") == "cpu"
    assert run_cli(capsys, "test", "--device", "cpu", archive)[0] == 0


def test_threads_round_trips_and_reaches_the_coders(
    capsys: pytest.CaptureFixture[str], sample: tuple[Path, Path], tmp_path: Path
) -> None:
    src, _ = sample
    archive = tmp_path / "t.lmz"
    try:
        assert run_cli(capsys, "-q", "create", "--threads", "1", archive, src) == (0, "", "")
        assert coding_threads() == 1
        set_coding_threads(0)
        assert run_cli(capsys, "-q", "extract", "--threads", "1", archive, "-o", tmp_path / "out") == (0, "", "")
        assert coding_threads() == 1
        assert tree(tmp_path / "out" / "src") == tree(src)
        assert run_cli(capsys, "test", "--threads", "1", archive) == (0, "OK: 6 entries verified\n", "")
        assert run_cli(capsys, "-q", "test", "--threads", "0", archive) == (0, "", "")
        assert coding_threads() == min(DEFAULT_MAX_THREADS, os.cpu_count() or 1)
    finally:
        set_coding_threads(0)


@pytest.mark.parametrize("value", ["-1", "two"])
def test_threads_must_be_a_whole_number_not_negative(
    capsys: pytest.CaptureFixture[str], archive: Path, value: str
) -> None:
    code, out, err = run_cli(capsys, "test", "--threads", value, archive)
    assert code == 2 and out == ""
    assert err.startswith("usage: lmarchive") and "argument --threads" in err
    assert coding_threads() == min(DEFAULT_MAX_THREADS, os.cpu_count() or 1)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["create", "only-archive.lmz"],
        ["delete", "x.lmz"],
        ["list"],
        ["list", "x.lmz", "--bogus"],
        ["extract", "x.lmz", "-o", "out", "--bogus"],
        ["test", "x.lmz", "--device", "tpu"],
        ["bench", "--methods", "gzip,nope", "f"],
        ["bench", "--model", ",", "f"],
    ],
)
def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and out == ""
    assert err.startswith("usage: lmarchive") and "error:" in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "create" in out and "bench" in out


# -- user-facing errors -----------------------------------------------------------------------
@pytest.mark.parametrize("command", ["list", "test", "extract", "delete", "add"])
def test_missing_archive(capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str) -> None:
    missing = tmp_path / "missing.lmz"
    args = [command, missing] + (["m"] if command in ("delete", "add") else [])
    code, out, err = run_cli(capsys, *args)
    assert code == 1 and out == ""
    assert_error(err, "m: no such file or folder" if command == "add" else "No such file or directory")


def test_corrupt_archive(capsys: pytest.CaptureFixture[str], archive: Path, tmp_path: Path) -> None:
    data = bytearray(archive.read_bytes())
    middle = len(data) // 2
    data[middle - 8 : middle + 8] = bytes(b ^ 0x5A for b in data[middle - 8 : middle + 8])
    archive.write_bytes(bytes(data))
    code, out, err = run_cli(capsys, "test", archive)
    assert code == 1 and out == ""
    assert_error(err, "")
    code, _, err = run_cli(capsys, "extract", archive, "-o", tmp_path / "out")
    assert code == 1
    assert_error(err, "")
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]  # nothing partial left behind


def test_truncated_or_foreign_archive(capsys: pytest.CaptureFixture[str], archive: Path, tmp_path: Path) -> None:
    archive.write_bytes(archive.read_bytes()[:-30])
    code, _, err = run_cli(capsys, "list", archive)
    assert code == 1
    assert_error(err, "")
    foreign = tmp_path / "notes.txt"
    foreign.write_text("hello\n")
    code, _, err = run_cli(capsys, "list", "--json", foreign)
    assert code == 1
    assert_error(err, "not an .lmz archive")


def test_ctrl_c_exits_130_and_leaves_no_archive(
    capsys: pytest.CaptureFixture[str], sample: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(self: Console, event: object) -> None:
        if type(event).__name__ == "Progress":
            raise KeyboardInterrupt

    monkeypatch.setattr(Console, "on_event", interrupt)
    code, out, err = run_cli(capsys, "create", tmp_path / "c.lmz", sample[0])
    assert (code, out, err) == (130, "", "lmarchive: cancelled\n")
    assert list(tmp_path.iterdir()) == []


def test_closed_pipe_is_quiet(
    archive: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class ClosedPipe(io.StringIO):
        def write(self, s: str) -> int:
            raise BrokenPipeError

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["list", str(archive)]) == 1
    assert capsys.readouterr().err == ""


# -- bench ------------------------------------------------------------------------------------
@pytest.fixture
def two_files(tmp_path: Path) -> list[Path]:
    first, second = tmp_path / "one.txt", tmp_path / "two.txt"
    first.write_bytes(text_bytes(random.Random(6), 3000))
    second.write_bytes(text_bytes(random.Random(7), 2000))
    return [first, second]


def test_bench_json(capsys: pytest.CaptureFixture[str], two_files: list[Path]) -> None:
    code, out, _ = run_cli(
        capsys, "bench", "--json", "--model", "fast,cm2", "--methods", "ppmd,gzip,model,xz", *two_files
    )
    assert code == 0
    report = json.loads(out)
    assert report["models"] == ["fast", "cm2"]  # as given
    assert report["methods"] == ["fast", "cm2", "gzip", "xz", "ppmd"]  # the table's order, models first
    assert [f["path"] for f in report["files"]] == [str(p) for p in two_files]
    assert [f["bytes"] for f in report["files"]] == [3000, 2000]
    for f in report["files"]:
        for name in ("fast", "cm2"):
            assert f["methods"][name]["compress_s"] is None and f["methods"][name]["decompress_s"] is None
            assert 0 < f["methods"][name]["bytes"] < f["bytes"]
        for name in ("gzip", "xz", "ppmd"):
            m = f["methods"][name]
            assert 0 < m["bytes"] < f["bytes"] and m["compress_s"] >= 0 and m["decompress_s"] >= 0
            assert m["bpb"] == pytest.approx(m["bytes"] * 8 / f["bytes"])
    totals = report["totals"]
    assert totals["bytes"] == 5000
    for name in report["methods"]:
        assert totals["methods"][name]["bytes"] == sum(f["methods"][name]["bytes"] for f in report["files"])
        assert totals["methods"][name]["compress_s"] > 0
    assert report["archive_bytes"].keys() == {"fast", "cm2"}
    for name in ("fast", "cm2"):
        assert report["archive_bytes"][name] > totals["methods"][name]["bytes"]
    assert totals["methods"]["fast"]["bytes"] != totals["methods"]["cm2"]["bytes"]  # two models really ran


def test_bench_models_side_by_side_and_once(
    capsys: pytest.CaptureFixture[str], two_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []
    real = bench._bench_model

    def spy(name: str, *rest: Any) -> Any:
        ran.append(name)
        return real(name, *rest)

    monkeypatch.setattr(bench, "_bench_model", spy)
    code, out, err = run_cli(capsys, "bench", "--model", "cm2,fast,cmx,cm2", "--methods", "gzip,model", *two_files)
    assert code == 0
    assert ran == ["cm2", "fast"]  # cmx is what fast stands for, and cm2 came twice
    assert err == "lmarchive: warning: cmx is the same model as fast (cmx); run once\n"
    lines = out.splitlines()
    assert lines[1].split() == ["file", "bytes", "cm2", "fast", "(cmx)", "gzip", "-9"]
    assert lines[4].split()[:2] == ["total", "5,000"] and len(lines[4].split()) == 5
    assert re.search(r"^  cm2: [\d,]+ bytes \(\d\.\d{3} bpb\)$", out, re.M)
    assert re.search(r"^  fast \(cmx\): [\d,]+ bytes \(\d\.\d{3} bpb\)$", out, re.M)
    speeds = out.split("speed over all files")[1].splitlines()
    assert [line.split()[0] for line in speeds[2:5]] == ["cm2", "fast", "gzip"]


def test_bench_skips_a_missing_default_profile_only(
    capsys: pytest.CaptureFixture[str], two_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "_model_dirs", dict)  # an installation without any LM
    monkeypatch.setattr(bench, "DEFAULT_BENCH_MODELS", ("cm2", "lm"))  # cm2 for speed; fast is cmx
    code, out, err = run_cli(capsys, "bench", "--methods", "model,gzip", *two_files)
    assert code == 0
    assert err.startswith("lmarchive: warning: skipped lm: unknown model 'lmt-s1'") and len(err.splitlines()) == 1
    assert out.splitlines()[1].split() == ["file", "bytes", "cm2", "gzip", "-9"]
    code, out, err = run_cli(capsys, "bench", "--model", "cm2,lm", "--methods", "model,gzip", *two_files)
    assert code == 1 and out == ""
    assert_error(err, "unknown model 'lmt-s1'")
    code, out, err = run_cli(capsys, "bench", "--model", "cm2,nosuch", *two_files)
    assert code == 1 and out == ""
    assert_error(err, "unknown model 'nosuch'")


def test_bench_tables(
    capsys: pytest.CaptureFixture[str], two_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(two_files[0].parent)
    code, out, _ = run_cli(capsys, "bench", "--methods", "gzip,zstd,brotli,bzip2", ".")
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split() == ["file", "bytes", "gzip", "-9", "bzip2", "-9", "zstd", "-19", "brotli", "-q11"]
    assert lines[2].split()[:2] == ["one.txt", "3,000"]
    assert lines[4].split()[:2] == ["total", "5,000"]
    assert "compress MB/s" in out and DEFAULT_MODEL not in out


def test_bench_round_trip_failure_is_an_error(
    capsys: pytest.CaptureFixture[str], two_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = bench.Codec("gzip -9", bench.CODECS["gzip"].compress, lambda blob, size: b"wrong")
    monkeypatch.setitem(bench.CODECS, "gzip", broken)
    code, out, err = run_cli(capsys, "bench", "--methods", "gzip", *two_files)
    assert code == 1 and out == ""
    assert_error(err, f"gzip round trip failed on {two_files[0]}")


def test_ppmd_memory_follows_7zip() -> None:
    assert bench.ppmd_mem_size(0) == 1 << 16
    assert bench.ppmd_mem_size(4096) == 1 << 16
    assert bench.ppmd_mem_size(4097) == 1 << 17
    assert bench.ppmd_mem_size(1 << 20) == 1 << 24
    assert bench.ppmd_mem_size(1 << 30) == 192 << 20


# -- the real entry point ---------------------------------------------------------------------
def test_python_dash_m(sample: tuple[Path, Path], tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}

    def lmarchive(*args: object) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "lmarchive", *map(str, args)]
        return subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)

    done = lmarchive("--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"lmarchive {version('lmarchive')}\n", "")
    done = lmarchive("test", sample[1])
    assert (done.returncode, done.stdout, done.stderr) == (0, "OK: 6 entries verified\n", "")  # no bar off a TTY
    done = lmarchive("list", tmp_path / "missing.lmz")
    assert done.returncode == 1 and done.stdout == ""
    assert_error(done.stderr, "No such file or directory")
    done = lmarchive("extract", "--frob", sample[1])
    assert done.returncode == 2 and done.stderr.startswith("usage: lmarchive")
