"""Float checkpoint -> the shipped exact model: integer weights, multipliers and tables.

A model directory holds ``model.safetensors`` (integers only), ``config.json``,
``MODEL_CARD.md`` and, for a token model, ``tokenizer.json``.  Its fingerprint is the sha256 over
the files the coded symbols depend on, so an archive names exactly the integers (and tokens)
that coded it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from lmarchive.models.lm import quant
from lmarchive.models.lm.exact import LMConfig
from lmarchive.models.lm.float_model import OBSERVED, FloatTransformer
from lmarchive.models.tokenizer import TOKENIZER_FILE

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
FORMAT = "lmarchive-exact-transformer/1"


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float64).numpy()


def _mult(prefix: str, scale: np.ndarray | float, out: dict[str, np.ndarray]) -> None:
    mult, shift = quant.multiplier(scale)
    out[prefix + "_mult"], out[prefix + "_shift"] = mult, shift


def export_tensors(model: FloatTransformer) -> dict[str, np.ndarray]:
    """The exact model's integers for a trained float model (the same grids as its fake quant)."""
    c = model.config
    norm_step = 1.0 / quant.NORM_SCALE
    out: dict[str, np.ndarray] = {}
    embed = np.rint(_np(model.embed.weight) * (1 << quant.RESIDUAL_BITS))
    out["embed"] = np.clip(embed, -quant.RESIDUAL_LIMIT, quant.RESIDUAL_LIMIT).astype(np.int32)
    for i, layer in enumerate(model.layers):
        p = f"layers.{i}."
        amax = dict(zip(OBSERVED, _np(layer.amax), strict=True))
        s = {name: amax[name] / quant.QMAX for name in OBSERVED}
        attn_gain, ffn_gain = _np(layer.attn_gain), _np(layer.ffn_gain)

        def weight(name: str, w: np.ndarray) -> np.ndarray:
            q, scale = quant.quantize_weight(w)
            out[p + name] = q  # noqa: B023 - used immediately
            return scale

        wq = weight("wq", _np(layer.wq) * attn_gain[None, :])
        wk = weight("wk", _np(layer.wk) * attn_gain[None, :])
        wv = weight("wv", _np(layer.wv) * attn_gain[None, :])
        wo = weight("wo", _np(layer.wo))
        w1 = weight("w1", _np(layer.w1) * ffn_gain[None, :])
        w3 = weight("w3", _np(layer.w3) * ffn_gain[None, :])
        w2 = weight("w2", _np(layer.w2))
        _mult(p + "q", norm_step * wq / s["q"], out)
        _mult(p + "k", norm_step * wk / s["k"], out)
        _mult(p + "v", norm_step * wv / s["v"], out)
        score = s["q"] * s["k"] / math.sqrt(c.head_dim) * quant.EXP_STEPS_PER_NAT
        out[p + "score_mult"] = np.array([quant.score_multiplier(score)], dtype=np.int64)
        _mult(p + "attn", s["v"] / (1 << quant.PROB_BITS) / s["o"], out)
        _mult(p + "o", s["o"] * wo * (1 << quant.RESIDUAL_BITS), out)
        _mult(p + "g", norm_step * w1 * quant.SILU_SCALE, out)
        _mult(p + "u", norm_step * w3 / s["u"], out)
        _mult(p + "h", s["u"] / (1 << quant.SILU_OUT_BITS) / s["h"], out)
        _mult(p + "d", s["h"] * w2 * (1 << quant.RESIDUAL_BITS), out)
    w_out, out_scale = quant.quantize_weight(_np(model.w_out) * _np(model.out_gain)[None, :])
    out["w_out"] = w_out
    _mult("out", norm_step * out_scale * quant.LOGIT_STEPS_PER_NAT, out)
    out["rope_cos"], out["rope_sin"] = quant.rope_table(c.head_dim, c.rope_period, c.rope_base)
    out["exp_table"] = quant.exp_table()
    out["logit_exp_table"] = quant.logit_exp_table()
    out["silu_table"] = quant.silu_table()
    return out


def save_model(
    directory: Path, config: LMConfig, tensors: dict[str, np.ndarray], card: str, tokenizer: Path | None = None
) -> bytes:
    """Write the model directory (with a copy of ``tokenizer`` for a token model); returns its fingerprint."""
    directory.mkdir(parents=True, exist_ok=True)
    if tokenizer is not None:
        shutil.copyfile(tokenizer, directory / TOKENIZER_FILE)
    else:  # a byte model written over a token model's folder must not inherit its tokenizer
        (directory / TOKENIZER_FILE).unlink(missing_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in sorted(tensors.items())}, str(directory / WEIGHTS))
    meta = {"format": FORMAT, **dataclasses.asdict(config)}
    (directory / CONFIG).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    (directory / "MODEL_CARD.md").write_text(card)
    return fingerprint(directory)


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


def load_model_dir(directory: Path) -> tuple[LMConfig, dict[str, torch.Tensor]]:
    """Config and integer tensors of a model directory, checked in full against the format.

    The folder may come from anywhere ($LMARCHIVE_MODEL_PATH), so nothing in it is trusted: every
    problem is a ValueError (OSError for a file that cannot be read) naming the file and what is
    wrong, raised before anything sized by the config is allocated.
    """
    config = read_config(directory / CONFIG)
    arrays = read_tensors(directory / WEIGHTS, config)
    return config, {name: torch.from_numpy(array.astype(np.int64)) for name, array in arrays.items()}


def read_config(path: Path) -> LMConfig:
    """config.json: a JSON object of exactly the format tag and every LMConfig field (no defaults:
    the file alone must fix the model), each of its type and within the engine's limits."""
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except RecursionError:  # the json module nests by recursion
        raise ValueError(f"{CONFIG} is nested too deeply") from None
    except ValueError as exc:  # also bad UTF-8 and integers of too many digits
        raise ValueError(f"{CONFIG} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{CONFIG} holds {_JSON_KINDS.get(type(meta), 'null')}, not an object")
    if meta.get("format") != FORMAT:
        found = _short(meta["format"]) if "format" in meta else "missing"
        raise ValueError(f"{CONFIG}: format {found}, expected {FORMAT!r}")
    fields = {field.name: type(field.default) for field in dataclasses.fields(LMConfig)}
    unknown = sorted(set(meta) - set(fields) - {"format"})
    if unknown:
        raise ValueError(f"{CONFIG}: unknown key {_short(unknown[0])}")
    values: dict[str, int | float] = {}
    for name, kind in fields.items():
        if name not in meta:
            raise ValueError(f"{CONFIG}: {name!r} is missing")
        value = meta[name]
        # bool is an int to Python, not to JSON; a float field also takes a JSON integer
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
            raise ValueError(f"{CONFIG}: {name!r} must be {'a number' if kind is float else 'an integer'}")
        values[name] = kind(value)
    config = LMConfig(**values)
    try:
        config.check()
    except ValueError as exc:
        raise ValueError(f"{CONFIG}: {exc}") from None
    return config


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
    specs = tensor_specs(config)
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
    for name in ("exp_table", "logit_exp_table"):  # entry 0 is the top symbol's weight: a divisor
        if arrays[name][0] <= 0:
            raise ValueError(f"{WEIGHTS}: {name}[0] must be positive")
    try:
        quant.check_exp_table(arrays["exp_table"])
    except ValueError as exc:
        raise ValueError(f"{WEIGHTS}: {exc}") from None
    return arrays


_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false"}


def _short(value: object) -> str:
    """repr of an untrusted value, cut so that a message stays short."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
