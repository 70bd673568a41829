"""Where models are found by name, and the check that an archive's model is the one we have.

Built-in models are code (cm2); LM models are directories (config.json + model.safetensors)
found on :func:`lmarchive.resources.model_search_path`, named after their folder.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lmarchive.errors import ModelError
from lmarchive.models.base import Predictor
from lmarchive.models.context import ContextModel
from lmarchive.resources import MODEL_PATH_ENV, model_search_path

DEFAULT_MODEL = "cm2"
_BUILTIN = {"cm2": ContextModel}


def _model_dirs() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for root in model_search_path():
        if root.is_dir():
            for child in sorted(root.iterdir()):
                if (child / "config.json").is_file():
                    found.setdefault(child.name, child)
    return found


def available_models() -> list[str]:
    """Names accepted by :func:`load_model` (and the CLI's ``--model``)."""
    return sorted({*_BUILTIN, *_model_dirs()})


def load_model(name: str, device: str = "cpu") -> Predictor:
    """The predictor called ``name`` on ``device``; loaded once per process."""
    if name in _BUILTIN:
        return _builtin(name)
    directory = _model_dirs().get(name)
    if directory is None:
        raise ModelError(
            f"unknown model {name!r}; available: {', '.join(available_models())} "
            f"(model folders are searched in ${MODEL_PATH_ENV} and the installation's resources/models)"
        )
    return _load_lm(name, directory, device)


@cache
def _builtin(name: str) -> Predictor:
    return _BUILTIN[name](name)


@cache
def _load_lm(name: str, directory: Path, device: str) -> Predictor:
    from lmarchive.models.lm.predictor import LMPredictor  # torch loads only when an LM is used

    return LMPredictor(name, directory, device)


def model_for(name: str, fingerprint: bytes, device: str = "cpu") -> Predictor:
    """The predictor an archive entry was coded with, refusing any whose tables could differ."""
    try:
        model = load_model(name, device)
    except ModelError:
        raise ModelError(
            f"this archive needs the model {name!r}, which this installation does not have "
            f"(available: {', '.join(available_models())}); put its folder in ${MODEL_PATH_ENV} "
            "or install the lmarchive version that made it"
        ) from None
    if model.fingerprint != fingerprint:
        raise ModelError(
            f"model {name!r} here (fingerprint {model.fingerprint.hex()[:16]}) differs from the one the archive "
            f"was made with ({fingerprint.hex()[:16]}); decoding would fail"
        )
    return model
