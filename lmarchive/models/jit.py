"""Where numba keeps compiled code, and for which CPU: set up before numba loads.

* The cache folder: numba's default is a __pycache__ next to the sources, which an installed or
  frozen app may not be able to write, so a per-user cache folder.  A ``cache=True`` function
  cannot even be defined without a writable one (numba raises RuntimeError at import), so for a
  user whose home is missing or read-only this falls back to a private folder in the temporary
  directory, then to a fresh one for this process (which compiles again on every run, but works).
  A NUMBA_CACHE_DIR set by the user wins when it is usable.
* Inside it, our kernels' code lives in one folder per kernel module and version of its source
  (:func:`module_folder`), the same on every installation, so that code compiled when the package
  was built (:mod:`.jit_seed`) can be copied in and a first run needs no compiler at all.
* The CPU: code for a named baseline (x86-64-v3 where the host has its features, else LLVM's
  generic CPU) rather than for the exact host, so that shipped code matches every machine of a
  kind.  x86-64-v3 codes at least as fast as code for the host's own CPU, generic somewhat slower (the
  measurement is in docs/BENCHMARKS.md, "First use and start-up").  The integers the models
  compute do not depend on it.  NUMBA_CPU_NAME set by the user wins (and then only code compiled
  here is used).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import importlib.util
import os
import shutil
import stat
import tempfile
from pathlib import Path

from platformdirs import user_cache_dir

from lmarchive.errors import LMArchiveError
from lmarchive.resources import resources_dir

CACHE_ENV = "NUMBA_CACHE_DIR"
CPU_ENV = "NUMBA_CPU_NAME"
FEATURES_ENV = "NUMBA_CPU_FEATURES"
LOCATOR_ENV = "NUMBA_CACHE_LOCATOR_CLASSES"
LOCATORS = "lmarchive.models.jit_hooks.PackageLocator," + ",".join(
    ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator", "IPythonCacheLocator", "ZipCacheLocator")
)
"""Ours first (it takes only lmarchive's modules), then numba's own list, for anyone else's functions."""
KERNEL_MODULES = ("lmarchive.models.mix.kernel", "lmarchive.models.lm.compiled", "lmarchive.models.pretrained.kernels")
"""The modules with ``cache=True`` functions (tests/test_jit_seed.py checks that no other has one)."""
CACHE_SUBFOLDER = "lmarchive"
X86_64_V3 = (
    "avx", "avx2", "bmi", "bmi2", "f16c", "fma", "lzcnt", "movbe", "xsave",
    "cx16", "sahf", "popcnt", "sse3", "sse4.1", "sse4.2", "ssse3",
)  # fmt: skip
"""LLVM's names of the features x86-64-v3 requires (the psABI level: AVX2 machines, 2013 on)."""


def _usable(path: str) -> bool:
    """numba's own test of a cache folder: it exists (made if need be) and takes a new file."""
    if not os.path.isabs(path):  # platformdirs gives '~/.cache' when no home can be found at all
        return False
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def _private_temp() -> str | None:
    """<temp>/lmarchive-numba-<uid>, if it is a folder of ours alone: the temporary folder is shared,
    and code another user could plant there would run as this one."""
    uid = os.getuid() if hasattr(os, "getuid") else None  # Windows: the temp folder is per user already
    try:
        path = os.path.join(tempfile.gettempdir(), "lmarchive-numba" + ("" if uid is None else f"-{uid}"))
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
        info = os.lstat(path)  # not followed: a link planted under our name is refused
        if not stat.S_ISDIR(info.st_mode):
            return None
        if uid is not None:
            if info.st_uid != uid:
                return None
            if stat.S_IMODE(info.st_mode) & 0o077:
                os.chmod(path, 0o700)
    except OSError:
        return None
    return path if _usable(path) else None


def _fresh_temp() -> str | None:
    """A new private folder for this process alone, removed at exit."""
    try:
        path = tempfile.mkdtemp(prefix="lmarchive-numba-")
    except OSError:
        return None
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def cache_dir() -> str:
    """The first usable of: $NUMBA_CACHE_DIR, the user cache folder, the private and the fresh
    temporary folder.  LMArchiveError when no folder at all can be written."""
    for candidate in (os.environ.get(CACHE_ENV), os.path.join(user_cache_dir("lmarchive", appauthor=False), "numba")):
        if candidate and _usable(candidate):
            return candidate
    path = _private_temp() or _fresh_temp()
    if path is None:
        raise LMArchiveError(f"no folder can be written for compiled code; set ${CACHE_ENV} to one")
    return path


def _x86_64() -> bool:
    import llvmlite.binding as ll  # numba's own compiler library, light next to numba

    return ll.get_process_triple().startswith(("x86_64", "amd64"))


def cpu_targets() -> tuple[str, ...]:
    """Every CPU name :func:`cpu_target` can pick on this architecture (what installers ship code for)."""
    return ("x86-64-v3", "generic") if _x86_64() else ("generic",)


def cpu_target() -> str:
    """The CPU name numba compiles for here: 'x86-64-v3' on an x86-64 host that has its features,
    else 'generic' (LLVM's baseline of the architecture)."""
    import llvmlite.binding as ll

    if not _x86_64():
        return "generic"
    try:
        features = ll.get_host_cpu_features()
    except RuntimeError:  # LLVM cannot tell on this system
        return "generic"
    return "x86-64-v3" if all(features.get(name, False) for name in X86_64_V3) else "generic"


@functools.cache
def source_hash(path: str) -> str:
    """First 16 hex digits of the sha256 of a module's source file."""
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()[:16]


def module_folder(module: str, path: str) -> str:
    """The cache subfolder of one kernel module's compiled code: its name and its source's hash, so
    installations of one version agree (and share shipped code) and versions do not overwrite each other."""
    return f"{module}-{source_hash(path)}"


@functools.cache
def kernel_sources() -> dict[str, str]:
    """Each kernel module's source file, found without importing it (that would load numba)."""
    found = {}
    for module in KERNEL_MODULES:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin and os.path.exists(spec.origin):
            found[module] = spec.origin
    return found


def shipped_dir(cpu: str) -> Path:
    """Where the package keeps code compiled for ``cpu`` when it was built (:mod:`.jit_seed`)."""
    return resources_dir() / "jit" / cpu


def install_shipped(cache: str, cpu: str) -> None:
    """Copy the shipped compiled code of the current kernel sources into the cache, unless it is
    there already (one directory listing per module on later runs).  Data files first, then the
    index that names them, each by an atomic rename, so a concurrent run sees old or new, never
    half; nothing shipped, or a copy that fails, only means numba compiles as it would anyway."""
    for module, path in kernel_sources().items():
        folder = module_folder(module, path)
        source = shipped_dir(cpu) / folder
        try:
            names = sorted(os.listdir(source), key=lambda name: name.endswith(".nbi"))
            target = Path(cache, CACHE_SUBFOLDER, folder)
            if target.is_dir() and set(names) <= set(os.listdir(target)):
                continue
            target.mkdir(parents=True, exist_ok=True)
            for name in names:
                temporary = target / f".{name}.{os.getpid()}.tmp"
                shutil.copyfile(source / name, temporary)
                os.replace(temporary, target / name)
        except OSError:
            continue


os.environ[CACHE_ENV] = cache_dir()  # also inherited by worker processes, which then agree
os.environ.setdefault(LOCATOR_ENV, LOCATORS)
# numba's OpenMP threads (the pretrained engine's parallel loops) would otherwise spin after each
# loop and take the cores from the BLAS threads of the next matrix product: measured 2.5-3x slower.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
if CPU_ENV not in os.environ:
    os.environ[CPU_ENV] = cpu_target()
    os.environ[FEATURES_ENV] = ""  # the name alone decides; numba would add the host's own features
install_shipped(os.environ[CACHE_ENV], os.environ[CPU_ENV])
