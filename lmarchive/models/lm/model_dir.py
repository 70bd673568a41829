"""A model directory, read: its config, its integer tensors checked in full, its fingerprint.

A model directory holds ``model.safetensors`` (integers only), ``config.json``,
``MODEL_CARD.md`` and, for a token model, ``tokenizer.json``.  Its fingerprint is the sha256 over
the files the coded symbols depend on, so an archive names exactly the integers (and tokens)
that coded it.  Reading needs numpy and safetensors only (no torch): the CPU engine runs on the
arrays as they are, the torch engine (:mod:`.exact`) turns them into tensors; writing one from a
trained float model is :mod:`.convert`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open

from lmarchive.models.lm import quant
from lmarchive.models.lm.config import LMConfig
from lmarchive.models.tokenizer import TOKENIZER_FILE

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
FORMAT = "lmarchive-exact-transformer/1"


def fingerprint(directory: Path) -> bytes:
    """sha256 over the files that determine the symbols and tables (length-prefixed, in a fixed
    order); a byte model has no tokenizer file, and its fingerprint covers the other two."""
    h = hashlib.sha256()
    for name in (CONFIG, WEIGHTS, TOKENIZER_FILE):
        if name == TOKENIZER_FILE and not (directory / name).is_file():
            continue
        data = (directory / name).read_bytes()
        h.update(name.encode() + b"\0" + len(data).to_bytes(8, "little"))
        h.update(data)
    return h.digest()


def load_model_dir(directory: Path) -> tuple[LMConfig, dict[str, np.ndarray]]:
    """Config and integer tensors of a model directory, checked in full against the format.

    The folder may come from anywhere ($LMARCHIVE_MODEL_PATH), so nothing in it is trusted: every
    problem is a ValueError (OSError for a file that cannot be read) naming the file and what is
    wrong, raised before anything sized by the config is allocated.
    """
    config = read_config(directory / CONFIG)
    arrays = read_tensors(directory / WEIGHTS, config)
    return config, {name: array.astype(np.int64) for name, array in arrays.items()}


def read_config(path: Path) -> LMConfig:
    """config.json: a JSON object of exactly the format tag and every LMConfig field (no defaults:
    the file alone must fix the model), each of its type and within the engine's limits."""
    kinds: dict[str, type] = {field.name: type(field.default) for field in dataclasses.fields(LMConfig)}
    config = LMConfig(**read_config_fields(path, FORMAT, kinds))
    try:
        config.check()
    except ValueError as exc:
        raise ValueError(f"{CONFIG}: {exc}") from None
    return config


def read_config_fields(path: Path, fmt: str, kinds: dict[str, type]) -> dict[str, Any]:
    """The fields of a config.json holding exactly the format tag ``fmt`` and one value per name
    of ``kinds``, each an integer (a number where the kind is float); every problem a ValueError
    naming it.  Shared by the model folder formats."""
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except RecursionError:  # the json module nests by recursion
        raise ValueError(f"{CONFIG} is nested too deeply") from None
    except ValueError as exc:  # also bad UTF-8 and integers of too many digits
        raise ValueError(f"{CONFIG} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{CONFIG} holds {_JSON_KINDS.get(type(meta), 'null')}, not an object")
    if meta.get("format") != fmt:
        found = _short(meta["format"]) if "format" in meta else "missing"
        raise ValueError(f"{CONFIG}: format {found}, expected {fmt!r}")
    unknown = sorted(set(meta) - set(kinds) - {"format"})
    if unknown:
        raise ValueError(f"{CONFIG}: unknown key {_short(unknown[0])}")
    values: dict[str, Any] = {}
    for name, kind in kinds.items():
        if name not in meta:
            raise ValueError(f"{CONFIG}: {name!r} is missing")
        value = meta[name]
        # bool is an int to Python, not to JSON; a float field also takes a JSON integer
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
            raise ValueError(f"{CONFIG}: {name!r} must be {'a number' if kind is float else 'an integer'}")
        values[name] = kind(value)
    return values


Spec = tuple[str, tuple[int, ...], int, int]
"""A tensor's dtype (as safetensors names it), shape and the range its values must lie in."""


def tensor_specs(config: LMConfig) -> dict[str, Spec]:
    """Every tensor of model.safetensors, as :func:`export_tensors` writes it; the ranges are what
    the engines assume (table indices in range, integer products that cannot overflow)."""
    d, f, v = config.d_model, config.d_ffn, config.vocab_size
    specs: dict[str, Spec] = {}

    def put(name: str, dtype: str, shape: tuple[int, ...], low: int, high: int) -> None:
        specs[name] = (dtype, shape, low, high)

    def requant(prefix: str, width: int) -> None:
        put(prefix + "_mult", "I64", (width,), 1, (1 << quant.MULT_BITS) - 1)
        put(prefix + "_shift", "I64", (width,), 1, quant.MAX_SHIFT)

    put("embed", "I32", (v + 1, d), -quant.RESIDUAL_LIMIT, quant.RESIDUAL_LIMIT)
    for i in range(config.n_layers):
        p = f"layers.{i}."
        weights = {"wq": (d, d), "wk": (d, d), "wv": (d, d), "wo": (d, d), "w1": (f, d), "w3": (f, d), "w2": (d, f)}
        for name, shape in weights.items():
            put(p + name, "I8", shape, -quant.QMAX, quant.QMAX)
        for name in ("q", "k", "v", "o", "d"):
            requant(p + name, d)
        for name in ("g", "u"):
            requant(p + name, f)
        for name in ("attn", "h"):  # one scale for the whole vector
            requant(p + name, 1)
        put(p + "score_mult", "I64", (1,), 1, quant.SCORE_MULT_LIMIT - 1)
    put("w_out", "I8", (v, d), -quant.QMAX, quant.QMAX)
    requant("out", v)
    for name in ("rope_cos", "rope_sin"):
        put(name, "I16", (config.rope_period, config.head_dim // 2), -(1 << quant.ROPE_BITS), 1 << quant.ROPE_BITS)
    put("exp_table", "I64", (quant.EXP_TABLE_SIZE,), 0, 1 << quant.EXP_BITS)
    put("logit_exp_table", "I64", (quant.LOGIT_TABLE_SIZE,), 0, 1 << quant.LOGIT_EXP_BITS)
    silu = (quant.SILU_RANGE // quant.SILU_SCALE) << quant.SILU_OUT_BITS  # |silu(x)| < |x| + 1
    put("silu_table", "I64", (2 * quant.SILU_RANGE,), -silu, silu)
    return specs


def read_tensors(path: Path, config: LMConfig) -> dict[str, np.ndarray]:
    """model.safetensors: exactly the tensors of :func:`tensor_specs`, each checked before use."""
    # entry 0 of an exp table is the top symbol's weight: a divisor
    arrays = read_checked_tensors(path, tensor_specs(config), positive_first=("exp_table", "logit_exp_table"))
    try:
        quant.check_exp_table(arrays["exp_table"])
    except ValueError as exc:
        raise ValueError(f"{WEIGHTS}: {exc}") from None
    return arrays


def read_checked_tensors(path: Path, specs: dict[str, Spec], positive_first: tuple[str, ...]) -> dict[str, np.ndarray]:
    """A safetensors file of exactly the tensors of ``specs``, each of its dtype, shape and value
    range, checked before use (the tensors named in ``positive_first`` start with a positive
    entry).  Shared by the model folder formats."""
    arrays: dict[str, np.ndarray] = {}
    if not path.is_file():  # safetensors' own message for a folder is 'No such device'
        raise ValueError(f"{WEIGHTS} is missing or not a file")
    try:
        with safe_open(str(path), framework="np") as file:
            names = set(file.keys())
            missing, extra = sorted(set(specs) - names), sorted(names - set(specs))
            if missing or extra:
                what = f"lacks tensor {missing[0]!r}" if missing else f"has an unknown tensor {_short(extra[0])}"
                raise ValueError(f"{WEIGHTS} {what} (for the shape in {CONFIG})")
            for name, (dtype, shape, _, _) in specs.items():
                piece = file.get_slice(name)
                stored, dims = piece.get_dtype(), tuple(piece.get_shape())
                if stored != dtype or dims != shape:
                    found, wanted = f"{stored} {list(dims)}", f"{dtype} {list(shape)}"
                    raise ValueError(f"{WEIGHTS}: tensor {name!r} is {found}, expected {wanted}")
                arrays[name] = file.get_tensor(name)
    except SafetensorError as exc:
        raise ValueError(f"{WEIGHTS} is not a valid safetensors file ({exc})") from None
    for name, (_, _, low, high) in specs.items():
        array = arrays[name]
        if int(array.min()) < low or int(array.max()) > high:
            raise ValueError(f"{WEIGHTS}: tensor {name!r} has values outside {low}..{high}")
    for name in positive_first:
        if arrays[name][0] <= 0:
            raise ValueError(f"{WEIGHTS}: {name}[0] must be positive")
    return arrays


_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false"}


def _short(value: object) -> str:
    """repr of an untrusted value, cut so that a message stays short."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
