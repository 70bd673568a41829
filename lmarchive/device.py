"""Which device models run on, decided once so the CLI, the GUI and the models agree."""

from __future__ import annotations

import ctypes.util
import importlib.util
import sys

from lmarchive.errors import LMArchiveError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str) -> str:
    """The device models should run on ('cpu' or 'cuda'), failing early if CUDA is asked for and absent.

    'auto' picks CUDA when PyTorch sees a CUDA device, else the CPU.  The choice never changes
    an archive: the exact models compute the same tables everywhere (``lmarchive selftest``).
    """
    if requested not in DEVICES:
        raise LMArchiveError(f"unknown device {requested!r}; choose one of {', '.join(DEVICES)}")
    if requested == "cpu" or (requested == "auto" and not cuda_possible()):
        return "cpu"  # without importing torch: a second of start-up the CPU path never needs
    try:
        import torch
    except (ImportError, OSError):
        if requested == "auto":
            return "cpu"
        raise LMArchiveError("CUDA requested but not available (PyTorch is not installed)") from None
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = False  # TF32 would round the integer-valued products
        return "cuda"
    if requested == "auto":
        return "cpu"
    raise LMArchiveError("CUDA requested but not available (PyTorch sees no CUDA device)")


def cuda_possible() -> bool:
    """Whether asking PyTorch can find a CUDA device at all: it is installed and the loader knows a
    CUDA driver library (macOS has none).  A driver the loader cannot find means 'auto' picks the
    CPU, which codes the same archive, only slower; ``--device cuda`` still asks torch."""
    if sys.platform == "darwin" or importlib.util.find_spec("torch") is None:
        return False
    return ctypes.util.find_library("nvcuda" if sys.platform == "win32" else "cuda") is not None
