"""`lmarchive selftest`: prove on this machine that models compute the reference tables.

Archives made anywhere must decode here, so the user runs this before trusting a new machine:
it recomputes golden vectors (hashes of every frequency table for fixed inputs, committed with
the program) for the built-in context model and for a small reference transformer (its compiled
one-token step, and where PyTorch is installed the torch engine's parallel and incremental passes),
and round-trips sample data through a real archive.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import platform
import random
import tempfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lmarchive.errors import LMArchiveError
from lmarchive.resources import resources_dir

if TYPE_CHECKING:
    from lmarchive.models.lm.config import LMConfig
    from lmarchive.models.lm.predictor import LMPredictor

CM2_SAMPLE_SHA256 = "372e9bfdf2b04a4a128ea2abbf41dd7b3604f1732f7e28da5b36eb9a23693505"
"""sha256 of every cm2 table (int64 little-endian) while coding :func:`cm2_sample`."""

CMX_SAMPLE_SHA256 = "0cbd0ac09200b25bce2b248f555762d055d3ea2b814e8b271f3c9fcd086492e8"
"""sha256 of the stream cmx codes :func:`sample_text` into."""
CMX_LM_SAMPLE_SHA256 = "67728468b46ba96cb5e31f78c32b86a095e1d84de98055ea2a5e824cd84c4ab9"
"""sha256 of the stream cmx mixed with the reference LM codes ``sample_text(1500)`` into."""

SELFTEST_DIR = "selftest"
REFERENCE_MODEL = "lm-tiny-random"
GOLDEN_FILE = "lm-golden.json"


def cm2_sample() -> bytes:
    words = b"the of and to in a is that for it as was with be by on not he this are".split()
    return b" ".join(words[(i * 7 + i // 3) % len(words)] for i in range(400))


def table_digest(tables: Iterable[np.ndarray]) -> str:
    """The golden hash of frequency tables: sha256 (hex) over the tables as int64 little-endian,
    row-major, in order.  The one definition: the selftest, the tests and scripts/make_lm_golden.py
    (through tests/lm_child.py) all hash with it."""
    digest = hashlib.sha256()
    for table in tables:
        digest.update(np.ascontiguousarray(table, dtype="<i8").tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _cm2_golden() -> Check:
    from lmarchive.models import load_model
    from lmarchive.models.base import TablePredictor

    model = load_model("cm2")
    assert isinstance(model, TablePredictor)  # a context model: it codes from per-symbol tables
    tables = [t for _, t, _ in model.encode_tables([model.tokenize(cm2_sample())])]
    got = table_digest(tables)
    return Check("cm2 golden tables", got == CM2_SAMPLE_SHA256, f"expected {CM2_SAMPLE_SHA256[:16]}, got {got[:16]}")


def cmx_stream(with_reference_lm: bool) -> tuple[bytes, bytes]:
    """The mixing model's stream for the golden sample, and the sample decoded back from it.

    The mixing model runs its LM through the compiled CPU step whatever the device setting."""
    from lmarchive.models.mix.params import FAST_PARAMS
    from lmarchive.models.mix.predictor import MixPredictor

    if with_reference_lm:  # the LM path itself, whether or not it would win against the fallback
        from lmarchive.models.lm.predictor import LMPredictor

        lm = LMPredictor(REFERENCE_MODEL, reference_dir() / REFERENCE_MODEL)
        model, payload = MixPredictor("cmx+" + REFERENCE_MODEL, FAST_PARAMS, lm), sample_text(1500)
        encode, decode = model.encode_mixed, model.decode_mixed
    else:
        model, payload = MixPredictor("cmx", FAST_PARAMS), sample_text()
        encode, decode = model.encode_streams, model.decode_streams
    [coded] = encode([model.tokenize(payload)], lambda _: None)
    [back] = decode([coded], [len(payload)], lambda _: None)
    return coded, model.detokenize(back) if len(back) == len(payload) else b""


def _cmx_golden(with_reference_lm: bool) -> Check:
    expected = CMX_LM_SAMPLE_SHA256 if with_reference_lm else CMX_SAMPLE_SHA256
    coded, back = cmx_stream(with_reference_lm)
    got = hashlib.sha256(coded).hexdigest()
    name = f"cmx golden stream{' with the reference LM' if with_reference_lm else ''}"
    if got != expected:
        return Check(name, False, f"expected {expected[:16]}, got {got[:16]}")
    payload = sample_text(1500) if with_reference_lm else sample_text()
    return Check(name, back == payload, "the stream does not decode back to the sample")


def reference_dir() -> Path:
    return resources_dir() / SELFTEST_DIR


def lm_golden_checks(device: str = "cpu", directory: Path | None = None) -> list[Check]:
    """Golden vectors of the reference transformer: the compiled one-token step (the CPU's engine)
    and, where PyTorch is installed, the torch engine's parallel and incremental passes on ``device``.

    Each input (token lists starting with the start token) was run once when the reference was
    made; the sha256 of its tables is stored in lm-golden.json next to the model.
    """
    from lmarchive.models.lm.compiled import CompiledLM
    from lmarchive.models.lm.model_dir import fingerprint, load_model_dir

    root = directory or reference_dir()
    golden = json.loads((root / GOLDEN_FILE).read_text())
    model_dir = root / golden["model"]
    checks = [
        Check(
            "reference model files",
            fingerprint(model_dir).hex() == golden["fingerprint"],
            f"fingerprint of {model_dir} differs from the recorded one",
        )
    ]
    config, tensors = load_model_dir(model_dir)
    compiled = CompiledLM(config, tensors)
    torch_runs = _torch_engine_runs(config, tensors, device) if has_torch() else None
    for case in golden["inputs"]:
        runs = [("compiled step, cpu", compiled.tables(np.array(case["tokens"], dtype=np.int64)))]
        if torch_runs is not None:
            runs[:0] = torch_runs(case["tokens"])
        for mode, tables in runs:
            got = table_digest([tables])
            checks.append(
                Check(
                    f"LM golden vector, {len(case['tokens'])} tokens, {mode}",
                    got == case["sha256"],
                    f"expected {case['sha256'][:16]}, got {got[:16]}",
                )
            )
    return checks


def has_torch() -> bool:
    """Whether PyTorch is installed: the optional engine for CUDA (and for training)."""
    return importlib.util.find_spec("torch") is not None


def _torch_engine_runs(
    config: LMConfig, tensors: dict[str, np.ndarray], device: str
) -> Callable[[list[int]], list[tuple[str, np.ndarray]]]:
    """The torch engine's parallel and incremental tables of one token list, on ``device``."""
    import torch

    from lmarchive.models.lm.exact import ExactTransformer

    engine = ExactTransformer(config, tensors, device=device)

    def runs(token_list: list[int]) -> list[tuple[str, np.ndarray]]:
        tokens = torch.tensor([token_list], dtype=torch.int64, device=device)
        with torch.no_grad():
            parallel = engine.forward(tokens, engine.new_cache(1), slice(0, 1))
            cache = engine.new_cache(1)
            steps = [engine.forward(tokens[:, i : i + 1], cache, slice(0, 1)) for i in range(tokens.shape[1])]
        return [
            (f"parallel, {device}", parallel.cpu().numpy()),
            (f"incremental, {device}", torch.cat(steps, dim=1).cpu().numpy()),
        ]

    return runs


def sample_text(size: int = 24_000) -> bytes:
    """Pseudo-random prose (Mersenne Twister: the same on every platform), not too repetitive."""
    rng = random.Random(20261128)
    words = cm2_sample().split()
    out = bytearray()
    while len(out) < size:
        out += b" ".join(rng.choice(words) for _ in range(rng.randint(4, 14))) + b".\n"
    return bytes(out[:size])


def _roundtrip(model: str, payload: bytes) -> Check:
    import lmarchive
    from lmarchive.container import ContainerReader

    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "selftest.lmz"
        with lmarchive.open(archive, "w", model=model) as lmz:
            lmz.writestr("sample.txt", payload)
        with ContainerReader(archive) as reader:
            methods = {c.method for e in reader.entries for c in e.chunks}
        with lmarchive.open(archive) as lmz:
            lmz.test()
            back = lmz.read("sample.txt")
    used = ", ".join(sorted(m.name.lower() for m in methods))
    return Check(f"archive round-trip with {model} ({used} chunks)", back == payload, "decoded bytes differ")


def _lm_roundtrip(model: LMPredictor, label: str) -> Check:
    """Model-code two chunks with ``model`` (no fallback) and decode them incrementally."""
    from lmarchive.codec import decode_chunks, model_encode
    from lmarchive.container import ChunkRecord, Method

    chunks = [sample_text(3000), sample_text(1100)[::-1] + bytes(range(256))]
    sequences = [model.tokenize(c) for c in chunks]
    coded = model_encode(model, sequences, [len(c) for c in chunks])
    records = [
        ChunkRecord(0, len(d), len(c), len(s), zlib.crc32(c), Method.MODEL)
        for d, c, s in zip(coded, chunks, sequences, strict=True)
    ]
    try:
        back = decode_chunks(list(zip(records, coded, strict=True)), model)
    except LMArchiveError as exc:
        return Check(label, False, str(exc))
    return Check(label, back == chunks, "decoded bytes differ")


def _lm_checks(device: str) -> list[Check]:
    """The reference LM's round trip, and the ``lm`` profile's model's where it is installed (a
    token model also proves the tokenizer library works here)."""
    from lmarchive.models import registry
    from lmarchive.models.lm.predictor import LMPredictor

    reference = LMPredictor(REFERENCE_MODEL, reference_dir() / REFERENCE_MODEL, device)
    checks = [_lm_roundtrip(reference, f"LM range-coding round-trip, {device}")]
    if "lm" in registry.available_models():
        try:
            model = registry.load_model("lm", device)
        except LMArchiveError as exc:
            return [*checks, Check("the lm profile's model loads", False, str(exc))]
        if isinstance(model, LMPredictor):
            kind = "tokens" if model.tokenizer is not None else "bytes"
            checks.append(_lm_roundtrip(model, f"{model.name} ({kind}) range-coding round-trip, {device}"))
    return checks


def _pretrained_checks() -> list[Check]:
    """The ``max`` model's golden tables in both engine modes, where set-up imported it."""
    from lmarchive.models import registry

    directory = registry.model_dirs().get(registry.PRETRAINED_LM)
    if directory is None or not registry.is_pretrained(directory):
        return []
    from lmarchive.models.pretrained import golden

    try:
        ok, detail = golden.check(directory)
    except (OSError, ValueError) as exc:
        ok, detail = False, str(exc)
    return [Check(f"{registry.PRETRAINED_LM} golden tables (block pass and one-token steps)", ok, detail)]


def run_selftest(device: str = "cpu", report: Callable[[Check], None] | None = None) -> list[Check]:
    """Run every check; each result is passed to ``report`` as soon as it is known."""
    results: list[Check] = []

    def add(check: Check) -> None:
        results.append(check)
        if report is not None:
            report(check)

    add(_cm2_golden())
    add(_roundtrip("cm2", sample_text()))
    add(_cmx_golden(False))
    add(_roundtrip("fast", sample_text()))
    if (reference_dir() / GOLDEN_FILE).is_file():
        for check in lm_golden_checks(device):
            add(check)
        for check in _lm_checks(device):
            add(check)
        add(_cmx_golden(True))
        for check in _pretrained_checks():
            add(check)
    else:
        add(Check("LM golden vectors", False, f"{reference_dir() / GOLDEN_FILE} is missing from this installation"))
    return results


def environment() -> dict[str, str]:
    """What the checks ran on, for the report."""
    found = {"python": platform.python_version(), "machine": platform.machine()}
    if not has_torch():
        return {**found, "torch": "not installed (needed only for CUDA and training; its engine's checks are skipped)"}
    import torch

    return {
        **found,
        "torch": torch.__version__,
        "cpu capability": torch.backends.cpu.get_cpu_capability(),
        "threads": str(torch.get_num_threads()),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not available",
    }
