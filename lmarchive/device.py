"""Which device models run on, decided once so the CLI, the GUI and the models agree."""

from __future__ import annotations

from lmarchive.errors import LMArchiveError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str) -> str:
    """The device models should run on ('cpu' or 'cuda'), failing early if CUDA is asked for and absent.

    Every current model runs on the CPU, so 'auto' means 'cpu' for now.  torch is imported only
    when CUDA is requested, so the ordinary path never pays for importing it.
    """
    if requested not in DEVICES:
        raise LMArchiveError(f"unknown device {requested!r}; choose one of {', '.join(DEVICES)}")
    if requested != "cuda":
        return "cpu"
    try:
        import torch
    except (ImportError, OSError):
        raise LMArchiveError("CUDA requested but not available (PyTorch is not installed)") from None
    if not torch.cuda.is_available():
        raise LMArchiveError("CUDA requested but not available (PyTorch sees no CUDA device)")
    return "cuda"
