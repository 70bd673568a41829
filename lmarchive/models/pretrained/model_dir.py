"""An imported model's folder: written whole or not at all, read back trusting nothing.

The folder holds ``model.safetensors`` (the engine's integers, in their own dtypes: int8 weights
stay int8, as int64 they would take 1 GB), ``config.json``, ``tokenizer.json``, ``MODEL_CARD.md``
and ``LICENSE``.  Its fingerprint is the sha256 of the first three, computed as for the trained
models (:func:`lmarchive.models.lm.model_dir.fingerprint`), so an archive names exactly the
integers and tokens that coded it.  Reading needs numpy and safetensors only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from lmarchive.models.lm import model_dir as lm_model_dir
from lmarchive.models.pretrained import engine, tables
from lmarchive.models.pretrained.config import LlamaConfig
from lmarchive.models.pretrained.fixed import MANT_BITS, QMAX
from lmarchive.models.tokenizer import TOKENIZER_FILE

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
CARD = "MODEL_CARD.md"
LICENSE = "LICENSE"
FORMAT = "lmarchive-pretrained-llama/1"
EXPONENTS = (-128, 0)
"""A weight scale ``m * 2**e`` within these ``e``: weights up to 2**22 in magnitude, and sums of a
few exponents nowhere near int64's limits (a matrix of zeros has e = -121)."""
GAIN_LIMIT = 1 << (engine.GAIN_BITS + 8)
"""RMSNorm gains below 256 in magnitude (SmolLM2's reach 3.4)."""

Spec = tuple[str, tuple[int, ...], int, int]
"""A tensor's dtype (as safetensors names it), shape and the range its values must lie in."""


def tensor_specs(config: LlamaConfig) -> dict[str, Spec]:
    """Every tensor of model.safetensors for ``config``.  The ranges are what the engine assumes:
    weights within +-QMAX (its float32 products are exact only for those), scale mantissas of
    MANT_BITS bits, exp tables whose first entry (the top score's weight, a divisor) is positive."""
    d, f, v, hd = config.d_model, config.d_ffn, config.vocab_size, config.head_dim
    kv = config.n_kv_heads * hd
    specs: dict[str, Spec] = {}

    def matrix(name: str, rows: int, cols: int) -> None:
        specs[name] = ("I8", (rows, cols), -QMAX, QMAX)
        specs[name + "_scale"] = ("I64", (rows,), 1, 1 << MANT_BITS)
        specs[name + "_exp"] = ("I64", (1,), *EXPONENTS)

    matrix("embed", v, d)
    shapes = {"wq": (d, d), "wk": (kv, d), "wv": (kv, d), "wo": (d, d), "w1": (f, d), "w3": (f, d), "w2": (d, f)}
    for i in range(config.n_layers):
        for name, (rows, cols) in shapes.items():
            matrix(f"layers.{i}.{name}", rows, cols)
        for name in ("attn_gain", "ffn_gain"):
            specs[f"layers.{i}.{name}"] = ("I32", (d,), -GAIN_LIMIT, GAIN_LIMIT)
    specs["out_gain"] = ("I32", (d,), -GAIN_LIMIT, GAIN_LIMIT)
    one = 1 << engine.ROPE_BITS
    for name in ("rope_cos", "rope_sin"):
        specs[name] = ("I32", (config.window, hd // 2), -one, one)
    specs["att_exp"] = ("I64", (engine.ATT_STEPS * tables.TABLE_NATS,), 0, 1 << engine.ATT_EXP_BITS)
    specs["silu"] = ("I32", (2 * engine.SILU_RANGE,), -engine.SILU_RANGE, engine.SILU_RANGE)  # |silu(x)| <= |x|
    specs["logit_exp"] = ("I64", (engine.LOGIT_STEPS * tables.TABLE_NATS,), 0, 1 << engine.LOGIT_EXP_BITS)
    return specs


def write_model_dir(
    directory: Path,
    config: LlamaConfig,
    tensors: dict[str, np.ndarray],
    tokenizer_json: str,
    card_text: str,
    license_text: str,
) -> bytes:
    """Write the folder and return its fingerprint.  It is built in a hidden folder beside it, read
    back by :func:`load_model_dir`, and only then renamed into place, replacing an existing model
    folder (never a folder without a config.json, say a mistyped parent), so a failure or a kill
    never leaves a partial or unreadable model under ``directory``."""
    config.check()
    if directory.exists() and not (directory / CONFIG).is_file() and any(directory.iterdir()):
        raise ValueError(f"{directory} exists and is not a model folder: not replacing it")
    # A hidden parent with no config.json of its own: the registry, which lists the subfolders
    # of the models folder that have one, never sees the model while it is being written.  What a
    # killed run left there goes first.
    staging_root = directory.with_name(f".{directory.name}.partial")
    staging, old = staging_root / "new", staging_root / "old"
    shutil.rmtree(staging_root, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        save_file({k: np.ascontiguousarray(v) for k, v in sorted(tensors.items())}, str(staging / WEIGHTS))
        # Bytes, not text: a newline translated on Windows would change the fingerprint.
        meta = {"format": FORMAT, **dataclasses.asdict(config)}
        files = {TOKENIZER_FILE: tokenizer_json, CARD: card_text, LICENSE: license_text}
        files[CONFIG] = json.dumps(meta, indent=2, sort_keys=True) + "\n"
        for name, text in files.items():
            (staging / name).write_bytes(text.encode("utf-8"))
        shutil.copymode(staging / CONFIG, staging / WEIGHTS)  # safetensors makes it 0o600; the umask's mode
        load_model_dir(staging)
        digest = fingerprint(staging)
        if directory.exists():
            os.replace(directory, old)
            try:
                os.replace(staging, directory)
            except BaseException:
                os.replace(old, directory)
                raise
        else:
            os.replace(staging, directory)
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)
    return digest


def fingerprint(directory: Path) -> bytes:
    """sha256 over config.json, model.safetensors and tokenizer.json, as the trained token models
    are fingerprinted; the tokenizer is required (ValueError without one)."""
    if not (directory / TOKENIZER_FILE).is_file():
        raise ValueError(f"{TOKENIZER_FILE} is missing or not a file")
    return lm_model_dir.fingerprint(directory)


def load_model_dir(directory: Path) -> tuple[LlamaConfig, dict[str, np.ndarray]]:
    """Config and tensors (in their stored dtypes) of a model folder, checked in full.

    The folder may come from anywhere ($LMARCHIVE_MODEL_PATH), so every problem is a ValueError
    (OSError for a file that cannot be read) naming the file and what is wrong, raised before
    anything sized by the config is allocated.
    """
    config = read_config(directory / CONFIG)
    if not (directory / TOKENIZER_FILE).is_file():
        raise ValueError(f"{TOKENIZER_FILE} is missing or not a file")
    return config, read_tensors(directory / WEIGHTS, config)


def read_config(path: Path) -> LlamaConfig:
    """config.json: a JSON object of exactly the format tag and every LlamaConfig field (no
    defaults: the file alone fixes the model), each an integer, within the engine's limits."""
    kinds: dict[str, type] = {field.name: int for field in dataclasses.fields(LlamaConfig)}
    config = LlamaConfig(**lm_model_dir.read_config_fields(path, FORMAT, kinds))
    try:
        config.check()
    except ValueError as exc:
        raise ValueError(f"{CONFIG}: {exc}") from None
    return config


def read_tensors(path: Path, config: LlamaConfig) -> dict[str, np.ndarray]:
    """model.safetensors: exactly the tensors of :func:`tensor_specs`, each checked before use
    (an exp table's first entry, the top score's weight, is a divisor)."""
    return lm_model_dir.read_checked_tensors(path, tensor_specs(config), positive_first=("att_exp", "logit_exp"))


def is_model_dir(directory: Path) -> bool:
    """Whether ``directory`` claims this format (its config.json's tag); loading checks the rest."""
    try:
        with open(directory / CONFIG, "rb") as f:
            meta = json.loads(f.read(1 << 16).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT
