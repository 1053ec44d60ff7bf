"""The 8-bit composition as one compiled C loop: upsampled ab + the photo's L* -> sRGB codes.

``colorize_cli/_compose8.c``, built with the package (an optional extension: without a C compiler
the install still succeeds, and compose takes the numpy path). It computes what the numpy path
(:class:`colorize_cli.srgb_fast.Srgb8Writer` after :func:`colorize_cli.pipeline.upsample_ab_rows`)
computes, in the same float32 operations in the same order, so both give the same pixels; but
each row in a few passes over small row buffers instead of some sixty passes over planes, which
makes it several times faster (``benchmarks/RESULTS.md``).

It is loaded with :mod:`ctypes`: that costs about a millisecond (so every run can use it, whatever
its size) and releases the GIL for each call, so photos compose side by side in worker threads.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.machinery
import os
from pathlib import Path

import numpy as np

from colorize_cli import lab, srgb_fast

# The library's constants argument, in the order of its enum (K_THR ... K_S8), then the matrix
# XYZ -> linear RGB x 65535. All from colorize_cli.lab / srgb_fast: no colour constant lives in C.
_CONSTANTS = np.ascontiguousarray(
    np.concatenate([
        np.array([
            lab.F_THRESHOLD, 116.0 / lab.KAPPA, 16.0 / 116.0, 1.0 / 116.0, 1.0 / 500.0, -1.0 / 200.0,
            -srgb_fast.GAMUT_TOL8, srgb_fast.S8 + srgb_fast.GAMUT_TOL8, srgb_fast.S8,
        ], dtype=np.float32),
        srgb_fast.RGB8_FROM_XYZ.reshape(-1),
    ]).astype(np.float32)
)

_P = ctypes.c_void_p
_N = ctypes.c_ssize_t


def kernel_disabled() -> bool:
    """True when the environment asks for the numpy path (``COLORIZE_CLI_NO_KERNEL=1``)."""
    return os.environ.get("COLORIZE_CLI_NO_KERNEL", "") not in ("", "0")


def library_path() -> Path | None:
    """The built library next to this module, or None (not built: no C compiler at install)."""
    here = Path(__file__).parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = here / f"_compose8{suffix}"
        if path.is_file():
            return path
    return None


def _library():
    path = library_path()
    return None if path is None else _load(str(path))


@functools.cache
def _load(path: str):
    try:
        lib = ctypes.CDLL(path)  # CDLL (not PyDLL): each call runs without the GIL
    except OSError:
        return None
    fn = lib.compose8
    fn.restype = ctypes.c_int
    fn.argtypes = [_P, _P, _P, _N, _N, _P, _P, _N, _P, _P, _P, _N, _P, _P, ctypes.c_int]
    return fn


def available() -> bool:
    """True when the compiled compose can run here (built, loadable, not switched off)."""
    return not kernel_disabled() and _library() is not None


def describe() -> str:
    """Which compose runs here, and why (for ``--verbose``)."""
    if kernel_disabled():
        return "numpy (COLORIZE_CLI_NO_KERNEL is set)"
    if _library() is None:
        return "numpy (the compiled compose is not built: no C compiler at install)"
    return "compiled"


def compose8(
    L: np.ndarray, wide: np.ndarray, step: np.ndarray, y0: np.ndarray, wy: np.ndarray, out: np.ndarray
) -> None:
    """Write sRGB codes into ``out[..., :3]``.

    Args:
        L: ``(H, W)`` float32 L* in [0, 100], or uint8 sRGB-encoded gray codes (looked up per
            row into the same float32 L* the numpy path gets from :func:`colorize_cli.lab.gray_l_lut`).
        wide: ``(2, h, W)`` float32 a*, b* of the network, already upsampled along the width.
        step: ``(2, h, W)`` float32 row differences of ``wide`` (0 on the last row).
        y0, wy: ``(H,)`` source row index (intp, each in ``[0, h)``) and weight (float32) of each output row.
        out: ``(H, W, 3 or 4)`` uint8, C-contiguous; a 4th (alpha) channel is left untouched.

    Raises:
        RuntimeError: the library is not built or cannot load (see :func:`available`).
        ValueError: shapes, dtypes or layout that do not fit together.
        MemoryError: the library could not allocate its row buffers.
    """
    fn = _library()
    if fn is None:
        raise RuntimeError("the compiled compose is not built (colorize_cli/_compose8.c)")
    height, width = L.shape
    if L.dtype == np.uint8:
        codes, lstar, l_of_code = np.ascontiguousarray(L), None, lab.gray_l_lut(255)
    else:
        codes, lstar, l_of_code = None, np.ascontiguousarray(L, dtype=np.float32), None
    wide = np.ascontiguousarray(wide, dtype=np.float32)
    step = np.ascontiguousarray(step, dtype=np.float32)
    y0 = np.ascontiguousarray(y0, dtype=np.intp)
    wy = np.ascontiguousarray(wy, dtype=np.float32)
    _check(L.shape, wide, step, y0, wy, out)
    lut = srgb_fast.srgb8_lut_mid()
    status = fn(
        _ptr(codes), _ptr(lstar), _ptr(l_of_code), height, width, _ptr(wide), _ptr(step), wide.shape[1],
        _ptr(y0), _ptr(wy), _ptr(out), out.shape[2], _ptr(lut), _ptr(_CONSTANTS), lab.GAMUT_ITERATIONS,
    )
    if status != 0:
        raise MemoryError("the compiled compose could not allocate its row buffers")


def _check(shape, wide, step, y0, wy, out) -> None:
    """The C loop trusts its arguments: every index it will follow is checked here."""
    height, width = shape
    if wide.ndim != 3 or wide.shape[0] != 2 or wide.shape[2] != width or step.shape != wide.shape:
        raise ValueError(f"wide/step must be (2, h, {width}), not {wide.shape} / {step.shape}")
    if y0.shape != (height,) or wy.shape != (height,):
        raise ValueError(f"y0 and wy must be ({height},), not {y0.shape} / {wy.shape}")
    if height and (y0.min() < 0 or y0.max() >= wide.shape[1]):
        raise ValueError("y0 indexes rows outside wide")
    if (
        out.dtype != np.uint8 or out.ndim != 3 or out.shape[:2] != (height, width)
        or out.shape[2] not in (3, 4) or not out.flags.c_contiguous or not out.flags.writeable
    ):
        raise ValueError(f"out must be a writable C-contiguous ({height}, {width}, 3|4) uint8 array")


def _ptr(a: np.ndarray | None) -> int | None:
    return None if a is None else a.ctypes.data
