"""Make a clean L* plane look like a scan of an old print: the "degraded view" and its training aug.

Real inputs are not the clean luminance of a modern colour photo: prints fade (lifted blacks, dull
whites), their tone curve differs, lenses and enlargers blur, film has grain, scanners add noise
and archives store JPEGs. :func:`degrade_l` applies a random mix of those to L* only; the colour
target (a*b*) is never touched, so a model trained on it learns to colour such inputs without
being taught that they are a different scene.

Everything is numpy + Pillow (no torch): ``evaluate --degraded`` uses it as well as training.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Degradation:
    """Ranges the random draw takes each effect from (L* units where not said otherwise).

    ``size_ref`` is the image side the pixel-sized effects (blur, grain clumps) are given for; a
    larger image gets proportionally larger ones, so a 128-px training crop and a 256-px
    evaluation crop of the same photo look alike.
    """

    blur_sigma: tuple[float, float] = (0.0, 1.2)  # px at size_ref
    gamma: tuple[float, float] = (0.75, 1.35)
    contrast: tuple[float, float] = (0.7, 1.1)
    black_lift: tuple[float, float] = (0.0, 18.0)
    white_fade: tuple[float, float] = (0.0, 12.0)
    grain: tuple[float, float] = (0.0, 4.0)  # std of clumped (blurred) film grain
    scan_noise: tuple[float, float] = (0.0, 1.5)  # std of per-pixel noise
    jpeg_quality: tuple[int, int] = (12, 60)
    jpeg_probability: float = 0.5
    size_ref: int = 128


DEFAULT_DEGRADATION = Degradation()


def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, int(np.ceil(2.5 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a 2-D float array (edges replicated); ``sigma`` in pixels."""
    if sigma < 0.2:
        return img
    k = _gaussian_kernel(sigma)
    r = len(k) // 2
    out = img
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (r, r)
        p = np.pad(out, pad, mode="edge")
        n = out.shape[axis]
        acc = np.zeros_like(out)
        for i, w in enumerate(k):
            acc += w * (p[i : i + n] if axis == 0 else p[:, i : i + n])
        out = acc
    return out


def _jpeg(L: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    codes = np.clip(L * 2.55 + 0.5, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(codes, "L").save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im, dtype=np.float32) / 2.55


def degrade_l(L: np.ndarray, rng: np.random.Generator, spec: Degradation = DEFAULT_DEGRADATION) -> np.ndarray:
    """A randomly "aged" copy of ``L`` ``(H, W)`` float L* in [0, 100]; same shape, float32, [0, 100].

    Order follows the physical chain: optics (blur), the print's tone curve (gamma, contrast),
    fading (lifted blacks, dull whites), film grain, scanner noise, then JPEG storage.
    """
    u = lambda r: float(rng.uniform(*r))  # noqa: E731
    scale = max(L.shape) / spec.size_ref
    x = np.asarray(L, dtype=np.float32) / 100.0
    x = gaussian_blur(x, u(spec.blur_sigma) * scale)
    x = np.clip(x, 0.0, 1.0) ** u(spec.gamma)
    x = (x - 0.5) * u(spec.contrast) + 0.5
    lift, fade = u(spec.black_lift) / 100.0, u(spec.white_fade) / 100.0
    x = lift + np.clip(x, 0.0, 1.0) * (1.0 - fade - lift)
    out = x * 100.0
    grain = u(spec.grain)
    if grain > 0:
        clumps = gaussian_blur(rng.standard_normal(L.shape).astype(np.float32), 0.7 * scale)
        out = out + clumps * (grain / max(float(clumps.std()), 1e-6))
    out = out + rng.standard_normal(L.shape).astype(np.float32) * u(spec.scan_noise)
    out = np.clip(out, 0.0, 100.0)
    if rng.uniform() < spec.jpeg_probability:
        out = _jpeg(out, int(rng.integers(spec.jpeg_quality[0], spec.jpeg_quality[1] + 1)))
    return np.clip(out, 0.0, 100.0).astype(np.float32)


__all__ = ["DEFAULT_DEGRADATION", "Degradation", "degrade_l", "gaussian_blur"]
