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


_GRAY_L_LUT_CACHE: dict[int, np.ndarray] = {}


def gray_l_lut(max_value: int) -> np.ndarray:
    """Lookup table: sRGB-encoded gray code ``0..max_value`` -> float32 L* in [0, 100] (exact)."""
    lut = _GRAY_L_LUT_CACHE.get(max_value)
    if lut is None:
        lut = _GRAY_L_LUT_CACHE[max_value] = luminance_to_l(linear_lut(max_value)).astype(np.float32)
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


# Halvings of the chroma scale for an out-of-gamut colour: the result lies within 1/4096 of the
# gamut boundary. The channel that meets 0 there is where precision shows: sRGB rises 12.92x
# steeper than linear light near black, so 8 halvings (1/256) left it up to 7 levels off, and two
# runs whose predictions differed by 1e-6 could land 7 levels apart; 12 keep it within a level.
GAMUT_ITERATIONS = 12


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
    tol = 1e-6
    out = ((rgb_lin < -tol) | (rgb_lin > 1.0 + tol)).any(axis=-1)
    if out.any():
        fixed = np.concatenate([L[out][:, None], _shrink_chroma(L[out], ab[out], iterations)], axis=-1)
        rgb_lin[out] = lab_to_linear_rgb(fixed)
    return linear_to_srgb(rgb_lin)


_SRGB8_LUT_SIZE = 1 << 16  # entries of the linear -> 8-bit sRGB table (see _srgb8_lut_mid)


def _encode_plane16(lin: np.ndarray) -> np.ndarray:
    """Linear plane (clipped in place to [0, 1]) -> 16-bit sRGB codes (the 8-bit path is Srgb8Writer)."""
    np.clip(lin, 0.0, 1.0, out=lin)
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
    The uint8 path is :class:`Srgb8Writer` (what ``pipeline.compose`` uses, block after block).
    """
    L = np.asarray(L, dtype=np.float32)
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    if dtype == np.uint8:
        out = np.empty(L.shape + (3,), dtype=np.uint8)
        writer = Srgb8Writer(out.reshape(-1, 3), max(1, L.size))
        writer.write(0, L, a, b)
        writer.finish()
        return out
    r, g, bl = _planes_to_linear(L, a, b)
    tol = 1e-6
    bad = (r < -tol) | (r > 1 + tol) | (g < -tol) | (g > 1 + tol) | (bl < -tol) | (bl > 1 + tol)
    if bad.any():
        lb = L[bad]
        ab = _shrink_chroma(lb, np.stack([a[bad], b[bad]], -1))
        r[bad], g[bad], bl[bad] = _planes_to_linear(lb, ab[:, 0], ab[:, 1])
    out = np.empty(L.shape + (3,), dtype=dtype)
    for i, plane in enumerate((r, g, bl)):
        out[..., i] = _encode_plane16(plane)
    return out


# --- the 8-bit fast path -------------------------------------------------------------------------
# Per pixel: f_y = (L* + 16) / 116, f_x = f_y + a*/500, f_z = f_y - b*/200, X/Y/Z = f_inv(f), linear
# RGB = M @ XYZ, gamut test, sRGB encode.

# Linear RGB is computed pre-multiplied by _S8 (the matrix carries the factor): the truncating cast
# to uint16 then gives the index into _SRGB8_LUT_MID without a separate multiply, add and clip.
_S8 = float(_SRGB8_LUT_SIZE - 1)
_RGB8_FROM_XYZ = (RGB_FROM_XYZ * WHITE[None, :] * _S8).astype(np.float32)
_GAMUT_TOL8 = np.float32(1e-6 * _S8)  # the same 1e-6 (of linear full scale) as the reference
# A pixel within half a tolerance of the reference's in/out decision could be decided the other
# way here (float32 rounding differs, ~1e-7 of full scale), and then the two bisections would
# follow different branches (ending up to 1/2**GAMUT_ITERATIONS of chroma apart). Such
# borderline pixels (very rare) are handed to the reference itself; gray pixels are never
# borderline (their RGB is within 1e-7 of [0, 1], not near -1e-6 or 1 + 1e-6).
_BORDER_IN8 = (np.float32(-0.5e-6 * _S8), np.float32(_S8 + 0.5e-6 * _S8))  # in gamut, not borderline
_BORDER_OUT8 = (np.float32(-1.5e-6 * _S8), np.float32(_S8 + 1.5e-6 * _S8))  # out of gamut, not borderline
_F_THR32 = np.float32(_F_THRESHOLD)
_F_TOE_SLOPE32 = np.float32(116.0 / _KAPPA)
_F_16_116 = np.float32(16.0 / 116.0)
_SRGB8_LUT_MID: np.ndarray | None = None


def _srgb8_lut_mid() -> np.ndarray:
    """``k = trunc(linear * 65535)`` (0..65535) -> 8-bit sRGB code of the bin's centre ``(k + 0.5) / 65535``.

    Indexing by truncation (a free side effect of the float->uint16 cast) rather than rounding:
    the centre of each bin is tabulated instead, so the error stays < 0.06 of a code. Values within the gamut tolerance below 0 truncate to 0, above 1 to 65535.
    """
    global _SRGB8_LUT_MID
    if _SRGB8_LUT_MID is None:
        lin = np.minimum((np.arange(_SRGB8_LUT_SIZE, dtype=np.float64) + 0.5) / _S8, 1.0)
        enc = np.where(lin > 0.0031308, 1.055 * lin ** (1.0 / 2.4) - 0.055, lin * 12.92)
        _SRGB8_LUT_MID = np.round(enc * 255.0).astype(np.uint8)
    return _SRGB8_LUT_MID


def _f_inv_into(f: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> None:
    """``out = f_inv(f)`` for float32 planes of one shape (``out`` must not alias ``f``).

    The cube is two multiplies; the linear toe (f <= 6/29, i.e. L* < 8 or a dark, saturated
    colour) is patched only in blocks that reach it, which a min() over the block tells cheaply.
    """
    np.multiply(f, f, out=scratch)
    np.multiply(scratch, f, out=out)
    if f.size and f.min() <= _F_THR32:
        low = np.less_equal(f, _F_THR32)
        np.subtract(f, _F_16_116, out=scratch)
        scratch *= _F_TOE_SLOPE32
        np.copyto(out, scratch, where=low)


def _xyz_to_rgb8_into(x, y, z, rgb: np.ndarray, scratch: np.ndarray) -> None:
    """White-normalized X, Y, Z planes ``(n,)`` -> linear RGB * 65535 into ``rgb`` ``(3, n)``.

    Nine elementwise multiply/adds rather than ``matmul``: the latter would hand the work to the
    BLAS library's own thread pool, while compose already runs one image per worker thread.
    """
    for i, row in enumerate(_RGB8_FROM_XYZ):
        c = rgb[i]
        np.multiply(x, row[0], out=c)
        np.multiply(y, row[1], out=scratch)
        c += scratch
        np.multiply(z, row[2], out=scratch)
        c += scratch


def _out_of_gamut8(rgb: np.ndarray, lo: np.ndarray, hi: np.ndarray, bounds=None) -> np.ndarray:
    """Mask ``(n,)`` of pixels of ``rgb`` ``(3, n)`` (linear * 65535) outside ``bounds`` (default: the gamut tolerance).

    Min and max over the three channels (4 passes) instead of six compares and five ORs; the
    per-pixel ``lo``/``hi`` are left in the two scratch planes.
    """
    low, high = bounds if bounds is not None else (-_GAMUT_TOL8, _S8 + _GAMUT_TOL8)
    np.minimum(rgb[0], rgb[1], out=lo)
    np.minimum(lo, rgb[2], out=lo)
    np.maximum(rgb[0], rgb[1], out=hi)
    np.maximum(hi, rgb[2], out=hi)
    bad = np.less(lo, low)
    bad |= np.greater(hi, high)
    return bad


def _shrink_chroma8(fy: np.ndarray, fx: np.ndarray, fz: np.ndarray, iterations: int = GAMUT_ITERATIONS) -> np.ndarray:
    """Out-of-gamut pixels (``fy`` and chroma offsets ``fx``, ``fz``, each ``(m,)``) -> linear RGB * 65535 ``(3, m)``.

    The same bisection on the chroma scale as :func:`_shrink_chroma` (the largest in-gamut scale
    found in ``iterations`` halvings, same hue, same L*), with Y computed once; the result is
    clipped to [0, 65535] (only a pixel whose L* itself is outside [0, 100] needs that).
    """
    m = fy.size
    y = np.empty(m, np.float32)
    s1, s2, f, mid = (np.empty(m, np.float32) for _ in range(4))
    x, z = np.empty(m, np.float32), np.empty(m, np.float32)
    rgb = np.empty((3, m), np.float32)
    _f_inv_into(fy, y, s1)
    lo = np.zeros(m, np.float32)  # a scale known to be in gamut (0: neutral gray)
    hi = np.ones(m, np.float32)  # a scale known to be out of gamut

    def rgb_at(scale: np.ndarray) -> None:
        np.multiply(fx, scale, out=f)
        np.add(f, fy, out=f)
        _f_inv_into(f, x, s1)
        np.multiply(fz, scale, out=f)
        np.add(f, fy, out=f)
        _f_inv_into(f, z, s1)
        _xyz_to_rgb8_into(x, y, z, rgb, s1)

    for _ in range(iterations):
        np.add(lo, hi, out=mid)
        mid *= np.float32(0.5)
        rgb_at(mid)
        bad = _out_of_gamut8(rgb, s1, s2)
        np.copyto(hi, mid, where=bad)
        np.copyto(lo, mid, where=~bad)
    rgb_at(lo)
    np.clip(rgb, 0.0, _S8, out=rgb)
    return rgb


class Srgb8Writer:
    """Joins row blocks of planar Lab into a preallocated 8-bit sRGB buffer, L* kept exactly.

    ``out`` is ``(N, 3)`` uint8 (it may be a strided view, e.g. the RGB of an RGBA image); each
    :meth:`write` fills ``out[start:start + n]``, at most ``block_pixels`` pixels at a time, and
    :meth:`finish` must follow the last one. Equal to :func:`lab_to_rgb_preserving_l` then 8-bit
    rounding within one code level.

    Out-of-gamut pixels (a few percent of a photo) are not fixed block by block: the bisection
    on so few pixels would be dominated by numpy's per-call overhead. They are collected across
    blocks and fixed together once ``block_pixels`` of them are pending (so memory stays bounded
    by the block size, whatever the image size) or at :meth:`finish`.
    """

    def __init__(self, out: np.ndarray, block_pixels: int) -> None:
        if out.ndim != 2 or out.shape[1] != 3 or out.dtype != np.uint8:
            raise ValueError("out must be an (N, 3) uint8 array")
        self.out = out
        self.block_pixels = n = int(block_pixels)
        # Scratch planes reused by every block: no allocation (nor page faults) per block.
        self._xyz = np.empty((3, n), np.float32)
        self._rgb = np.empty((3, n), np.float32)
        self._idx = np.empty((3, n), np.uint16)
        self._fy, self._f, self._s1, self._s2 = (np.empty(n, np.float32) for _ in range(4))
        self._pending: list[tuple[np.ndarray, ...]] = []
        self._n_pending = 0

    def write(self, start: int, L: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
        """Join one block: ``L`` in [0, 100], ``a``, ``b`` (a*, b*), float32 planes of one shape, <= block_pixels."""
        n = L.size
        if n > self.block_pixels:
            raise ValueError(f"block of {n} pixels exceeds block_pixels={self.block_pixels}")
        L, a, b = (np.asarray(p, dtype=np.float32).reshape(-1) for p in (L, a, b))
        xyz, rgb, idx = self._xyz[:, :n], self._rgb[:, :n], self._idx[:, :n]
        fy, f, s1, s2 = (p[:n] for p in (self._fy, self._f, self._s1, self._s2))
        np.multiply(L, np.float32(1.0 / 116.0), out=fy)
        fy += _F_16_116
        np.multiply(a, np.float32(1.0 / 500.0), out=f)
        f += fy
        _f_inv_into(f, xyz[0], s1)
        _f_inv_into(fy, xyz[1], s1)
        np.multiply(b, np.float32(-1.0 / 200.0), out=f)
        f += fy
        _f_inv_into(f, xyz[2], s1)
        _xyz_to_rgb8_into(xyz[0], xyz[1], xyz[2], rgb, s1)
        special = _out_of_gamut8(rgb, s1, s2, _BORDER_IN8)  # out of gamut, or borderline
        if special.any():
            where = np.flatnonzero(special)
            lo, hi = s1[where], s2[where]
            border = ~((lo < _BORDER_OUT8[0]) | (hi > _BORDER_OUT8[1]))
            border &= (lo < _BORDER_IN8[0]) | (hi > _BORDER_IN8[1])
            self._pending.append((where + start, L[where], a[where], b[where], border))
            self._n_pending += where.size
            rgb[:, where] = 0.0  # a defined cast below; the fixed values overwrite these pixels
        # Everything left is within the gamut tolerance, so the truncating cast is the LUT index.
        np.copyto(idx, rgb, casting="unsafe")
        lut = _srgb8_lut_mid()
        block = self.out[start : start + n]
        for i in range(3):
            np.take(lut, idx[i], out=block[:, i], mode="clip")  # straight into the interleaved output
        if self._n_pending >= self.block_pixels:
            self._flush()

    def finish(self) -> None:
        """Fix the pending out-of-gamut pixels; call once after the last :meth:`write`."""
        self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        where, L, a, b, border = (np.concatenate(p) for p in zip(*self._pending, strict=True))
        self._pending, self._n_pending = [], 0
        if border.any():  # the reference's own arithmetic decides these (see _BORDER_IN8)
            ab = np.stack([a[border], b[border]], axis=-1)
            ref = lab_to_rgb_preserving_l(L[border], ab)
            self.out[where[border]] = np.floor(ref * 255.0 + 0.5).astype(np.uint8)
            keep = ~border
            where, L, a, b = where[keep], L[keep], a[keep], b[keep]
        if where.size:
            fy = L * np.float32(1.0 / 116.0) + _F_16_116
            rgb = _shrink_chroma8(fy, a * np.float32(1.0 / 500.0), b * np.float32(-1.0 / 200.0))
            lut = _srgb8_lut_mid()
            for i in range(3):
                self.out[where, i] = lut[rgb[i].astype(np.uint16)]


def _shrink_chroma(L: np.ndarray, ab: np.ndarray, iterations: int = GAMUT_ITERATIONS) -> np.ndarray:
    """For pixels ``L (n,)``, ``ab (n, 2)`` out of gamut: the largest scaled ab (same hue) inside it.

    Bisection on the chroma scale (:data:`GAMUT_ITERATIONS` halvings), on planes.
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

