"""Broken model folders and unusable home folders: one-line errors, never a traceback.

A model folder comes from the user ($LMARCHIVE_MODEL_PATH), so its config.json, weights and
tokenizer are untrusted input: every malformed copy of the tiny test model below must load as a
ModelError naming the folder, and the CLI must report it in one line.  The last tests run the
real CLI as a user whose home folder is missing or read-only (numba cannot cache there).
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import forget_loaded_models, use_model_folder
from safetensors.numpy import load_file, save_file

import lmarchive
from lmarchive.cli import main
from lmarchive.errors import ModelError
from lmarchive.models import registry
from lmarchive.models.lm import quant
from lmarchive.models.lm.model_dir import CONFIG, WEIGHTS
from lmarchive.models.tokenizer import TOKENIZER_FILE

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests" / "data" / "models" / "lm-test"
NAME = "broken"

Mutation = Callable[[Path], None]


# -- mutations of a copy of the test model ------------------------------------------------------
def edit_config(change: Callable[[dict], object]) -> Mutation:
    """Rewrite config.json with ``change(config)`` (which edits in place or returns a new value)."""

    def mutate(folder: Path) -> None:
        meta = json.loads((folder / CONFIG).read_text())
        result = change(meta)
        (folder / CONFIG).write_text(json.dumps(meta if result is None else result))

    return mutate


def set_key(key: str, value: object) -> Mutation:
    return edit_config(lambda meta: meta.__setitem__(key, value))


def drop_key(key: str) -> Mutation:
    def change(meta: dict) -> None:
        del meta[key]

    return edit_config(change)


def config_text(data: bytes) -> Mutation:
    return lambda folder: (folder / CONFIG).write_bytes(data)


def edit_tensors(change: Callable[[dict[str, np.ndarray]], None]) -> Mutation:
    """Rewrite model.safetensors (a valid file) after ``change(tensors)``."""

    def mutate(folder: Path) -> None:
        tensors = load_file(str(folder / WEIGHTS))
        change(tensors)
        save_file(tensors, str(folder / WEIGHTS))

    return mutate


def set_value(name: str, value: int, index: tuple[int, ...] = (0,)) -> Mutation:
    def change(tensors: dict[str, np.ndarray]) -> None:
        array = tensors[name].astype(np.int64)
        array[index if array.ndim == len(index) else (0,) * array.ndim] = value
        tensors[name] = array.astype(tensors[name].dtype) if _fits(value, tensors[name].dtype) else array

    return edit_tensors(change)


def _fits(value: int, dtype: np.dtype) -> bool:
    info = np.iinfo(dtype)
    return info.min <= value <= info.max


def retype(name: str, dtype: type) -> Mutation:
    return edit_tensors(lambda t: t.__setitem__(name, t[name].astype(dtype)))


def reshape(name: str, shape: tuple[int, ...]) -> Mutation:
    return edit_tensors(lambda t: t.__setitem__(name, np.resize(t[name], shape)))


def weights_bytes(make: Callable[[bytes], bytes]) -> Mutation:
    """Replace model.safetensors by ``make(original bytes)``."""
    return lambda folder: (folder / WEIGHTS).write_bytes(make((folder / WEIGHTS).read_bytes()))


def header(meta: object) -> Callable[[bytes], bytes]:
    """A safetensors file with the header ``meta`` (any JSON) in front of the original data."""

    def make(data: bytes) -> bytes:
        text = json.dumps(meta).encode()
        return struct.pack("<Q", len(text)) + text + data[8 + struct.unpack("<Q", data[:8])[0] :]

    return make


def real_header(change: Callable[[dict], None]) -> Callable[[bytes], bytes]:
    """The original header after ``change(header)``, in front of the original data."""

    def make(data: bytes) -> bytes:
        size = struct.unpack("<Q", data[:8])[0]
        meta = json.loads(data[8 : 8 + size])
        change(meta)
        return header(meta)(data)

    return make


def first_tensor(meta: dict) -> dict:
    return meta[min(k for k in meta if k != "__metadata__")]


def tokenizer_text(data: str | bytes) -> Mutation:
    """Make the folder a token model with this tokenizer.json."""

    def mutate(folder: Path) -> None:
        raw = data.encode() if isinstance(data, str) else data
        (folder / TOKENIZER_FILE).write_bytes(raw)

    return mutate


def remove(name: str) -> Mutation:
    return lambda folder: (folder / name).unlink()


def into_folder(name: str) -> Mutation:
    def mutate(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).mkdir()

    return mutate


def random_bytes(size: int, seed: int) -> Callable[[bytes], bytes]:
    return lambda _: random.Random(seed).randbytes(size)


NESTED = b"[" * 100_000 + b"]" * 100_000

CONFIG_MUTATIONS: dict[str, Mutation] = {
    "unknown key": set_key("dropout", 0.1),
    "zero heads": set_key("n_heads", 0),
    "negative heads": set_key("n_heads", -4),
    "heads not dividing d_model": set_key("n_heads", 3),
    "odd head size": edit_config(lambda m: m.update(n_heads=64)),
    "list instead of an object": edit_config(lambda m: list(m.items())),
    "a number instead of an object": config_text(b"42"),
    "null": config_text(b"null"),
    "huge window": set_key("window", 10**9),
    "window of 2**40": set_key("window", 1 << 40),
    "zero window": set_key("window", 0),
    "huge integer": set_key("d_model", 10**400),
    "window as a string": set_key("window", "128"),
    "window as a float": set_key("window", 128.0),
    "layers as a bool": set_key("n_layers", True),
    "layers as a list": set_key("n_layers", [2]),
    "heads as null": set_key("n_heads", None),
    "rope_base as a string": set_key("rope_base", "10000"),
    "rope_base NaN": set_key("rope_base", math.nan),
    "rope_base infinite": set_key("rope_base", math.inf),
    "rope_base zero": set_key("rope_base", 0.0),
    "zero rope period": set_key("rope_period", 0),
    "vocabulary of 512 for a byte model": set_key("vocab_size", 512),
    "zero vocabulary": set_key("vocab_size", 0),
    "more layers than weights": set_key("n_layers", 3),
    "fewer layers than weights": set_key("n_layers", 1),
    "wider than the weights": set_key("d_model", 128),
    "other FFN width": set_key("d_ffn", 256),
    "other rope period": set_key("rope_period", 512),
    "huge layers": set_key("n_layers", 10**6),
    "wrong format": set_key("format", "lmarchive-exact-transformer/2"),
    "format as a number": set_key("format", 1),
    "empty file": config_text(b""),
    "truncated JSON": config_text(b'{"d_ffn": 192, "d_mo'),
    "not UTF-8": config_text(b'{"format": "\xff\xfe"}'),
    "binary": config_text(bytes(range(256))),
    "deeply nested": config_text(NESTED),
    "config is a folder": into_folder(CONFIG),
    **{f"missing {key}": drop_key(key) for key in ("format", "vocab_size", "n_heads", "window", "rope_base")},
}

WEIGHT_MUTATIONS: dict[str, Mutation] = {
    "no weights file": remove(WEIGHTS),
    "weights file is a folder": into_folder(WEIGHTS),
    "empty weights": weights_bytes(lambda _: b""),
    "seven bytes": weights_bytes(lambda _: b"\x01" * 7),
    **{f"random {size} bytes": weights_bytes(random_bytes(size, size)) for size in (8, 64, 4096, 306040)},
    "truncated in the header": weights_bytes(lambda d: d[:100]),
    "truncated in the data": weights_bytes(lambda d: d[: len(d) // 2]),
    "last byte missing": weights_bytes(lambda d: d[:-1]),
    "one byte too many": weights_bytes(lambda d: d + b"\0"),
    "header size 2**63": weights_bytes(lambda d: struct.pack("<Q", 1 << 63) + d[8:]),
    "header size past the end": weights_bytes(lambda d: struct.pack("<Q", len(d)) + d[8:]),
    "header not JSON": weights_bytes(lambda d: struct.pack("<Q", 16) + b"not json at all!" + d[24:]),
    "header a list": weights_bytes(header([1, 2, 3])),
    "header empty object": weights_bytes(header({})),
    "header nested deeply": weights_bytes(lambda d: struct.pack("<Q", len(NESTED)) + NESTED),
    "unknown dtype": weights_bytes(real_header(lambda m: first_tensor(m).update(dtype="Q9"))),
    "offsets past the data": weights_bytes(real_header(lambda m: first_tensor(m).update(data_offsets=[0, 1 << 40]))),
    "offsets reversed": weights_bytes(real_header(lambda m: first_tensor(m).update(data_offsets=[8, 0]))),
    "shape not matching the offsets": weights_bytes(real_header(lambda m: first_tensor(m).update(shape=[3, 3]))),
    "negative shape": weights_bytes(real_header(lambda m: first_tensor(m).update(shape=[-1]))),
    "shape as a string": weights_bytes(real_header(lambda m: first_tensor(m).update(shape="257"))),
    "missing tensor": edit_tensors(lambda t: t.pop("layers.1.w2")),
    "missing table": edit_tensors(lambda t: t.pop("silu_table")),
    "extra tensor": edit_tensors(lambda t: t.__setitem__("layers.2.wq", t["layers.1.wq"])),
    "embedding without the start token": reshape("embed", (256, 64)),
    "weights transposed": edit_tensors(lambda t: t.__setitem__("layers.0.w1", t["layers.0.w1"].T.copy())),
    "short exp table": reshape("exp_table", (512,)),
    "short SiLU table": reshape("silu_table", (100,)),
    "short logit table": reshape("logit_exp_table", (10,)),
    "short rope table": reshape("rope_cos", (10, 8)),
    "multiplier per channel missing": reshape("layers.0.q_mult", (1,)),
    "weights as int16": retype("layers.0.wq", np.int16),
    "weights as float32": retype("w_out", np.float32),
    "embedding as int64": retype("embed", np.int64),
    "multipliers as uint64": retype("layers.0.q_mult", np.uint64),
    "table as float64": retype("exp_table", np.float64),
    "weight -128": set_value("w_out", -128, (0, 0)),
    "embedding beyond the residual limit": set_value("embed", quant.RESIDUAL_LIMIT + 1, (0, 0)),
    "zero multiplier": set_value("layers.0.q_mult", 0),
    "negative multiplier": set_value("layers.0.o_mult", -5),
    "multiplier of 2**40": set_value("out_mult", 1 << 40),
    "zero shift": set_value("layers.1.d_shift", 0),
    "shift of 63": set_value("layers.0.g_shift", 63),
    "negative shift": set_value("layers.0.attn_shift", -1),
    "zero score multiplier": set_value("layers.0.score_mult", 0),
    "score multiplier of 2**40": set_value("layers.1.score_mult", 1 << 40),
    "exp table not ending in 0": set_value("exp_table", 1, (quant.EXP_TABLE_SIZE - 1,)),
    "exp table starting with 0": set_value("exp_table", 0),
    "exp table negative": set_value("exp_table", -1, (5,)),
    "exp table too large": set_value("exp_table", 1 << 40, (1,)),
    "logit table starting with 0": set_value("logit_exp_table", 0),
    "logit table too large": set_value("logit_exp_table", 1 << 40, (3,)),
    "rope table beyond 1": set_value("rope_sin", (1 << quant.ROPE_BITS) + 1, (0, 0)),
    "SiLU table too large": set_value("silu_table", 1 << 40, (7,)),
}

TOKENIZER_MUTATIONS: dict[str, Mutation] = {
    "tokenizer garbage": tokenizer_text(b"\x00\xff garbage"),
    "tokenizer not UTF-8": tokenizer_text(b'{"model": {"vocab": {"\xff": 0}}}'),
    "tokenizer a list": tokenizer_text("[]"),
    "tokenizer vocab a list": tokenizer_text('{"model": {"vocab": [1, 2]}}'),
    "tokenizer vocab of strings": tokenizer_text('{"model": {"vocab": {"a": "0", "b": 1}}}'),
    "tokenizer ids as floats": tokenizer_text(json.dumps({"model": {"vocab": {"a": 0.0, "b": 1.0}}})),
    "tokenizer ids as bools": tokenizer_text(json.dumps({"model": {"vocab": {"a": False, "b": True}}})),
    "tokenizer nested deeply": tokenizer_text(NESTED),
}

MUTATIONS = {**CONFIG_MUTATIONS, **WEIGHT_MUTATIONS, **TOKENIZER_MUTATIONS}


@pytest.fixture
def model_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty folder of model folders on $LMARCHIVE_MODEL_PATH (models loaded before forgotten)."""
    root = tmp_path / "models"
    root.mkdir()
    use_model_folder(monkeypatch, root)
    yield root
    forget_loaded_models()


def broken_copy(root: Path, mutation: Mutation, name: str = NAME) -> Path:
    folder = root / name
    shutil.copytree(SOURCE, folder)
    mutation(folder)
    return folder


def assert_model_error(info: pytest.ExceptionInfo[ModelError], folder: Path) -> None:
    message = str(info.value)
    assert len(message.splitlines()) == 1, message
    assert str(folder) in message, message


def test_the_unbroken_copy_loads(model_path: Path) -> None:
    broken_copy(model_path, lambda folder: None)
    assert registry.load_model(NAME).name == NAME
    assert registry.load_model(registry.MIX_PREFIX + NAME).name == registry.MIX_PREFIX + NAME


@pytest.mark.parametrize("mutation", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_a_broken_model_folder_is_a_model_error(model_path: Path, mutation: Mutation) -> None:
    folder = broken_copy(model_path, mutation)
    if not (folder / CONFIG).is_file():  # not a model folder at all: an unknown model
        with pytest.raises(ModelError, match=f"unknown model '{NAME}'"):
            registry.load_model(NAME)
        return
    with pytest.raises(ModelError) as info:
        registry.load_model(NAME)
    assert_model_error(info, folder)
    with pytest.raises(ModelError) as info:
        registry.load_model(registry.MIX_PREFIX + NAME)
    assert_model_error(info, folder)


def flip_bytes(seed: int) -> Mutation:
    """A few random bytes of config.json or model.safetensors changed, mostly near the start (the
    JSON, the safetensors header): a model that still loads is fine, any other outcome a ModelError."""

    def mutate(folder: Path) -> None:
        rng = random.Random(seed)
        path = folder / rng.choice([CONFIG, WEIGHTS])
        data = bytearray(path.read_bytes())
        reach = len(data) if rng.random() < 0.3 else min(len(data), 8 + 4096)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(reach)] = rng.randrange(256)
        path.write_bytes(bytes(data))

    return mutate


@pytest.mark.parametrize("seed", range(40))
def test_random_corruption_is_a_model_error_or_a_valid_model(model_path: Path, seed: int) -> None:
    folder = broken_copy(model_path, flip_bytes(seed))
    try:
        registry.load_model(NAME)
    except ModelError as exc:
        assert str(folder) in str(exc) and len(str(exc).splitlines()) == 1, exc


# -- what the user sees ----------------------------------------------------------------------------
def sources(root: Path) -> Path:
    src = root / "src"
    src.mkdir(parents=True)
    (src / "a.txt").write_bytes(b"a few words to archive, a few words to archive\n" * 20)
    return src


def one_error_line(err: str, folder: Path) -> None:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lmarchive: error: "), err
    assert str(folder) in lines[0], err


@pytest.mark.parametrize("case", ["unknown key", "huge window", "random 4096 bytes", "header not JSON", "weight -128"])
def test_the_cli_reports_a_broken_model_in_one_line(
    model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    folder = broken_copy(model_path, MUTATIONS[case])
    archive = tmp_path / "out.lmz"
    for model in (NAME, registry.MIX_PREFIX + NAME):
        capsys.readouterr()
        assert main(["create", "--model", model, str(archive), str(sources(tmp_path / model))]) == 1
        one_error_line(capsys.readouterr().err, folder)
        assert not archive.exists()
    with pytest.raises(ModelError):
        lmarchive.open(archive, "w", model=NAME)


def test_a_broken_folder_leaves_the_other_models_alone(
    model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken_copy(model_path, MUTATIONS["random 64 bytes"])
    broken_copy(model_path, lambda folder: None, name="good")
    assert {NAME, "good", registry.MIX_PREFIX + NAME} <= set(registry.available_models())  # listed, not loaded
    assert registry.load_model("good").name == "good"
    assert main(["models"]) == 0
    src = sources(tmp_path)
    assert main(["-q", "create", "--model", "fast", str(tmp_path / "fast.lmz"), str(src)]) == 0
    assert main(["-q", "create", "--model", "good", str(tmp_path / "good.lmz"), str(src)]) == 0


def test_a_broken_builtin_lm_on_the_path_is_reported_not_replaced(
    model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder on $LMARCHIVE_MODEL_PATH shadows the shipped model of its name (the search order
    is the way to override it), so a broken one fails loudly: falling back to the shipped model
    would write archives with another model than the user pointed at."""
    monkeypatch.delenv(registry.DEFAULT_LM_ENV, raising=False)  # default = cmx + the shipped byte LM
    folder = broken_copy(model_path, MUTATIONS["zero heads"], name=registry.BUILTIN_LM)
    assert registry.resolve("default") == registry.MIX_PREFIX + registry.BUILTIN_LM
    src = sources(tmp_path)
    capsys.readouterr()
    assert main(["create", str(tmp_path / "default.lmz"), str(src)]) == 1
    one_error_line(capsys.readouterr().err, folder)
    with pytest.raises(ModelError, match="n_heads"):
        lmarchive.open(tmp_path / "api.lmz", "w", model="default")
    assert main(["-q", "create", "--model", "fast", str(tmp_path / "fast.lmz"), str(src)]) == 0
    # An archive that needs the model names the broken folder, not a model "this installation does not have".
    with pytest.raises(ModelError) as info:
        registry.model_for(registry.MIX_PREFIX + registry.BUILTIN_LM, bytes(32))
    assert_model_error(info, folder)
    assert "does not have" not in str(info.value)
    with pytest.raises(ModelError, match="does not have"):
        registry.model_for(registry.MIX_PREFIX + "no-such-lm", bytes(32))


def test_the_real_entry_point_prints_no_traceback(model_path: Path, tmp_path: Path) -> None:
    folder = broken_copy(model_path, MUTATIONS["header a list"], name=registry.BUILTIN_LM)
    env = {k: v for k, v in os.environ.items() if k not in registry.PROFILE_LM_ENVS}
    command = [sys.executable, "-m", "lmarchive", "create", str(tmp_path / "x.lmz"), str(sources(tmp_path))]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 1
    one_error_line(done.stderr, folder)


def test_an_unreadable_folder_on_the_model_path_is_skipped(model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken_copy(model_path, lambda folder: None, name="good")
    listing = Path.iterdir

    def iterdir(self: Path) -> Iterator[Path]:
        if self == model_path:
            raise PermissionError(13, "Permission denied", str(self))
        return listing(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    assert "good" not in registry.available_models()
    assert registry.resolve("fast") == "cmx"
    assert registry.load_model("fast").name == "cmx"


# -- numba's cache folder without a usable home -------------------------------------------------------
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
NOBODY = 65534


@pytest.fixture
def no_cache_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No NUMBA_CACHE_DIR, a user cache folder that cannot be made, a temporary folder in tmp_path."""
    from lmarchive.models import jit

    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"")  # mkdir under a file fails even for root
    monkeypatch.delenv(jit.CACHE_ENV, raising=False)
    monkeypatch.setattr(jit, "user_cache_dir", lambda *args, **kwargs: str(blocker / "cache"))
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    return temp


def private_name() -> str:
    return "lmarchive-numba" + (f"-{os.getuid()}" if hasattr(os, "getuid") else "")


def test_numba_caches_in_the_users_cache_folder_when_it_can(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lmarchive.models import jit

    monkeypatch.delenv(jit.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    if sys.platform.startswith("linux"):
        assert jit.cache_dir() == str(tmp_path / "cache" / "lmarchive" / "numba")
    monkeypatch.setenv(jit.CACHE_ENV, str(tmp_path / "mine"))
    assert jit.cache_dir() == str(tmp_path / "mine")  # the user's choice wins


def test_without_a_usable_home_numba_caches_in_a_private_temporary_folder(no_cache_env: Path) -> None:
    from lmarchive.models import jit

    path = Path(jit.cache_dir())
    assert path == no_cache_env / private_name()
    if hasattr(os, "getuid"):
        assert path.stat().st_mode & 0o777 == 0o700
        path.chmod(0o777)  # made too wide by someone: ours, so narrowed again
        assert Path(jit.cache_dir()) == path and path.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("planted", ["link", "file"])
def test_a_planted_temporary_folder_is_not_used(no_cache_env: Path, tmp_path: Path, planted: str) -> None:
    from lmarchive.models import jit

    target = no_cache_env / private_name()
    if planted == "link":
        (tmp_path / "elsewhere").mkdir()
        try:
            target.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
        except OSError:
            pytest.skip("no symbolic links here")
    else:
        target.write_bytes(b"")
    path = Path(jit.cache_dir())
    assert path.parent == no_cache_env and path.name.startswith("lmarchive-numba-") and path != target
    assert path.is_dir() and not any(path.iterdir())  # a fresh one, for this process


@pytest.mark.skipif(not AS_ROOT, reason="needs root to plant a folder as someone else")
def test_a_temporary_folder_of_another_user_is_not_used(no_cache_env: Path) -> None:
    from lmarchive.models import jit

    target = no_cache_env / private_name()
    target.mkdir(mode=0o777)
    os.chown(target, 65534, 65534)
    assert Path(jit.cache_dir()) != target


def test_no_writable_folder_at_all_is_a_one_line_error(no_cache_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lmarchive.models import jit

    monkeypatch.setattr(tempfile, "tempdir", str(no_cache_env / "file"))
    (no_cache_env / "file").write_bytes(b"")
    with pytest.raises(lmarchive.LMArchiveError, match=jit.CACHE_ENV):
        jit.cache_dir()


# The real thing: the CLI, in a fresh process (numba compiles into an empty cache), as a user
# whose home is missing or read-only.  Root may write anywhere, so as root the child runs as nobody,
# keeping only the right to read and search every folder (the interpreter may live under /root).
AS_NOBODY = [
    "setpriv",
    f"--reuid={NOBODY}",
    f"--regid={NOBODY}",
    "--clear-groups",
    "--inh-caps=+dac_read_search",
    "--ambient-caps=+dac_read_search",
]


@pytest.fixture(scope="module")
def homeless_workspace() -> Iterator[Path]:
    """A folder the child's user owns (outside pytest's root-only temp tree when run as root); its
    temp/ is the child's temporary folder, shared by both cases so numba compiles only once."""
    root = Path(tempfile.mkdtemp(prefix="lmarchive-home-test-"))
    (root / "temp").mkdir()
    if AS_ROOT:
        for path in (root, root / "temp"):
            os.chown(path, NOBODY, NOBODY)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.skipif(sys.platform == "win32", reason="Windows keeps caches under LOCALAPPDATA, not HOME")
@pytest.mark.skipif(AS_ROOT and shutil.which("setpriv") is None, reason="as root, needs setpriv to run as nobody")
@pytest.mark.timeout(900)
@pytest.mark.parametrize("home", ["missing", "read-only"])
def test_a_user_without_a_writable_home_can_create_and_extract(homeless_workspace: Path, home: str) -> None:
    work = homeless_workspace / home
    work.mkdir()
    src = work / "src"
    src.mkdir()
    data = b"".join(b"line %d of a small text file that the model codes\n" % i for i in range(200))
    (src / "notes.txt").write_bytes(data)
    if home == "missing":
        home_dir = Path("/nonexistent")
        assert not home_dir.exists()
    else:
        home_dir = work / "home"
        home_dir.mkdir()
    paths = [work, src, src / "notes.txt"] + ([home_dir] if home == "read-only" else [])
    if AS_ROOT:
        for path in paths:
            os.chown(path, NOBODY, NOBODY)
    if home == "read-only":
        home_dir.chmod(0o555)
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "NUMBA_CACHE_DIR")}
    env.update(HOME=str(home_dir), TMPDIR=str(homeless_workspace / "temp"))

    def lmarchive_cli(*args: object) -> subprocess.CompletedProcess[str]:
        command = [*(AS_NOBODY if AS_ROOT else []), sys.executable, "-m", "lmarchive", *map(str, args)]
        return subprocess.run(command, capture_output=True, text=True, env=env, cwd=work, timeout=600)

    done = lmarchive_cli("create", "--model", "fast", work / "x.lmz", src)
    assert done.returncode == 0, done.stderr
    done = lmarchive_cli("extract", work / "x.lmz", "-o", work / "out")
    assert done.returncode == 0, done.stderr
    assert (work / "out" / "src" / "notes.txt").read_bytes() == data
    uid = NOBODY if AS_ROOT else os.getuid()
    assert (homeless_workspace / "temp" / f"lmarchive-numba-{uid}").is_dir()  # where numba's cache went
