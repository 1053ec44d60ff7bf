"""Image-quality metrics for colorization (numpy in, Python floats out; shared by train and evaluate).

RGB images are ``(H, W, 3)`` arrays on the 0..255 scale (uint8 or float); ab arrays are
``(H, W, 2)`` in a*b* units. Nothing here imports torch; scikit-image is imported only by :func:`ssim`.
"""

from __future__ import annotations

import math

import numpy as np


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def psnr(rgb_a, rgb_b, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (``inf`` for identical images)."""
    mse = float(np.mean((_f64(rgb_a) - _f64(rgb_b)) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def ssim(rgb_a, rgb_b, data_range: float = 255.0) -> float:
    """Mean structural similarity over the colour channels (``skimage.metrics.structural_similarity``)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(_f64(rgb_a), _f64(rgb_b), channel_axis=-1, data_range=data_range))


def colorfulness(rgb) -> float:
    """Hasler & Suesstrunk (2003) colorfulness, as DDColor/CT2 compute it, on 0..255 RGB.

    ``sqrt(std_rg^2 + std_yb^2) + 0.3 * sqrt(mean_rg^2 + mean_yb^2)`` with ``rg = R - G`` and
    ``yb = 0.5 (R + G) - B`` (population standard deviations).
    """
    a = _f64(rgb)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    std = math.sqrt(float(np.std(rg)) ** 2 + float(np.std(yb)) ** 2)
    mean = math.sqrt(float(np.mean(rg)) ** 2 + float(np.mean(yb)) ** 2)
    return std + 0.3 * mean


def ab_l1(ab_pred, ab_true) -> float:
    """Mean absolute error over both ab channels, in a*b* units."""
    return float(np.mean(np.abs(_f64(ab_pred) - _f64(ab_true))))


def auc_ab_error(ab_pred, ab_true, thresholds=None) -> float:
    """Zhang et al. (2016) AuC: the fraction of pixels whose Euclidean ab error is <= t, swept over
    ``thresholds`` (default 0..150 in steps of 1), integrated (trapezoid) and normalized to [0, 1]."""
    t = np.arange(0, 151, dtype=np.float64) if thresholds is None else _f64(thresholds)
    err = np.sqrt(np.sum((_f64(ab_pred) - _f64(ab_true)) ** 2, axis=-1)).ravel()
    err.sort()
    frac = np.searchsorted(err, t, side="right") / max(err.size, 1)
    if t.size < 2:
        return float(frac.mean())
    return float(np.trapezoid(frac, t) / (t[-1] - t[0])) if hasattr(np, "trapezoid") else float(
        np.trapz(frac, t) / (t[-1] - t[0])
    )
