"""Verification of an exported model: the ONNX checker, then ONNX Runtime against PyTorch.

Each exported file is compared with the PyTorch generator it came from on random inputs and on
photos (a folder of the user's, or generated photo-like images) at two sizes (the model's default
and 1.5x, both multiples of its stride) and batch sizes 1 and 3. The largest and the mean absolute
difference of the normalized ab output are reported; beyond the precision's tolerance the export
fails.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from colorize_cli import lab
from colorize_cli.errors import ColorizeError
from colorize_cli.modelmeta import INPUT_NAME
from colorize_cli.models.config import GeneratorConfig

# Tolerances on the normalized ab output (ab / 110, range [-1, 1]); 0.01 is about 1.1 ab units,
# below what the eye sees in chroma. Measured differences are in README.md / benchmarks/RESULTS.md.
# fp32: ONNX Runtime and PyTorch differ only by float summation order (measured <= 1e-6).
# fp16: float16 weights and activations (10-bit mantissa): measured ~1e-4 worst, ~1e-5 mean.
# int8: quantization noise; judged on the mean, since one pixel of a random input may be far off.
TOLERANCES: dict[str, dict[str, float]] = {
    "fp32": {"max_abs": 1e-4, "mean_abs": math.inf},
    "fp16": {"max_abs": 1e-2, "mean_abs": 2e-3},
    "int8": {"max_abs": math.inf, "mean_abs": 0.03},
}
BATCH_SIZES = (1, 3)
N_GENERATED_IMAGES = 3


class VerificationError(ColorizeError):
    """An exported model failed the checker or differs from PyTorch beyond the tolerance (exit 1)."""


@dataclass
class CaseResult:
    """One comparison: input kind (``random``/``images``), size, batch and the differences."""

    inputs: str
    height: int
    width: int
    batch: int
    max_abs: float
    mean_abs: float


@dataclass
class Verification:
    """All comparisons of one exported file against PyTorch."""

    precision: str
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def max_abs(self) -> float:
        return max((c.max_abs for c in self.cases), default=0.0)

    @property
    def mean_abs(self) -> float:
        if not self.cases:
            return 0.0
        weights = [c.batch * c.height * c.width for c in self.cases]
        return float(sum(c.mean_abs * w for c, w in zip(self.cases, weights, strict=False)) / sum(weights))

    @property
    def tolerance(self) -> dict[str, float]:
        return TOLERANCES[self.precision]

    @property
    def passed(self) -> bool:
        tol = self.tolerance
        return self.max_abs <= tol["max_abs"] and self.mean_abs <= tol["mean_abs"]

    def describe_tolerance(self) -> str:
        tol = self.tolerance
        parts = [f"{k.replace('_abs', '')}≤{v:g}" for k, v in tol.items() if math.isfinite(v)]
        return " ".join(parts)


def round_to_stride(n: float, stride: int) -> int:
    """``n`` rounded to the nearest multiple of ``stride`` (at least ``stride``)."""
    return max(stride, int(round(n / stride)) * stride)


def verification_sizes(config: GeneratorConfig) -> tuple[int, int]:
    """The model's default size and 1.5x that, both rounded to its stride."""
    base = round_to_stride(config.default_size, config.stride)
    return base, round_to_stride(1.5 * base, config.stride)


def photo_like_l(height: int, width: int, seed: int) -> np.ndarray:
    """A deterministic photo-like L* plane in [0, 100]: smooth shading, shapes, edges, grain."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    y /= max(height - 1, 1)
    x /= max(width - 1, 1)
    # sky-to-ground gradient and soft large-scale shading
    L = 70.0 - 35.0 * y + 8.0 * np.sin(2 * np.pi * (x * rng.uniform(0.5, 1.5) + rng.uniform()))
    # a few objects: discs and rectangles of various tones, with hard edges
    for _ in range(6):
        cy, cx = rng.uniform(0.1, 0.9, size=2)
        r = rng.uniform(0.05, 0.25)
        tone = rng.uniform(5, 95)
        if rng.uniform() < 0.5:
            mask = (y - cy) ** 2 + (x - cx) ** 2 < r**2
        else:
            mask = (abs(y - cy) < r) & (abs(x - cx) < r * rng.uniform(0.3, 1.5))
        L = np.where(mask, tone + 10.0 * (y - cy), L)
    # texture and film grain
    L += 4.0 * np.sin(2 * np.pi * 25 * x) * np.sin(2 * np.pi * 17 * y)
    L += rng.normal(0.0, 2.0, size=L.shape).astype(np.float32)
    return np.clip(L, 0.0, 100.0).astype(np.float32)


def load_verification_images(folder: str | os.PathLike | None, limit: int = 8) -> list[np.ndarray]:
    """Full-resolution L* planes of the photos in ``folder`` (up to ``limit``), or generated ones."""
    if folder is None:
        return [photo_like_l(300 + 37 * i, 400 - 29 * i, seed=i) for i in range(N_GENERATED_IMAGES)]
    from colorize_cli.errors import InputError, UsageError
    from colorize_cli.imagefile import decode_image
    from colorize_cli.jobs import walk_folder

    root = Path(folder)
    if not root.is_dir():
        raise UsageError(f"--verify-images folder not found: {root}")
    planes = []
    for path in walk_folder(root, recursive=True):
        try:
            planes.append(decode_image(path).L)
        except InputError:
            continue
        if len(planes) >= limit:
            break
    if not planes:
        raise UsageError(f"no readable images in --verify-images folder {root}")
    return planes


def image_batch(planes: list[np.ndarray], batch: int, side: int) -> np.ndarray:
    """``(batch, 1, side, side)`` normalized network inputs from the photos (cycled as needed)."""
    from colorize_cli.pipeline import resize_plane

    out = np.empty((batch, 1, side, side), dtype=np.float32)
    for i in range(batch):
        out[i, 0] = lab.normalize_l(resize_plane(planes[i % len(planes)], (side, side)))
    return out


def random_batch(batch: int, side: int, seed: int) -> np.ndarray:
    """``(batch, 1, side, side)`` uniform random normalized L in [-1, 1]."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, size=(batch, 1, side, side)).astype(np.float32)


def cpu_session(path: str | os.PathLike, threads: int | None = None):
    """An ONNX Runtime CPU session on ``path`` (all graph optimizations, as the backend uses)."""
    import onnxruntime as ort

    from colorize_cli.backends.onnx_backend import session_options

    opts = session_options(threads)
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def check_model(path: str | os.PathLike) -> None:
    """``onnx.checker.check_model(full_check=True)``; raises VerificationError."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:  # noqa: BLE001 - checker raises several types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise VerificationError(f"exported model fails the ONNX checker: {first}") from None


def verification_inputs(config: GeneratorConfig, planes: list[np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """The ``(kind, input)`` pairs every exported file is checked on."""
    cases = []
    for side in verification_sizes(config):
        for batch in BATCH_SIZES:
            cases.append(("random", random_batch(batch, side, seed=side * 10 + batch)))
            cases.append(("images", image_batch(planes, batch, side)))
    return cases


def torch_reference(model, inputs: list[tuple[str, np.ndarray]]) -> list[np.ndarray]:
    """PyTorch's outputs (float32, CPU) for the verification inputs."""
    import torch

    model = model.eval().to("cpu")
    outs = []
    with torch.inference_mode():
        for _, x in inputs:
            outs.append(model(torch.from_numpy(x)).float().numpy())
    return outs


def compare(
    path: str | os.PathLike,
    precision: str,
    inputs: list[tuple[str, np.ndarray]],
    references: list[np.ndarray],
) -> Verification:
    """Run ``path`` with ONNX Runtime on ``inputs`` and compare with the PyTorch ``references``."""
    session = cpu_session(path)
    result = Verification(precision)
    for (kind, x), ref in zip(inputs, references, strict=False):
        (ab,) = session.run(None, {INPUT_NAME: x})
        if ab.shape != ref.shape or ab.dtype != np.float32:
            raise VerificationError(
                f"{Path(path).name}: output {ab.dtype} {ab.shape} for input {x.shape}; expected float32 {ref.shape}"
            )
        diff = np.abs(ab.astype(np.float64) - ref.astype(np.float64))
        result.cases.append(
            CaseResult(kind, x.shape[2], x.shape[3], x.shape[0], float(diff.max()), float(diff.mean()))
        )
    return result


def time_cpu(
    path: str | os.PathLike, side: int, *, threads: int | None = None, budget_s: float = 1.0
) -> float:
    """Median seconds of one ``(1, 1, side, side)`` inference on ONNX Runtime's CPU provider."""
    session = cpu_session(path, threads)
    x = random_batch(1, side, seed=0)
    for _ in range(2):  # warm-up (allocations, kernel selection)
        session.run(None, {INPUT_NAME: x})
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 5 or (time.perf_counter() - start < budget_s and len(times) < 50):
        t0 = time.perf_counter()
        session.run(None, {INPUT_NAME: x})
        times.append(time.perf_counter() - t0)
    return float(np.median(times))
