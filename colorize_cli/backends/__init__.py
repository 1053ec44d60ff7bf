"""Inference backends behind one small interface: numpy in, numpy out.

``predict(L)`` takes ``(N, 1, h, w)`` float32 normalized L (``L/50 - 1``) and returns
``(N, 2, h, w)`` float32 normalized ab (``ab/110``); ``h`` and ``w`` are multiples of
``config.stride``. :func:`open_backend` picks the backend and the model; only the chosen
backend's heavy package (torch or onnxruntime) is ever imported.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
from pathlib import Path
from typing import Protocol

import numpy as np

from colorize_cli.errors import BackendUnavailable, ModelError, UsageError
from colorize_cli.modelmeta import BUNDLED_CHECKPOINT, BUNDLED_ONNX, BUNDLED_ONNX_INT8, bundled_model_path
from colorize_cli.models.config import GeneratorConfig

BACKEND_CHOICES = ("auto", "torch", "onnx")
PRECISION_CHOICES = ("auto", "fp32", "bf16", "int8")
# The bundled model ships an int8 variant only when its colours hold up after quantization.
NO_INT8_HINT = (
    "--precision int8: this version's bundled model has no int8 variant (quantized, its colours moved "
    "beyond tolerance; see MODEL_CARD.md). Make one for your own model with 'colorize-cli export MODEL.pt "
    "-o model_int8.onnx --quantize int8 --calibration PHOTOS_DIR' and pass --model model_int8.onnx"
)


class Backend(Protocol):
    """What the pipeline needs from an inference engine."""

    name: str
    config: GeneratorConfig
    model_path: Path
    accelerated: bool  # runs on a GPU (batches pay off) rather than the CPU
    # What it runs at: fp32, bf16 (torch), or an ONNX file's own (fp32/fp16/int8). Like
    # batch_size, optional for engines of one's own (readers use getattr).
    precision: str
    # Optional: photos per model call that suit this engine, the runner's default (an engine
    # without it gets 1 on a CPU, 8 on a GPU).
    batch_size: int

    def predict(self, L: np.ndarray) -> np.ndarray:
        """``(N, 1, h, w)`` float32 in [-1, 1] -> ``(N, 2, h, w)`` float32 in [-1, 1]."""
        ...

    def describe(self) -> str:
        """One line for logs: backend, device/provider, model file."""
        ...


def has_package(name: str) -> bool:
    """Whether ``name`` is importable, without importing it."""
    return importlib.util.find_spec(name) is not None


def accelerator_likely() -> bool:
    """Whether torch would find a GPU, judged without importing torch (about 1 s and 300 MB).

    macOS: Apple silicon (MPS). Elsewhere: a GPU device node this process can see (NVIDIA's
    ``/dev/nvidiactl``, AMD ROCm's ``/dev/kfd``: absent in a container given no GPU, unlike
    ``/proc/driver/nvidia``) and a torch build with GPU libraries (``torch/lib/libtorch_cuda*``
    or ``libtorch_hip*``; the CPU-only wheels have neither). ``--device`` or ``--backend``
    overrides the guess.
    """
    if sys.platform == "darwin":
        return platform.machine() == "arm64"
    if not (os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/kfd")):
        return False
    spec = importlib.util.find_spec("torch")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        lib = Path(folder) / "lib"
        if any(lib.glob("libtorch_cuda*")) or any(lib.glob("libtorch_hip*")) or any(lib.glob("torch_cuda*.dll")):
            return True
    return False


def _choose_backend(backend: str, model: Path | None, device: str = "auto") -> str:
    if backend not in BACKEND_CHOICES:
        raise UsageError(f"unknown backend {backend!r}; choose from {', '.join(BACKEND_CHOICES)}")
    suffix = model.suffix.lower() if model is not None else None
    if backend == "auto":
        if suffix == ".onnx":
            return "onnx"
        if suffix is not None:  # a .pt/.pth checkpoint needs torch
            return "torch"
        # The bundled model ships in both formats. On a CPU, ONNX Runtime runs a 100-photo job
        # 1.3-1.7x faster than torch (bf16 with AMX, fp32 without) in 40% of the memory: torch's
        # import alone is ~1.2 s (benchmarks/RESULTS.md). GPUs are torch's.
        device = (device or "auto").lower()
        gpu = device.startswith("cuda") or device == "mps" or (device == "auto" and accelerator_likely())
        if has_package("torch") and (gpu or not has_package("onnxruntime")):
            return "torch"
        return "onnx" if has_package("onnxruntime") else "torch"
    if model is not None:
        if backend == "torch" and suffix == ".onnx":
            raise UsageError(f"--backend torch needs a .pt checkpoint, not {model.name} (use --backend onnx)")
        if backend == "onnx" and suffix != ".onnx":
            raise UsageError(
                f"--backend onnx needs an .onnx model, not {model.name} "
                "(convert it with 'colorize-cli export', or use --backend torch)"
            )
    return backend


def engine_for(
    backend: str = "auto", model: str | os.PathLike | None = None, *, device: str = "auto", precision: str = "auto"
) -> str:
    """Which engine :func:`open_backend` will open for these arguments, ``"torch"`` or ``"onnx"``,
    without opening it (nor importing either package). Raises :class:`UsageError` for arguments
    that do not go together."""
    model_path = Path(model) if model is not None else None
    if precision not in PRECISION_CHOICES:
        raise UsageError(f"unknown precision {precision!r}; choose from {', '.join(PRECISION_CHOICES)}")
    if precision == "int8":
        if model_path is not None:
            raise UsageError("--precision int8 selects the bundled int8 model; with --model the file decides")
        if backend == "torch":
            raise UsageError("--precision int8 runs on ONNX Runtime: use --backend onnx (or auto)")
        if not bundled_model_path(BUNDLED_ONNX_INT8).is_file():
            raise UsageError(NO_INT8_HINT)
        backend = "onnx"
    if precision == "bf16":
        if model_path is not None and model_path.suffix.lower() == ".onnx":
            raise UsageError(f"--precision bf16 runs on torch, and {model_path.name} is an ONNX model: pass a .pt checkpoint")
        if backend == "onnx":
            raise UsageError("--precision bf16 runs on torch: use --backend torch (or auto)")
        backend = "torch"
    return _choose_backend(backend, model_path, device)


def open_backend(
    backend: str = "auto",
    model: str | os.PathLike | None = None,
    *,
    device: str = "auto",
    threads: int | None = None,
    precision: str = "auto",
) -> Backend:
    """Open an inference backend.

    Args:
        backend: ``auto`` (by the model's suffix; for the bundled model ONNX Runtime on a CPU and
            torch where a GPU is asked for or found, each if installed, else the other),
            ``torch`` or ``onnx``.
        model: a ``.pt`` checkpoint or ``.onnx`` file; None for the bundled default model.
        device: ``auto``/``cpu``/``cuda``/``mps`` (torch) or ``auto``/``cpu``/``cuda`` (ONNX).
        threads: CPU threads for the engine (None: all available cores).
        precision: ``auto`` (bfloat16 for torch on a CPU with AMX, float32 otherwise; an ONNX
            file runs as it was exported), ``fp32``, ``bf16`` (torch; mobilenet_unet models) or
            ``int8`` (the bundled int8 ONNX model: ONNX Runtime, no ``model``).

    Raises:
        BackendUnavailable: the backend's package is missing (exit 2, names the extra).
        ModelError: the model is missing, foreign, damaged or unsafe.
    """
    model_path = Path(model) if model is not None else None
    chosen = engine_for(backend, model_path, device=device, precision=precision)
    if chosen == "torch":
        if not has_package("torch"):
            raise BackendUnavailable("torch", "torch", "torch")
        if model_path is None:
            model_path = _bundled(BUNDLED_CHECKPOINT)
        from colorize_cli.backends.torch_backend import TorchBackend

        return TorchBackend(model_path, device=device, threads=threads, precision=precision)
    if not has_package("onnxruntime"):
        raise BackendUnavailable("onnx", "onnxruntime", None)
    if model_path is None:
        model_path = _bundled(BUNDLED_ONNX_INT8 if precision == "int8" else BUNDLED_ONNX)
    from colorize_cli.backends.onnx_backend import OnnxBackend

    return OnnxBackend(model_path, device=device, threads=threads)


def _bundled(filename: str) -> Path:
    path = bundled_model_path(filename)
    if not path.is_file():
        raise ModelError(
            f"no bundled default model in this installation ({path.name} missing from "
            "colorize_cli/assets); pass --model PATH to a .pt checkpoint or .onnx file"
        )
    return path


def engine_threads_for(photos: int) -> int | None:
    """The engine's thread count for a run that colorizes ``photos`` (None: the engine's default).

    With several photos in flight the engine's own threads would compete with the threads that
    decode, compose and encode the others, and the runner makes two model calls at once on a CPU:
    a quarter of the cores per call (at least 1) measured fastest on 2 cores (benchmarks/RESULTS.md).
    """
    return max(1, cpu_threads() // 4) if photos > 1 else None


def cpu_threads() -> int:
    """Cores this process may use (respects CPU affinity / container limits)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
