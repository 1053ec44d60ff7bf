"""CIE L*a*b* colour math and the model's normalization: the one place that owns these constants.

Everything here is plain numpy (no torch), works on arrays of any leading shape with the colour
channels last (``(..., 3)`` for RGB/Lab) unless a docstring says otherwise, and computes in float32:
inference never needs float64 copies of a full-resolution photo.

Conventions (the same as ``skimage.color`` with the D65 illuminant, 2 degree observer):

* sRGB values are floats in ``[0, 1]``;
* ``L*`` is in ``[0, 100]``; ``a*``/``b*`` are roughly in ``[-110, 110]`` for sRGB colours;
* the network sees ``L / 50 - 1`` (``[-1, 1]``) and predicts ``ab / 110`` (``[-1, 1]``, Tanh output).
"""

from __future__ import annotations

import numpy as np

# --- model normalization (pix2pix colorization convention) -------------------------------------
L_SCALE = 50.0  # L_norm = L / L_SCALE - L_SHIFT
L_SHIFT = 1.0
AB_SCALE = 110.0  # ab_norm = ab / AB_SCALE

# --- sRGB <-> XYZ (sRGB primaries, D65) ------------------------------------------------------------
XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ],
    dtype=np.float64,
)
RGB_FROM_XYZ = np.linalg.inv(XYZ_FROM_RGB)
# The white point is taken as the XYZ of RGB (1, 1, 1) under this matrix, i.e. (0.950456, 1, 1.088754).
# It differs from the tabulated D65 (0.95047, 1, 1.08883) by < 1e-4, but makes neutral RGB map to
# a* = b* = 0 exactly and back, so a gray photo with a zero-ab model comes back exactly gray.
WHITE = XYZ_FROM_RGB.sum(axis=1)
Y_FROM_RGB = XYZ_FROM_RGB[1]  # luminance weights; they sum to exactly 1

_EPSILON = 216.0 / 24389.0  # 0.008856: where the cube-root curve meets its linear toe
_KAPPA = 24389.0 / 27.0  # 903.3: L* = KAPPA * Y below EPSILON
_F_THRESHOLD = 6.0 / 29.0  # f(EPSILON)

_XYZ_FROM_RGB32 = (XYZ_FROM_RGB / WHITE[:, None]).astype(np.float32)  # white-normalized XYZ
_RGB_FROM_XYZ32 = (RGB_FROM_XYZ * WHITE[None, :]).astype(np.float32)


def normalize_l(L: np.ndarray) -> np.ndarray:
    """Map L* in [0, 100] to the network's input range [-1, 1] (float32)."""
    return (np.asarray(L, dtype=np.float32) / L_SCALE - L_SHIFT).astype(np.float32, copy=False)


def denormalize_ab(ab_norm: np.ndarray) -> np.ndarray:
    """Map the network's output in [-1, 1] to a*b* units (float32)."""
    return (np.asarray(ab_norm, dtype=np.float32) * AB_SCALE).astype(np.float32, copy=False)


def normalize_ab(ab: np.ndarray) -> np.ndarray:
    """Map a*b* units to the network's target range (ab / 110), float32."""
    return (np.asarray(ab, dtype=np.float32) / AB_SCALE).astype(np.float32, copy=False)


# --- the sRGB transfer curve ---------------------------------------------------------------------
def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> linear light in [0, 1] (float32)."""
    c = np.asarray(c, dtype=np.float32)
    return np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92).astype(np.float32)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    """Linear light -> sRGB encoding; input is clipped to [0, 1] first (float32)."""
    c = np.clip(np.asarray(c, dtype=np.float32), 0.0, 1.0)
    return np.where(
        c > 0.0031308, 1.055 * np.power(c, 1.0 / 2.4, dtype=np.float32) - 0.055, c * 12.92
    ).astype(np.float32)


_LINEAR_LUT_CACHE: dict[int, np.ndarray] = {}


def linear_lut(max_value: int) -> np.ndarray:
    """Lookup table: integer code ``0..max_value`` of an sRGB-encoded channel -> linear light.

    A 256- or 65536-entry table makes decoding integer images exact and far cheaper than ``pow``.
    """
    lut = _LINEAR_LUT_CACHE.get(max_value)
    if lut is None:
        codes = np.arange(max_value + 1, dtype=np.float64) / max_value
        lut = np.where(codes > 0.04045, ((codes + 0.055) / 1.055) ** 2.4, codes / 12.92)
        lut = lut.astype(np.float32)
        _LINEAR_LUT_CACHE[max_value] = lut
    return lut


# --- CIE L* <-> relative luminance Y -------------------------------------------------------------
def _f(t: np.ndarray) -> np.ndarray:
    """The CIE Lab companding function of a white-normalized tristimulus value."""
    return np.where(t > _EPSILON, np.cbrt(t), t * (_KAPPA / 116.0) + 16.0 / 116.0).astype(np.float32)


def _f_inv(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float32)
    out = f * f
    out *= f
    low = f <= _F_THRESHOLD  # the linear toe: only very dark values, so patch them afterwards
    if low.any():
        out[low] = (f[low] - 16.0 / 116.0) * (116.0 / _KAPPA)
    return out


def luminance_to_l(y: np.ndarray) -> np.ndarray:
    """Relative luminance Y in [0, 1] -> L* in [0, 100] (float32, same shape)."""
    return (116.0 * _f(np.asarray(y, dtype=np.float32)) - 16.0).astype(np.float32)


def l_to_luminance(L: np.ndarray) -> np.ndarray:
    """L* in [0, 100] -> relative luminance Y in [0, 1] (float32, same shape)."""
    return _f_inv((np.asarray(L, dtype=np.float32) + 16.0) / 116.0)


# --- RGB <-> Lab ---------------------------------------------------------------------------------
def linear_rgb_to_lab(rgb_lin: np.ndarray) -> np.ndarray:
    """Linear-light RGB ``(..., 3)`` -> Lab ``(..., 3)``, float32."""
    xyz = np.asarray(rgb_lin, dtype=np.float32) @ _XYZ_FROM_RGB32.T
    f = _f(xyz)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB ``(..., 3)`` floats in [0, 1] -> Lab ``(..., 3)`` float32 (matches ``skimage.color.rgb2lab``)."""
    return linear_rgb_to_lab(srgb_to_linear(rgb))


def lab_to_linear_rgb(lab: np.ndarray) -> np.ndarray:
    """Lab ``(..., 3)`` -> linear-light RGB ``(..., 3)``, float32, *not* clipped (may leave [0, 1])."""
    lab = np.asarray(lab, dtype=np.float32)
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    return _f_inv(f) @ _RGB_FROM_XYZ32.T


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """Lab ``(..., 3)`` -> sRGB in [0, 1] (float32). Out-of-gamut colours are clipped per channel.

    Use :func:`lab_to_rgb_preserving_l` when the lightness must survive exactly.
    """
    return linear_to_srgb(lab_to_linear_rgb(lab))


def lab_to_rgb_preserving_l(L: np.ndarray, ab: np.ndarray, iterations: int = 8) -> np.ndarray:
    """Join lightness ``L`` ``(...)`` with chroma ``ab`` ``(..., 2)`` into sRGB ``(..., 3)`` in [0, 1].

    A predicted colour can fall outside the sRGB gamut for the given lightness (any chroma at
    L* = 100 does). Clipping RGB per channel would then change the pixel's lightness, i.e. the
    detail of the original photo. Instead, such pixels keep their L* and hue and have their chroma
    scaled down (bisection on the scale) until they fit, so the output's L* is the input's.
    Only out-of-gamut pixels pay for the search.
    """
    L = np.asarray(L, dtype=np.float32)
    ab = np.asarray(ab, dtype=np.float32)
    lab = np.concatenate([L[..., None], ab], axis=-1)
    rgb_lin = lab_to_linear_rgb(lab)
    tol = 1e-6
    out = ((rgb_lin < -tol) | (rgb_lin > 1.0 + tol)).any(axis=-1)
    if out.any():
        fixed = np.concatenate([L[out][:, None], _shrink_chroma(L[out], ab[out], iterations)], axis=-1)
        rgb_lin[out] = lab_to_linear_rgb(fixed)
    return linear_to_srgb(rgb_lin)


_SRGB8_LUT_SIZE = 1 << 16
_SRGB8_LUT: np.ndarray | None = None


def _srgb8_lut() -> np.ndarray:
    """Linear light quantized to 16 bits -> 8-bit sRGB code (exact to < 0.06 of a code)."""
    global _SRGB8_LUT
    if _SRGB8_LUT is None:
        lin = np.arange(_SRGB8_LUT_SIZE, dtype=np.float64) / (_SRGB8_LUT_SIZE - 1)
        enc = np.where(lin > 0.0031308, 1.055 * lin ** (1.0 / 2.4) - 0.055, lin * 12.92)
        _SRGB8_LUT = np.round(enc * 255.0).astype(np.uint8)
    return _SRGB8_LUT


def _encode_plane(lin: np.ndarray, dtype) -> np.ndarray:
    """Linear plane (clipped in place to [0, 1]) -> sRGB codes of ``dtype`` (uint8 or uint16)."""
    np.clip(lin, 0.0, 1.0, out=lin)
    if dtype == np.uint8:
        # A table lookup replaces pow() (the costliest step of the whole composition).
        lin *= _SRGB8_LUT_SIZE - 1
        lin += 0.5
        return _srgb8_lut()[lin.astype(np.uint16)]
    enc = linear_to_srgb(lin)
    enc *= 65535.0
    enc += 0.5
    return enc.astype(np.uint16)


def _planes_to_linear(L: np.ndarray, a: np.ndarray, b: np.ndarray):
    """Planar Lab -> planar linear RGB (three float32 arrays, unclipped)."""
    fy = (L + 16.0) * (1.0 / 116.0)
    x = _f_inv(fy + a * (1.0 / 500.0))
    z = _f_inv(fy - b * (1.0 / 200.0))
    y = _f_inv(fy)
    m = _RGB_FROM_XYZ32
    out = []
    for row in m:
        c = x * row[0]
        c += y * row[1]
        c += z * row[2]
        out.append(c)
    return out


def join_l_ab(L: np.ndarray, a: np.ndarray, b: np.ndarray, *, dtype=np.uint8) -> np.ndarray:
    """Planar fast path of :func:`lab_to_rgb_preserving_l`: ``L``, ``a``, ``b`` ``(H, W)`` -> sRGB codes.

    Returns ``(H, W, 3)`` uint8 (or uint16). Out-of-gamut pixels keep L* and hue and lose chroma
    (bisection, as in :func:`lab_to_rgb_preserving_l`); all other work is elementwise on planes,
    which numpy runs without the GIL, so several row blocks compose in parallel threads.
    """
    L = np.asarray(L, dtype=np.float32)
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    r, g, bl = _planes_to_linear(L, a, b)
    tol = 1e-6
    bad = (r < -tol) | (r > 1 + tol) | (g < -tol) | (g > 1 + tol) | (bl < -tol) | (bl > 1 + tol)
    if bad.any():
        lb = L[bad]
        ab = _shrink_chroma(lb, np.stack([a[bad], b[bad]], -1))
        r[bad], g[bad], bl[bad] = _planes_to_linear(lb, ab[:, 0], ab[:, 1])
    out = np.empty(L.shape + (3,), dtype=dtype)
    for i, plane in enumerate((r, g, bl)):
        out[..., i] = _encode_plane(plane, dtype)
    return out


def _shrink_chroma(L: np.ndarray, ab: np.ndarray, iterations: int = 8) -> np.ndarray:
    """For pixels ``L (n,)``, ``ab (n, 2)`` out of gamut: the largest scaled ab (same hue) inside it.

    Bisection on the chroma scale (8 steps: within 0.4% of the gamut boundary), on planes.
    """
    tol = 1e-6
    a, b = ab[:, 0], ab[:, 1]
    lo = np.zeros(L.shape, dtype=np.float32)  # scale known to be in gamut (0 = neutral)
    hi = np.ones(L.shape, dtype=np.float32)  # scale known to be out of gamut
    for _ in range(iterations):
        mid = (lo + hi) * 0.5
        r, g, bl = _planes_to_linear(L, a * mid, b * mid)
        ok = (r >= -tol) & (r <= 1 + tol) & (g >= -tol) & (g <= 1 + tol) & (bl >= -tol) & (bl <= 1 + tol)
        np.copyto(lo, mid, where=ok)
        np.copyto(hi, mid, where=~ok)
    return ab * lo[:, None]


def luminance_from_rgb_linear(rgb_lin: np.ndarray) -> np.ndarray:
    """Linear RGB ``(..., 3)`` -> relative luminance Y ``(...)`` (float32)."""
    return np.asarray(rgb_lin, dtype=np.float32) @ Y_FROM_RGB.astype(np.float32)
