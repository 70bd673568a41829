"""Float checkpoint -> the shipped exact model: integer weights, multipliers and tables.

Training export only (it needs torch and the float training twin); reading a model directory is
:mod:`.model_dir`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file

from lmarchive.models.lm import quant
from lmarchive.models.lm.config import LMConfig
from lmarchive.models.lm.float_model import OBSERVED, FloatTransformer
from lmarchive.models.lm.model_dir import CONFIG, FORMAT, WEIGHTS, fingerprint
from lmarchive.models.tokenizer import TOKENIZER_FILE


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
    for i, layer in enumerate(model.blocks()):
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
