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

EPSILON = 216.0 / 24389.0  # 0.008856: where the cube-root curve meets its linear toe
KAPPA = 24389.0 / 27.0  # 903.3: L* = KAPPA * Y below EPSILON
F_THRESHOLD = 6.0 / 29.0  # f(EPSILON)

XYZ_FROM_RGB_WHITE = (XYZ_FROM_RGB / WHITE[:, None]).astype(np.float32)  # white-normalized XYZ
RGB_FROM_XYZ_WHITE = (RGB_FROM_XYZ * WHITE[None, :]).astype(np.float32)


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


_GRAY_L_LUT_CACHE: dict[int, np.ndarray] = {}


def gray_l_lut(max_value: int) -> np.ndarray:
    """Lookup table: sRGB-encoded gray code ``0..max_value`` -> float32 L* in [0, 100] (exact)."""
    lut = _GRAY_L_LUT_CACHE.get(max_value)
    if lut is None:
        lut = _GRAY_L_LUT_CACHE[max_value] = luminance_to_l(linear_lut(max_value)).astype(np.float32)
    return lut


# --- CIE L* <-> relative luminance Y -------------------------------------------------------------
def lab_f(t: np.ndarray) -> np.ndarray:
    """The CIE Lab companding function of a white-normalized tristimulus value."""
    return np.where(t > EPSILON, np.cbrt(t), t * (KAPPA / 116.0) + 16.0 / 116.0).astype(np.float32)


def lab_f_inv(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float32)
    out = f * f
    out *= f
    low = f <= F_THRESHOLD  # the linear toe: only very dark values, so patch them afterwards
    if low.any():
        out[low] = (f[low] - 16.0 / 116.0) * (116.0 / KAPPA)
    return out


def luminance_to_l(y: np.ndarray) -> np.ndarray:
    """Relative luminance Y in [0, 1] -> L* in [0, 100] (float32, same shape)."""
    return (116.0 * lab_f(np.asarray(y, dtype=np.float32)) - 16.0).astype(np.float32)


def l_to_luminance(L: np.ndarray) -> np.ndarray:
    """L* in [0, 100] -> relative luminance Y in [0, 1] (float32, same shape)."""
    return lab_f_inv((np.asarray(L, dtype=np.float32) + 16.0) / 116.0)


# --- RGB <-> Lab ---------------------------------------------------------------------------------
def linear_rgb_to_lab(rgb_lin: np.ndarray) -> np.ndarray:
    """Linear-light RGB ``(..., 3)`` -> Lab ``(..., 3)``, float32."""
    xyz = np.asarray(rgb_lin, dtype=np.float32) @ XYZ_FROM_RGB_WHITE.T
    f = lab_f(xyz)
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
    return lab_f_inv(f) @ RGB_FROM_XYZ_WHITE.T


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """Lab ``(..., 3)`` -> sRGB in [0, 1] (float32). Out-of-gamut colours are clipped per channel.

    Use :func:`lab_to_rgb_preserving_l` when the lightness must survive exactly.
    """
    return linear_to_srgb(lab_to_linear_rgb(lab))


# Halvings of the chroma scale for an out-of-gamut colour: the result lies within 1/4096 of the
# gamut boundary. The channel that meets 0 there is where precision shows: sRGB rises 12.92x
# steeper than linear light near black, so 8 halvings (1/256) left it up to 7 levels off, and two
# runs whose predictions differed by 1e-6 could land 7 levels apart; 12 keep it within a level.
GAMUT_ITERATIONS = 12
GAMUT_TOL = 1e-6  # linear-light slack of the gamut test (float32 rounding of in-gamut colours)


def lab_to_rgb_preserving_l(L: np.ndarray, ab: np.ndarray, iterations: int = GAMUT_ITERATIONS) -> np.ndarray:
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
    tol = GAMUT_TOL
    out = ((rgb_lin < -tol) | (rgb_lin > 1.0 + tol)).any(axis=-1)
    if out.any():
        fixed = np.concatenate([L[out][:, None], shrink_chroma(L[out], ab[out], iterations)], axis=-1)
        rgb_lin[out] = lab_to_linear_rgb(fixed)
    return linear_to_srgb(rgb_lin)



def planes_to_linear(L: np.ndarray, a: np.ndarray, b: np.ndarray):
    """Planar Lab -> planar linear RGB (three float32 arrays, unclipped)."""
    fy = (L + 16.0) * (1.0 / 116.0)
    x = lab_f_inv(fy + a * (1.0 / 500.0))
    z = lab_f_inv(fy - b * (1.0 / 200.0))
    y = lab_f_inv(fy)
    m = RGB_FROM_XYZ_WHITE
    out = []
    for row in m:
        c = x * row[0]
        c += y * row[1]
        c += z * row[2]
        out.append(c)
    return out


def shrink_chroma(L: np.ndarray, ab: np.ndarray, iterations: int = GAMUT_ITERATIONS) -> np.ndarray:
    """For pixels ``L (n,)``, ``ab (n, 2)`` out of gamut: the largest scaled ab (same hue) inside it.

    Bisection on the chroma scale (:data:`GAMUT_ITERATIONS` halvings), on planes.
    """
    tol = GAMUT_TOL
    a, b = ab[:, 0], ab[:, 1]
    lo = np.zeros(L.shape, dtype=np.float32)  # scale known to be in gamut (0 = neutral)
    hi = np.ones(L.shape, dtype=np.float32)  # scale known to be out of gamut
    for _ in range(iterations):
        mid = (lo + hi) * 0.5
        r, g, bl = planes_to_linear(L, a * mid, b * mid)
        ok = (r >= -tol) & (r <= 1 + tol) & (g >= -tol) & (g <= 1 + tol) & (bl >= -tol) & (bl <= 1 + tol)
        np.copyto(lo, mid, where=ok)
        np.copyto(hi, mid, where=~ok)
    return ab * lo[:, None]

