"""The one device resolver: ``auto`` -> cuda -> mps -> cpu (imports torch; torch backend/training only)."""

from __future__ import annotations

from colorize_cli.errors import UsageError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str = "auto"):
    """Return a ``torch.device`` for ``auto``/``cpu``/``cuda[:N]``/``mps``; an unavailable one is an error."""
    import torch

    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but no CUDA GPU is available")
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise UsageError("--device mps was asked for, but MPS is not available")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise UsageError(f"unknown device {name!r}: {exc}") from None
