"""Self-describing checkpoints: format version + generator config + CPU weights, loaded safely.

A checkpoint is a plain dict saved with ``torch.save`` and read back with
``torch.load(weights_only=True)``, so a file carrying a pickle payload is refused instead of run.
Training adds its resume state (discriminator, optimizers, RNG, ...) under extra keys; inference
reads only ``generator_config`` and ``generator``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from colorize_cli._version import __version__
from colorize_cli.errors import ModelError
from colorize_cli.fsutil import atomic_target
from colorize_cli.models.config import GeneratorConfig

CHECKPOINT_FORMAT = "colorize-cli-checkpoint"
CHECKPOINT_VERSION = 1
_PREFIXES = ("_orig_mod.", "module.")  # added by torch.compile and DistributedDataParallel


def clean_state_dict(state: dict[str, Any]) -> dict[str, Any]:
    """CPU copies of the tensors with ``torch.compile``/DDP prefixes stripped from the keys."""
    out = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in _PREFIXES:
                if key.startswith(prefix):
                    key = key[len(prefix) :]
                    changed = True
        out[key] = value.detach().to("cpu").clone() if hasattr(value, "detach") else value
    return out


def unwrap_model(model):
    """The plain module inside DDP/``torch.compile`` wrappers."""
    while True:
        if hasattr(model, "module"):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def make_checkpoint(generator, config: GeneratorConfig, **extra: Any) -> dict[str, Any]:
    """The dict :func:`save_checkpoint` writes; ``extra`` adds training/resume state or metadata."""
    return _checkpoint_dict(config, clean_state_dict(unwrap_model(generator).state_dict()), **extra)


def _checkpoint_dict(config: GeneratorConfig, state: dict[str, Any], **extra: Any) -> dict[str, Any]:
    ckpt: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "package_version": __version__,
        "generator_config": config.to_dict(),
        "generator": state,
    }
    ckpt.update(extra)
    return ckpt


def save_checkpoint(path: str | os.PathLike, checkpoint: dict[str, Any]) -> None:
    """Write ``checkpoint`` atomically (a crash never leaves a truncated ``.pt``)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_target(path) as tmp:
        torch.save(checkpoint, tmp)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load and validate a checkpoint dict (tensors on CPU). Raises :class:`ModelError`."""
    import pickle
    import zipfile

    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path}: not a readable PyTorch checkpoint (not a torch.save zip archive)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = next((ln.strip() for ln in str(exc).splitlines() if "Unsupported global" in ln), "")
        raise ModelError(
            f"{path}: refused to load: the file holds objects other than plain weights, and "
            f"loading it could run code{': ' + detail if detail else ''}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - any decoding failure is a bad model file
        raise ModelError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ModelError(f"{path}: not a colorize-cli checkpoint (no '{CHECKPOINT_FORMAT}' header)")
    version = ckpt.get("format_version")
    if not isinstance(version, int) or version > CHECKPOINT_VERSION:
        raise ModelError(
            f"{path}: checkpoint format version {version} is newer than this colorize-cli "
            f"understands ({CHECKPOINT_VERSION}); upgrade colorize-cli"
        )
    if "generator" not in ckpt or "generator_config" not in ckpt:
        raise ModelError(f"{path}: checkpoint has no generator weights or config")
    return ckpt


def load_generator(path: str | os.PathLike, device: Any = "cpu"):
    """Rebuild the generator from a checkpoint file alone; returns ``(module in eval mode, config)``."""
    from colorize_cli.models import build_generator

    ckpt = read_checkpoint(path)
    try:
        config = GeneratorConfig.from_dict(dict(ckpt["generator_config"]))
        model = build_generator(config)
        model.load_state_dict(ckpt["generator"])
    except (ValueError, TypeError, RuntimeError, KeyError) as exc:
        raise ModelError(f"{path}: checkpoint does not match its architecture: {exc}") from None
    return model.to(device).eval(), config


def generator_only(
    ckpt: dict[str, Any],
    *,
    source: str = "",
    infer_size: int | None = None,
    chroma_gain: float | None = None,
    anneal_t: float | None = None,
) -> dict[str, Any]:
    """A model file's dict from a training checkpoint: the generator alone, no resume state.

    Keeps the config (``infer_size``, ``chroma_gain`` and ``anneal_t`` replaced when given) and a short training summary in
    ``meta`` (epoch, step, resolved training config, last validation figures): about a quarter
    of a resumable checkpoint's size.
    """
    config = dict(ckpt["generator_config"])
    if infer_size is not None:
        config["infer_size"] = int(infer_size)
    if chroma_gain is not None:
        config["chroma_gain"] = float(chroma_gain)
    if anneal_t is not None:
        config["anneal_t"] = float(anneal_t)
    meta = {
        "source_checkpoint": source,
        "epoch": int(ckpt.get("epoch", 0)),
        "step": int(ckpt.get("step", 0)),
        "train_config": ckpt.get("train_config", {}),
        "val": (ckpt.get("meta") or {}).get("val", {}),
    }
    return _checkpoint_dict(GeneratorConfig.from_dict(config), dict(ckpt["generator"]), meta=meta)
