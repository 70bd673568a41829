"""Predictors: the interface, the built-in models and the registry that finds them by name."""

from lmarchive.models.base import Predictor, PredictorBatch
from lmarchive.models.context import ContextModel, ContextModelParams
from lmarchive.models.registry import DEFAULT_MODEL, available_models, load_model, model_for

__all__ = [
    "DEFAULT_MODEL",
    "ContextModel",
    "ContextModelParams",
    "Predictor",
    "PredictorBatch",
    "available_models",
    "load_model",
    "model_for",
]
