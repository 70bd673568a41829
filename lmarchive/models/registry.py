"""Where models are found by name, and the check that an archive's model is the one we have.

Built-in models are code (cm2, cmx); LM models are directories (config.json + model.safetensors)
found on :func:`lmarchive.resources.model_search_path`, named after their folder; ``cmx+NAME`` is
the mixing model with the LM called NAME as one of its inputs.  Profiles are the names users pick
from (``fast``, ``default``, ``lm``); each resolves to a concrete model, and the archive records the
concrete one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from lmarchive.errors import ModelError
from lmarchive.models.base import Predictor
from lmarchive.models.context import ContextModel
from lmarchive.models.mix.params import FAST_PARAMS, MixParams
from lmarchive.models.tokenizer import TOKENIZER_FILE
from lmarchive.resources import MODEL_PATH_ENV, model_search_path

if TYPE_CHECKING:
    from lmarchive.models.lm.predictor import LMPredictor

BUILTIN_LM = "lmb-s1"
"""The byte LM shipped in resources/models, mixed into ``default`` (see its MODEL_CARD.md)."""
BUILTIN_TOKEN_LM = "lmt-s1"
"""The token LM shipped in resources/models, the ``lm`` profile: alone it codes better than the byte
LM (see its MODEL_CARD.md), but the mixer codes bytes and cannot take it."""
PRETRAINED_LM = "smollm2-135m"
"""The ``max`` profile's model: imported by set-up from PyPI (lmarchive.models.pretrained.importer)."""
DEFAULT_LM_ENV = "LMARCHIVE_DEFAULT_LM"
"""Names the byte LM the ``default`` profile mixes in instead of the shipped one; empty: none, and
``default`` is ``fast`` (a token model here counts as none: the mixer codes bytes)."""
LM_PROFILE_ENV = "LMARCHIVE_LM"
"""Names the model of the ``lm`` profile instead of the shipped token LM; empty: no ``lm`` profile."""
PROFILE_LM_ENVS = (DEFAULT_LM_ENV, LM_PROFILE_ENV)
MIX_PREFIX = "cmx+"
PROFILES = {
    "fast": "adaptive context and match models, mixed (no LM)",
    "default": "the built-in byte LM mixed with the adaptive models",
    "lm": "the built-in token LM alone (slow)",
    "max": "the pretrained SmolLM2-135M LM; a chunk it codes worse keeps default's coding (very slow on a CPU)",
}
DEFAULT_MODEL = "default"
_BUILTIN: dict[str, Callable[[str], Predictor]] = {
    "cm2": ContextModel,
    "cmx": lambda name: _mix(name, FAST_PARAMS, None),
}


@dataclass(frozen=True)
class _Snapshot:
    """The model folders found by one scan of the search path, and what tells when it is stale."""

    roots: tuple[tuple[Path, int | None], ...]
    """Each folder on the search path with its modification time (None: not there, or unreadable)."""
    found: dict[str, Path]
    unfinished: tuple[Path, ...]
    """Subfolders that had no config.json yet (a model being copied in): looked at again on every use."""
    settled: bool
    """False when a folder changed too recently for its time stamp to show the next change."""


_snapshot: _Snapshot | None = None
SETTLE_S = 2.0
"""Coarse file systems (FAT, HFS+) stamp folders to the second or two: a change within that time of
the scan could leave the stamp as it was, so such a snapshot is not reused."""


def _mtime_ns(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _scan(roots: tuple[tuple[Path, int | None], ...]) -> _Snapshot:
    found: dict[str, Path] = {}
    unfinished: list[Path] = []
    for root, _ in roots:
        try:
            children = sorted(root.iterdir()) if root.is_dir() else []
        except OSError:  # an unreadable folder on the path holds no models we can use
            continue
        for child in children:
            try:
                if (child / "config.json").is_file():
                    found.setdefault(child.name, child)
                elif child.is_dir():
                    unfinished.append(child)
            except OSError:
                continue
    newest = max((mtime for _, mtime in roots if mtime is not None), default=0)
    settled = time.time_ns() - newest > SETTLE_S * 1e9
    return _Snapshot(roots, found, tuple(unfinished), settled)


def _model_dirs() -> dict[str, Path]:
    """Model folders by name, the first on the search path winning (a user's folder shadows the
    shipped one of that name).  Only listed here, never loaded: a broken folder fails when it is
    used, with its own message, and leaves the other models alone.

    Every archive entry resolves its model, so the listing is a snapshot, scanned again only when a
    folder on the search path changes (its modification time, as Python's import system does for
    sys.path) or a subfolder that had no config.json gains one: one stat per folder, not a walk.
    """
    global _snapshot
    roots = tuple((root, _mtime_ns(root)) for root in model_search_path())
    snapshot = _snapshot
    if (
        snapshot is None
        or not snapshot.settled
        or snapshot.roots != roots
        or any((folder / "config.json").is_file() for folder in snapshot.unfinished)
    ):
        snapshot = _snapshot = _scan(roots)
    return dict(snapshot.found)


def resolve(name: str) -> str:
    """The concrete model a profile name stands for (other names stand for themselves).

    Without the built-in LM (a trimmed installation), ``default`` falls back to ``fast``.
    """
    lm = builtin_lm()
    if name == "fast" or (name == "default" and lm is None):
        return "cmx"
    if name == "default":
        return MIX_PREFIX + str(lm)
    if name == "lm":
        return lm_alone() or BUILTIN_TOKEN_LM  # a missing LM then fails to load with a clear message
    if name == "max":
        return PRETRAINED_LM  # when missing, loading it says how to get it
    return name


def is_token_model(directory: Path) -> bool:
    """A model folder with a tokenizer codes BPE tokens, which the mixer (over bytes) cannot take."""
    return (directory / TOKENIZER_FILE).is_file()


def builtin_lm() -> str | None:
    """The byte LM ``default`` mixes in: $LMARCHIVE_DEFAULT_LM or the shipped one; None when not
    installed or a token model."""
    name = os.environ.get(DEFAULT_LM_ENV, BUILTIN_LM)
    directory = _model_dirs().get(name) if name else None
    return name if directory is not None and not is_token_model(directory) else None


def lm_alone() -> str | None:
    """The LM of the ``lm`` profile: $LMARCHIVE_LM when set, else the shipped token LM, else the
    shipped byte LM; None when not installed."""
    dirs = _model_dirs()
    if LM_PROFILE_ENV in os.environ:
        name = os.environ[LM_PROFILE_ENV]
        return name if name in dirs else None
    return next((name for name in (BUILTIN_TOKEN_LM, BUILTIN_LM) if name in dirs), None)


def available_models() -> list[str]:
    """Names accepted by :func:`load_model` (and the CLI's ``--model``): profiles, then models."""
    dirs = _model_dirs()
    lms = sorted(dirs)
    mixable = [lm for lm in lms if not is_token_model(dirs[lm])]
    profiles = [p for p in PROFILES if (p != "lm" or lm_alone() is not None) and (p != "max" or PRETRAINED_LM in dirs)]
    return [*profiles, *sorted(_BUILTIN), *lms, *(MIX_PREFIX + lm for lm in mixable)]


def load_model(name: str, device: str = "cpu") -> Predictor:
    """The predictor called ``name`` (or the model a profile stands for) on ``device``; loaded once."""
    name = resolve(name)
    if name in _BUILTIN:
        return _builtin(name)
    if name.startswith(MIX_PREFIX):
        return _load_mix(name, device)
    directory = _model_dirs().get(name)
    if directory is None and name == PRETRAINED_LM:
        from lmarchive.models.pretrained.importer import missing_model_message

        raise ModelError(missing_model_message())
    if directory is None:
        raise ModelError(
            f"unknown model {name!r}; available: {', '.join(available_models())} "
            f"(model folders are searched in ${MODEL_PATH_ENV} and the installation's resources/models)"
        )
    return _load_lm(name, directory, device)


def _installed(name: str) -> bool:
    """Whether a model of that name is here at all (it may still fail to load)."""
    name = resolve(name).removeprefix(MIX_PREFIX)  # the mixing model is built in: its LM decides
    return name in _BUILTIN or name in _model_dirs()


@cache
def _builtin(name: str) -> Predictor:
    return _BUILTIN[name](name)


@cache
def _load_mix(name: str, device: str) -> Predictor:
    from lmarchive.models.lm.predictor import LMPredictor  # torch loads only when an LM is used

    lm = load_model(name.removeprefix(MIX_PREFIX), device)
    if not isinstance(lm, LMPredictor):
        raise ModelError(f"{name!r}: the mixing model takes an LM, and {lm.name!r} is not one")
    return _mix(name, FAST_PARAMS, lm)


def _mix(name: str, params: MixParams, lm: LMPredictor | None) -> Predictor:
    from lmarchive.models.mix.predictor import MixPredictor  # numba loads only when the model is used

    return MixPredictor(name, params, lm)


@cache
def _load_lm(name: str, directory: Path, device: str) -> Predictor:
    if is_pretrained(directory):
        from lmarchive.models.pretrained.predictor import MaxPredictor

        return MaxPredictor(name, directory, load_model("default", device))
    from lmarchive.models.lm.predictor import LMPredictor

    return LMPredictor(name, directory, device)


def is_pretrained(directory: Path) -> bool:
    """A folder of an imported pretrained model (its own format and engine, see lmarchive.models.pretrained)."""
    from lmarchive.models.pretrained.model_dir import is_model_dir

    return is_model_dir(directory)


def model_for(name: str, fingerprint: bytes, device: str = "cpu") -> Predictor:
    """The predictor an archive entry was coded with, refusing any whose tables could differ."""
    if not _installed(name):  # one that is here but broken reports itself (it may shadow the right one)
        raise ModelError(
            f"this archive needs the model {name!r}, which this installation does not have "
            f"(available: {', '.join(available_models())}); put its folder in ${MODEL_PATH_ENV} "
            "or install the lmarchive version that made it"
        )
    model = load_model(name, device)
    if model.fingerprint != fingerprint:
        raise ModelError(
            f"model {name!r} here (fingerprint {model.fingerprint.hex()[:16]}) differs from the one the archive "
            f"was made with ({fingerprint.hex()[:16]}); decoding would fail"
        )
    return model


def model_dirs() -> dict[str, Path]:
    """The model folders on the search path, by name (a snapshot: see :func:`_model_dirs`)."""
    return _model_dirs()
