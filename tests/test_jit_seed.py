"""The compiled kernels that ship with the package: a first run loads them and compiles nothing;
where they do not fit, compiling is announced, and the archive is the same byte for byte."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import lmarchive
from lmarchive import jobs
from lmarchive.models import compiling, jit, jit_seed

ROOT = Path(__file__).resolve().parent.parent


def fresh_env(cache: Path, **extra: str) -> dict[str, str]:
    """This environment with an empty numba cache and numba's CPU left to lmarchive."""
    env = {k: v for k, v in os.environ.items() if k not in (jit.CPU_ENV, jit.FEATURES_ENV, jit.LOCATOR_ENV)}
    return {**env, jit.CACHE_ENV: str(cache), **extra}


def test_the_kernel_modules_are_the_ones_with_cached_functions() -> None:
    """jit.KERNEL_MODULES decides which code our locator keys, ships and announces: it must name every
    module with a cache=True function, or that module's code would compile on every new machine."""
    found = set()
    for path in (ROOT / "lmarchive").rglob("*.py"):
        if re.search(r"@numba\.njit\([^)]*cache=True", path.read_text()):
            found.add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    assert found == set(jit.KERNEL_MODULES)


def test_set_up_compiled_the_kernels_of_these_sources() -> None:
    assert jit_seed.up_to_date(jit.cpu_target()), "the shipped kernels are stale: run scripts/setup.sh"


def test_a_first_run_with_an_empty_cache_compiles_nothing(tmp_path: Path) -> None:
    """Each profile codes and decodes in a fresh process whose cache folder is empty: the shipped code
    is copied in and every kernel loads from it (numba raises no compile event)."""
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from lmarchive.models.compiling import compile_notices
        import lmarchive

        compiles = []
        data = b"Shipped code is machine code for a CPU baseline, copied into the cache on first use.\\n" * 40
        with compile_notices(lambda: compiles.append(1)):
            for profile in ("fast", "default", "lm"):
                path = Path(sys.argv[1], profile + ".lmz")
                with lmarchive.open(path, "w", model=profile) as archive:
                    archive.writestr("a.txt", data)
                    archive.writestr("b.bin", bytes(range(256)))
                with lmarchive.open(path) as archive:
                    assert archive.read("a.txt") == data and archive.read("b.bin") == bytes(range(256))
        print(len(compiles))
        """
    )
    cache = tmp_path / "cache"
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        env=fresh_env(cache),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert done.stdout.strip() == "0", done.stderr
    assert sorted(p.name.split("-")[0] for p in (cache / jit.CACHE_SUBFOLDER).iterdir()) == sorted(jit.KERNEL_MODULES)


def test_where_no_shipped_code_fits_compiling_is_announced_and_the_archive_is_the_same(tmp_path: Path) -> None:
    """The host's own CPU name is never a shipped baseline: the kernels compile, the command line says
    so before the wait, and the archive's bytes equal those of the shipped code's run."""
    import llvmlite.binding as ll

    source = tmp_path / "in.txt"
    source.write_bytes(b"The same integers on every CPU, whatever code the compiler made.\n" * 50)
    archives = {}
    for label, extra in (("shipped", {}), ("host", {jit.CPU_ENV: ll.get_host_cpu_name()})):
        archives[label] = tmp_path / f"{label}.lmz"
        done = subprocess.run(
            [sys.executable, "-m", "lmarchive", "create", "--model", "fast", str(archives[label]), str(source)],
            env=fresh_env(tmp_path / f"cache-{label}", **extra),
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        assert (jobs.COMPILING in done.stderr) == (label == "host"), done.stderr
    assert archives["shipped"].read_bytes() == archives["host"].read_bytes()
    with lmarchive.open(archives["host"]) as archive:
        assert archive.read("in.txt") == source.read_bytes()


def test_a_job_says_once_that_it_compiles() -> None:
    events: list[object] = []

    class Compiling(jobs.Job):
        def _run(self) -> None:
            compiling.compiling()
            compiling.compiling()

    Compiling(on_event=events.append).run()
    assert [e for e in events if isinstance(e, jobs.Preparing)] == [jobs.Preparing(jobs.COMPILING)]
    compiling.compiling()  # outside a job nobody listens
    assert len([e for e in events if isinstance(e, jobs.Preparing)]) == 1


def shipped_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A fake kernel module with shipped files for it; returns (its shipped folder, the cache)."""
    module_file = tmp_path / "kernel.py"
    module_file.write_text("# a kernel\n")
    monkeypatch.setattr(jit, "kernel_sources", lambda: {"pkg.kernel": str(module_file)})
    monkeypatch.setattr(jit, "shipped_dir", lambda cpu: tmp_path / "shipped" / cpu)
    shipped = tmp_path / "shipped" / "x86-64-v3" / jit.module_folder("pkg.kernel", str(module_file))
    shipped.mkdir(parents=True)
    for name in ("kernel.run-10.py311.nbi", "kernel.run-10.py311.1.nbc"):
        (shipped / name).write_bytes(name.encode())
    return shipped, tmp_path / "cache"


def test_install_shipped_copies_once_and_only_for_the_current_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped, cache = shipped_fixture(tmp_path, monkeypatch)
    jit.install_shipped(str(cache), "generic")  # nothing shipped for this CPU
    assert not cache.exists()
    jit.install_shipped(str(cache), "x86-64-v3")
    target = cache / jit.CACHE_SUBFOLDER / shipped.name
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in shipped.iterdir())
    assert all((target / p.name).read_bytes() == p.read_bytes() for p in shipped.iterdir())
    index = target / "kernel.run-10.py311.nbi"
    index.write_bytes(b"numba rewrote the index after compiling another signature")
    jit.install_shipped(str(cache), "x86-64-v3")
    assert index.read_bytes().startswith(b"numba rewrote")  # present: not copied again


def test_install_shipped_without_a_writable_cache_leaves_numba_to_compile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _shipped, cache = shipped_fixture(tmp_path, monkeypatch)
    cache.write_text("a file where the cache folder should be")
    jit.install_shipped(str(cache), "x86-64-v3")  # no exception
    assert cache.read_text().startswith("a file")


def test_cpu_target_is_a_shipped_baseline() -> None:
    assert jit.cpu_target() in jit.cpu_targets()


def test_a_kernel_numba_cannot_cache_still_runs_with_a_warning(tmp_path: Path) -> None:
    """numba warns, naming our locator's source file, when a kernel's code cannot be cached (it calls
    through a ctypes pointer, say); the locator must answer that, or the kernel fails to compile."""
    (tmp_path / "probe_kernel.py").write_text(
        textwrap.dedent(
            """
            import ctypes
            import ctypes.util

            from lmarchive.models import jit  # noqa: F401

            import numba

            from lmarchive.models import jit_hooks  # noqa: F401

            libc = ctypes.CDLL(ctypes.util.find_library("c") or ctypes.util.find_library("msvcrt"))
            c_abs = libc.abs
            c_abs.restype = ctypes.c_int
            c_abs.argtypes = [ctypes.c_int]


            @numba.njit(cache=True)
            def through_ctypes(x):
                return c_abs(x)
            """
        )
    )
    script = textwrap.dedent(
        """
        import sys
        import warnings

        sys.path.insert(0, sys.argv[1])
        from lmarchive.models import jit

        sources = jit.kernel_sources()
        jit.kernel_sources = lambda: {**sources, "probe_kernel": sys.argv[1] + "/probe_kernel.py"}
        import probe_kernel

        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            value = probe_kernel.through_ctypes(-3)
        print(value, any("Cannot cache" in str(w.message) for w in seen))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        env=fresh_env(tmp_path / "cache"),
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["3", "True"]
