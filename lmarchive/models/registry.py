"""Where models are found by name, and the check that an archive's model is the one we have."""

from __future__ import annotations

from functools import cache

from lmarchive.errors import ModelError
from lmarchive.models.base import Predictor
from lmarchive.models.context import ContextModel

DEFAULT_MODEL = "cm2"
_BUILTIN = {"cm2": ContextModel}


def available_models() -> list[str]:
    """Names accepted by :func:`load_model` (and the CLI's ``--model``)."""
    return sorted(_BUILTIN)


@cache
def load_model(name: str) -> Predictor:
    """The predictor called ``name``; loaded once per process."""
    try:
        factory = _BUILTIN[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; available: {', '.join(available_models())}") from None
    return factory(name)


def model_for(name: str, fingerprint: bytes) -> Predictor:
    """The predictor an archive entry was coded with, refusing any whose tables could differ."""
    try:
        model = load_model(name)
    except ModelError:
        raise ModelError(
            f"this archive needs the model {name!r}, which this installation does not have "
            f"(available: {', '.join(available_models())}); install the lmarchive version that made it"
        ) from None
    if model.fingerprint != fingerprint:
        raise ModelError(
            f"model {name!r} here (fingerprint {model.fingerprint.hex()[:16]}) differs from the one the archive "
            f"was made with ({fingerprint.hex()[:16]}); decoding would fail"
        )
    return model
