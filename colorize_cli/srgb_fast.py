"""The fast planar sRGB path of composing: L* and a*b* planes -> 8- or 16-bit sRGB codes.

The same result as the reference :func:`colorize_cli.lab.lab_to_rgb_preserving_l` (within one code
level), in float32 passes over preallocated row-block planes: numpy runs them without the GIL, so
several photos compose side by side in worker threads. :mod:`colorize_cli.lab_kernel` compiles the
same arithmetic into one loop. The colour constants themselves live in :mod:`colorize_cli.lab`.
"""

from __future__ import annotations

import numpy as np

from colorize_cli.lab import (
    F_THRESHOLD,
    GAMUT_ITERATIONS,
    GAMUT_TOL,
    KAPPA,
    RGB_FROM_XYZ,
    WHITE,
    lab_to_rgb_preserving_l,
    linear_to_srgb,
    planes_to_linear,
    shrink_chroma,
)

SRGB8_LUT_SIZE = 1 << 16  # entries of the linear -> 8-bit sRGB table (see srgb8_lut_mid)


def encode_plane16(lin: np.ndarray) -> np.ndarray:
    """Linear plane (clipped in place to [0, 1]) -> 16-bit sRGB codes (the 8-bit path is Srgb8Writer)."""
    np.clip(lin, 0.0, 1.0, out=lin)
    enc = linear_to_srgb(lin)
    enc *= 65535.0
    enc += 0.5
    return enc.astype(np.uint16)

def join_l_ab(L: np.ndarray, a: np.ndarray, b: np.ndarray, *, dtype=np.uint8) -> np.ndarray:
    """Planar fast path of :func:`colorize_cli.lab.lab_to_rgb_preserving_l`: ``L``, ``a``, ``b`` ``(H, W)`` -> sRGB codes.

    Returns ``(H, W, 3)`` uint8 (or uint16). Out-of-gamut pixels keep L* and hue and lose chroma
    (bisection, as in :func:`colorize_cli.lab.lab_to_rgb_preserving_l`); all other work is elementwise on planes,
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
    r, g, bl = planes_to_linear(L, a, b)
    tol = GAMUT_TOL
    bad = (r < -tol) | (r > 1 + tol) | (g < -tol) | (g > 1 + tol) | (bl < -tol) | (bl > 1 + tol)
    if bad.any():
        lb = L[bad]
        ab = shrink_chroma(lb, np.stack([a[bad], b[bad]], -1))
        r[bad], g[bad], bl[bad] = planes_to_linear(lb, ab[:, 0], ab[:, 1])
    out = np.empty(L.shape + (3,), dtype=dtype)
    for i, plane in enumerate((r, g, bl)):
        out[..., i] = encode_plane16(plane)
    return out



# Per pixel: f_y = (L* + 16) / 116, f_x = f_y + a*/500, f_z = f_y - b*/200, X/Y/Z = lab_f_inv(f), linear
# RGB = M @ XYZ, gamut test, sRGB encode.

# Linear RGB is computed pre-multiplied by S8 (the matrix carries the factor): the truncating cast
# to uint16 then gives the index into _SRGB8_LUT_MID without a separate multiply, add and clip.
S8 = float(SRGB8_LUT_SIZE - 1)
RGB8_FROM_XYZ = (RGB_FROM_XYZ * WHITE[None, :] * S8).astype(np.float32)
GAMUT_TOL8 = np.float32(GAMUT_TOL * S8)  # the same 1e-6 (of linear full scale) as the reference
# A pixel within half a tolerance of the reference's in/out decision could be decided the other
# way here (float32 rounding differs, ~1e-7 of full scale), and then the two bisections would
# follow different branches (ending up to 1/2**GAMUT_ITERATIONS of chroma apart). Such
# borderline pixels (very rare) are handed to the reference itself; gray pixels are never
# borderline (their RGB is within 1e-7 of [0, 1], not near -1e-6 or 1 + 1e-6).
_BORDER_IN8 = (np.float32(-0.5e-6 * S8), np.float32(S8 + 0.5e-6 * S8))  # in gamut, not borderline
_BORDER_OUT8 = (np.float32(-1.5e-6 * S8), np.float32(S8 + 1.5e-6 * S8))  # out of gamut, not borderline
_F_THR32 = np.float32(F_THRESHOLD)
_F_TOE_SLOPE32 = np.float32(116.0 / KAPPA)
_F_16_116 = np.float32(16.0 / 116.0)
_SRGB8_LUT_MID: np.ndarray | None = None


def srgb8_lut_mid() -> np.ndarray:
    """``k = trunc(linear * 65535)`` (0..65535) -> 8-bit sRGB code of the bin's centre ``(k + 0.5) / 65535``.

    Indexing by truncation (a free side effect of the float->uint16 cast) rather than rounding:
    the centre of each bin is tabulated instead, so the error stays < 0.06 of a code. Values within the gamut tolerance below 0 truncate to 0, above 1 to 65535.
    """
    global _SRGB8_LUT_MID
    if _SRGB8_LUT_MID is None:
        lin = np.minimum((np.arange(SRGB8_LUT_SIZE, dtype=np.float64) + 0.5) / S8, 1.0)
        enc = np.where(lin > 0.0031308, 1.055 * lin ** (1.0 / 2.4) - 0.055, lin * 12.92)
        _SRGB8_LUT_MID = np.round(enc * 255.0).astype(np.uint8)
    return _SRGB8_LUT_MID


def _f_inv_into(f: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> None:
    """``out = lab_f_inv(f)`` for float32 planes of one shape (``out`` must not alias ``f``).

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
    for i, row in enumerate(RGB8_FROM_XYZ):
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
    low, high = bounds if bounds is not None else (-GAMUT_TOL8, S8 + GAMUT_TOL8)
    np.minimum(rgb[0], rgb[1], out=lo)
    np.minimum(lo, rgb[2], out=lo)
    np.maximum(rgb[0], rgb[1], out=hi)
    np.maximum(hi, rgb[2], out=hi)
    bad = np.less(lo, low)
    bad |= np.greater(hi, high)
    return bad


def _shrink_chroma8(fy: np.ndarray, fx: np.ndarray, fz: np.ndarray, iterations: int = GAMUT_ITERATIONS) -> np.ndarray:
    """Out-of-gamut pixels (``fy`` and chroma offsets ``fx``, ``fz``, each ``(m,)``) -> linear RGB * 65535 ``(3, m)``.

    The same bisection on the chroma scale as :func:`colorize_cli.lab.shrink_chroma` (the largest in-gamut scale
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
    np.clip(rgb, 0.0, S8, out=rgb)
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
        lut = srgb8_lut_mid()
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
            lut = srgb8_lut_mid()
            for i in range(3):
                self.out[where, i] = lut[rgb[i].astype(np.uint16)]

