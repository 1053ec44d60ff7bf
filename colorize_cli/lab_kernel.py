"""The 8-bit composition as one compiled loop (numba): upsampled ab + the photo's L* -> sRGB codes.

Same arithmetic, in the same float32 order, as the numpy path (:class:`colorize_cli.srgb_fast.Srgb8Writer`
after :func:`colorize_cli.pipeline.upsample_ab_rows`), so both give the same pixels; but each row is
computed in a few passes over small row buffers instead of some sixty passes over planes, which makes
it 3-4x faster (34 -> 9 ms per 1.5 MP photo, ``benchmarks/RESULTS.md``):

1. branch-free (so the compiler can vectorize it): bilinear row of ab, Lab -> XYZ -> linear RGB
   scaled by 65535 (the sRGB lookup table's index);
2. the gamut test, which lists the row's pixels outside it; the chroma bisection for those (L* and
   hue kept, :data:`colorize_cli.lab.GAMUT_ITERATIONS` halvings), one halving at a time over all
   of them, branch-free again; then the table lookup into the interleaved output.

This module imports numba; :func:`colorize_cli.pipeline.compose` imports it only when a photo is
composed (``--version`` and ``--help`` stay light). The compiled code is cached on disk (first use
ever: about a second). Without numba, or with ``COLORIZE_CLI_NO_JIT=1``, compose uses the numpy path.
"""

from __future__ import annotations

import numba
import numpy as np

from colorize_cli import lab, srgb_fast

# Module-level float32 constants: numba freezes globals at compile time (and can cache them).
_THR = np.float32(lab.F_THRESHOLD)
_TOE = np.float32(116.0 / lab.KAPPA)
_C16 = np.float32(16.0 / 116.0)
_S8 = np.float32(srgb_fast.S8)
_LO_TOL = np.float32(-srgb_fast.GAMUT_TOL8)  # the numpy path's gamut tolerance (linear x 65535)
_HI_TOL = np.float32(srgb_fast.S8 + srgb_fast.GAMUT_TOL8)
_ZERO, _ONE, _HALF = np.float32(0.0), np.float32(1.0), np.float32(0.5)
_INV116, _INV500, _MINV200 = np.float32(1.0 / 116.0), np.float32(1.0 / 500.0), np.float32(-1.0 / 200.0)


def compose8(
    L: np.ndarray, wide: np.ndarray, step: np.ndarray, y0: np.ndarray, wy: np.ndarray, out: np.ndarray
) -> None:
    """Write sRGB codes into ``out[..., :3]``.

    Args:
        L: ``(H, W)`` float32 L* in [0, 100], or uint8 sRGB-encoded gray codes (looked up per
            row into the same float32 L* the numpy path gets from :func:`colorize_cli.lab.gray_l_lut`).
        wide: ``(2, h, W)`` float32 a*, b* of the network, already upsampled along the width.
        step: ``(2, h, W)`` float32 row differences of ``wide`` (0 on the last row).
        y0, wy: ``(H,)`` source row index (intp) and weight (float32) of each output row.
        out: ``(H, W, 3 or 4)`` uint8, C-contiguous; a 4th (alpha) channel is left untouched.
    """
    if L.dtype == np.uint8:
        plane, l_of_code = np.ascontiguousarray(L), lab.gray_l_lut(255)
    else:
        plane, l_of_code = np.ascontiguousarray(L, dtype=np.float32), None
    _compose8(
        plane, l_of_code, wide, step, y0, wy, out, srgb_fast.srgb8_lut_mid(), srgb_fast.RGB8_FROM_XYZ,
        lab.GAMUT_ITERATIONS,
    )


# The kinds of lightness plane compose8 is called with (each a separate machine-code version).
PLANES = ("codes_readonly", "lstar", "codes")


def warm_up(planes: tuple[str, ...] = PLANES) -> None:
    """Load (or, the first time ever, compile) the machine code for these kinds of plane:
    ``codes_readonly`` (an 8-bit gray file's codes, as decode_image keeps them), ``lstar`` (float32
    L*: colour and profiled inputs) and ``codes`` (writable codes: gray with alpha, the API).

    Loading one costs about 0.15 s from the cache (seconds to compile the first time): a run loads
    the ones its photos need, and any other is loaded on first use.
    """
    out = np.empty((2, 2, 3), np.uint8)
    wide, step = np.zeros((2, 1, 2), np.float32), np.zeros((2, 1, 2), np.float32)
    y0, wy = np.zeros(2, np.intp), np.zeros(2, np.float32)
    for kind in planes:
        if kind == "lstar":
            plane = np.zeros((2, 2), np.float32)
        else:
            plane = np.zeros((2, 2), np.uint8)
            plane.setflags(write=kind != "codes_readonly")  # numba types read-only arrays apart
        compose8(plane, wide, step, y0, wy, out)


@numba.njit(cache=True, nogil=True)
def _f_inv(f):
    return f * f * f if f > _THR else (f - _C16) * _TOE


@numba.njit(cache=True, nogil=True)
def _rgb_at(fy, y, fa, fb, scale, m):
    x = _f_inv(fy + fa * scale)
    z = _f_inv(fy + fb * scale)
    r = x * m[0, 0] + y * m[0, 1] + z * m[0, 2]
    g = x * m[1, 0] + y * m[1, 1] + z * m[1, 2]
    b = x * m[2, 0] + y * m[2, 1] + z * m[2, 2]
    return r, g, b


@numba.njit(cache=True, nogil=True)
def _compose8(L, l_of_code, wide, step, y0, wy, out, lut, m, iterations):
    height, width = L.shape
    m00, m01, m02 = m[0, 0], m[0, 1], m[0, 2]
    m10, m11, m12 = m[1, 0], m[1, 1], m[1, 2]
    m20, m21, m22 = m[2, 0], m[2, 1], m[2, 2]
    buf = np.empty((6, width), np.float32)  # R, G, B (x65535), a*, b*, L* of one row
    idx = np.empty(width, np.intp)  # the row's pixels outside the gamut
    gam = np.empty((6, width), np.float32)  # their f(Y), Y, a*/500, -b*/200, bisection bounds
    sfy, sy, sfa, sfb, slo, shi = gam[0], gam[1], gam[2], gam[3], gam[4], gam[5]
    for row in range(height):
        i, t = y0[row], wy[row]
        wa, wb, sa, sb = wide[0, i], wide[1, i], step[0, i], step[1, i]
        rr, gr, br, ar, bbr, Lr = buf[0], buf[1], buf[2], buf[3], buf[4], buf[5]
        if l_of_code is None:  # float L* (numba compiles this branch away for gray codes, and back)
            Lr[:] = L[row]
        else:
            codes = L[row]
            for c in range(width):
                Lr[c] = l_of_code[codes[c]]
        for c in range(width):  # pass 1: no branches but selects
            a = wa[c] + sa[c] * t
            b = wb[c] + sb[c] * t
            fy = Lr[c] * _INV116 + _C16
            fx = fy + a * _INV500
            fz = fy + b * _MINV200
            x, y, z = _f_inv(fx), _f_inv(fy), _f_inv(fz)
            rr[c] = x * m00 + y * m01 + z * m02
            gr[c] = x * m10 + y * m11 + z * m12
            br[c] = x * m20 + y * m21 + z * m22
            ar[c] = a
            bbr[c] = b
        # Pass 2a: the pixels outside the gamut (a few percent; more next to dark or bright detail).
        n = 0
        for c in range(width):
            r, g, b = rr[c], gr[c], br[c]
            if min(r, g, b) < _LO_TOL or max(r, g, b) > _HI_TOL:
                idx[n] = c
                n += 1
        if n:
            # Pass 2b: the chroma bisection for those, L* and hue kept. Iteration by iteration over
            # all of them, with selects instead of branches, so the compiler vectorizes it (one
            # pixel at a time, it was half the compose's time once 6% of the pixels needed it).
            for j in range(n):
                c = idx[j]
                fy = Lr[c] * _INV116 + _C16
                sfy[j] = fy
                sy[j] = _f_inv(fy)
                sfa[j] = ar[c] * _INV500
                sfb[j] = bbr[c] * _MINV200
                slo[j] = _ZERO  # chroma scales known inside / outside the gamut
                shi[j] = _ONE
            for _ in range(iterations):
                for j in range(n):
                    mid = (slo[j] + shi[j]) * _HALF
                    r, g, b = _rgb_at(sfy[j], sy[j], sfa[j], sfb[j], mid, m)
                    outside = min(r, g, b) < _LO_TOL or max(r, g, b) > _HI_TOL
                    shi[j] = mid if outside else shi[j]
                    slo[j] = slo[j] if outside else mid
            for j in range(n):
                c = idx[j]
                r, g, b = _rgb_at(sfy[j], sy[j], sfa[j], sfb[j], slo[j], m)
                # Only a pixel whose L* itself is outside [0, 100] can still be out here.
                rr[c] = min(max(r, _ZERO), _S8)
                gr[c] = min(max(g, _ZERO), _S8)
                br[c] = min(max(b, _ZERO), _S8)
        # Pass 2c: in gamut within the tolerance, so the truncating cast is the table index.
        orow = out[row]
        for c in range(width):
            orow[c, 0] = lut[np.uint16(max(rr[c], _ZERO))]
            orow[c, 1] = lut[np.uint16(max(gr[c], _ZERO))]
            orow[c, 2] = lut[np.uint16(max(br[c], _ZERO))]
