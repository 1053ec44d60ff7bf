"""PyTorch backend: loads a self-describing checkpoint safely and runs it in inference mode."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from colorize_cli.checkpoint import load_generator
from colorize_cli.device import resolve_device
from colorize_cli.errors import UsageError


class TorchBackend:
    """Runs a ``.pt`` generator checkpoint on cpu, cuda or mps, in float32 or bfloat16."""

    name = "torch"

    def __init__(
        self, model_path: Path, *, device: str = "auto", threads: int | None = None, precision: str = "auto"
    ) -> None:
        import torch

        self.model_path = Path(model_path)
        self.device = resolve_device(device)
        self.accelerated = self.device.type != "cpu"
        # Unlike ONNX Runtime, eager torch on a CPU gains from batches: each op's fixed cost is
        # shared, and the 1x1 convolutions take oneDNN's kernels from batch 2 on; 4 was fastest,
        # 8 only held more memory (benchmarks/RESULTS.md).
        self.batch_size = 8 if self.accelerated else 4
        if threads:
            torch.set_num_threads(threads)
        model, self.config = load_generator(self.model_path, "cpu")
        self.model = optimize_for_inference(model)
        self.precision = choose_precision(precision, self.device, self.model, self.model_path)
        if self.precision == "bf16":
            _run_in_bfloat16(self.model)
        self.model = self.model.to(self.device)
        # channels_last only on CPU, where it is faster. Photos of other aspect ratios reach the
        # network at other shapes, and on CUDA channels_last paid seconds of set-up at every new
        # shape for no faster calls afterwards; cudnn.benchmark would too
        # (benchmarks/bench_gpu_inference.py, RESULTS.md).
        self.memory_format = torch.channels_last if self.device.type == "cpu" else torch.contiguous_format
        self.model = self.model.to(memory_format=self.memory_format)

    def predict(self, L: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(L, dtype=np.float32)).to(self.device)
            ab = self.model(x.contiguous(memory_format=self.memory_format))
            return ab.float().cpu().numpy()

    def describe(self) -> str:
        return f"torch ({self.device}, {self.precision}) {self.config.arch} model {self.model_path}"


def native_bfloat16(device) -> bool:
    """Whether bfloat16 runs much faster than float32 on ``device``: a CPU with AMX.

    Measured on this project's network (one thread, ms per photo): float32 24-27; bfloat16 with
    AMX 9-11; with AVX512-BF16 alone (oneDNN capped below AMX) 32, slower than float32. GPUs keep
    float32 unless asked: that is what was measured there. A oneDNN capped by hand
    (``ONEDNN_MAX_CPU_ISA``/``DNNL_MAX_CPU_ISA`` without AMX in it) keeps float32 too.
    """
    import torch

    if device.type != "cpu":
        return False
    # oneDNN reads ONEDNN_ first; ALL and DEFAULT mean no cap.
    cap = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "").upper()
    if cap and "AMX" not in cap and cap not in ("ALL", "DEFAULT"):
        return False
    capabilities = getattr(torch.cpu, "get_capabilities", None)  # torch >= 2.10
    try:
        if capabilities is not None:
            return bool(capabilities().get("amx_bf16"))
        return _cpuinfo_has("amx_bf16")  # older torch, on Linux: the kernel's view of the CPU
    except Exception:  # noqa: BLE001 - an unreadable CPU description just means float32
        return False


def _cpuinfo_has(flag: str) -> bool:
    """Whether Linux lists ``flag`` for the CPU (it lists AMX only where the kernel supports it)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            return any(line.startswith("flags") and flag in line.split() for line in fh)
    except OSError:
        return False


def choose_precision(precision: str, device, model, model_path: Path) -> str:
    """``auto`` -> ``bf16`` where it is native (:func:`native_bfloat16`) and the model has parts
    that may run in it, else ``fp32``; ``bf16`` asked for must be possible."""
    supported = hasattr(model, "bfloat16_parts")
    if precision == "auto":
        return "bf16" if supported and native_bfloat16(device) else "fp32"
    if precision == "bf16":
        if not supported:
            raise UsageError(
                f"--precision bf16 is offered for mobilenet_unet models; {model_path.name} is a "
                f"{type(model).__name__}: use --precision fp32"
            )
        if device.type == "mps":
            raise UsageError("--precision bf16 is not offered on mps: use --precision fp32")
        import torch

        # Native bfloat16 from Ampere (compute capability 8) on; torch.cuda.is_bf16_supported()
        # also says yes where it is only emulated, and asks about the current device, not this one.
        if device.type == "cuda" and not torch.version.hip and torch.cuda.get_device_capability(device)[0] < 8:
            raise UsageError("--precision bf16: this GPU has no native bfloat16 (it needs compute capability 8.0 or newer); use --precision fp32")
        return "bf16"
    if precision != "fp32":
        raise UsageError(f"--precision {precision} is not offered by the torch backend (fp32 or bf16)")
    return "fp32"


def _run_in_bfloat16(model) -> None:
    """Cast ``model.bfloat16_parts()`` to bfloat16, each casting its floating-point inputs on entry.

    The rest (the blocks that read L itself) stays float32: the model still takes float32 L,
    and returns ab in bfloat16 (from the head), which ``predict`` hands back as float32.
    """
    import torch

    def to_bfloat16(module, args):
        return tuple(a.to(torch.bfloat16) if torch.is_tensor(a) and a.is_floating_point() else a for a in args)

    for part in model.bfloat16_parts():
        part.to(torch.bfloat16)
        part.register_forward_pre_hook(to_bfloat16)


def optimize_for_inference(model):
    """Fold every BatchNorm into the convolution just before it (an eval-mode identity).

    Measured on a 2-core CPU for the default generator at 224x320: eager 1.37x the ONNX Runtime
    time, folded 1.14x, folded + channels_last 0.92x (benchmarks/RESULTS.md). Done on each
    ``nn.Sequential`` (where every model here pairs them, the seed U-Net's transposed
    convolutions included) rather than by tracing the model with ``torch.fx``: the same network,
    opened 0.07 s sooner.
    """
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model.eval()
    # Only plain Sequentials: one with its own forward may not run its layers in order.
    plain = [m for m in model.modules() if isinstance(m, nn.Sequential) and type(m).forward is nn.Sequential.forward]
    for seq in plain:
        i = 0
        while i < len(seq) - 1:
            conv, norm = seq[i], seq[i + 1]
            if (
                (type(conv) is nn.Conv2d or (type(conv) is nn.ConvTranspose2d and conv.groups == 1))
                and type(norm) is nn.BatchNorm2d
                and norm.running_mean is not None
            ):
                seq[i] = fuse_conv_bn_eval(conv, norm, transpose=isinstance(conv, nn.ConvTranspose2d))
                del seq[i + 1]
            i += 1
    return model
