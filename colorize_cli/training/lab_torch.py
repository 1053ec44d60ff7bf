"""Batched sRGB <-> L*a*b* as vectorized, differentiable torch ops (on the training device).

The constants come from :mod:`colorize_cli.lab` (the one place that owns them), so training sees
exactly the colours that inference and the numpy code compute.
"""

from __future__ import annotations

import torch

from colorize_cli import lab as _lab

_CACHE: dict[tuple, torch.Tensor] = {}


def _matrix(device: torch.device, inverse: bool = False) -> torch.Tensor:
    key = (device.type, device.index, inverse)
    m = _CACHE.get(key)
    if m is None:
        m = torch.from_numpy(_lab.RGB_FROM_XYZ_WHITE if inverse else _lab.XYZ_FROM_RGB_WHITE).to(device)
        _CACHE[key] = m
    return m


def _f(t: torch.Tensor) -> torch.Tensor:
    # clamp_min keeps pow's gradient finite for negative inputs of the unused branch
    return torch.where(
        t > _lab.EPSILON, t.clamp_min(_lab.EPSILON).pow(1.0 / 3.0), t * (_lab.KAPPA / 116.0) + 16.0 / 116.0
    )


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` sRGB (uint8 0..255, or float in [0, 1]) -> Lab float32 ``(N, 3, H, W)``."""
    if rgb.dtype == torch.uint8:
        rgb = rgb.float() / 255.0
    else:
        rgb = rgb.float()
    lin = torch.where(rgb > 0.04045, ((rgb.clamp_min(0.04045) + 0.055) / 1.055).pow(2.4), rgb / 12.92)
    xyz = torch.einsum("ij,njhw->nihw", _matrix(rgb.device), lin)
    f = _f(xyz)
    fx, fy, fz = f[:, 0], f[:, 1], f[:, 2]
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=1)


def rgb_to_model_inputs(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, 3, H, W)`` sRGB -> (L / 50 - 1 ``(N, 1, H, W)``, ab / 110 ``(N, 2, H, W)``), float32."""
    lab = rgb_to_lab(rgb)
    L = lab[:, :1] / _lab.L_SCALE - _lab.L_SHIFT
    ab = lab[:, 1:] / _lab.AB_SCALE
    return L, ab


def _f_inv(f: torch.Tensor) -> torch.Tensor:
    return torch.where(f > _lab.F_THRESHOLD, f.pow(3), (f - 16.0 / 116.0) * (116.0 / _lab.KAPPA))


def model_outputs_to_rgb(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Normalized ``L`` ``(N, 1, H, W)`` and ``ab`` ``(N, 2, H, W)`` -> sRGB float ``(N, 3, H, W)``
    in [0, 1] (clipped), differentiable: what a loss on the composed colour photo needs."""
    Lv = (L + _lab.L_SHIFT) * _lab.L_SCALE
    fy = (Lv + 16.0) / 116.0
    fx = fy + ab[:, :1] * (_lab.AB_SCALE / 500.0)
    fz = fy - ab[:, 1:] * (_lab.AB_SCALE / 200.0)
    xyz = _f_inv(torch.cat([fx, fy, fz], dim=1))
    lin = torch.einsum("ij,njhw->nihw", _matrix(L.device, inverse=True), xyz).clamp(0.0, 1.0)
    # clamp_min keeps pow's gradient finite at 0
    return torch.where(lin > 0.0031308, 1.055 * lin.clamp_min(0.0031308).pow(1 / 2.4) - 0.055, 12.92 * lin)
