"""The color pipeline as pure functions (after Zhang et al.: predict ab small, join with the full L).

    full-resolution L*  ->  L resized to the inference size  ->  generator  ->  ab (small)
    ->  ab upsampled (bilinear) to full resolution  ->  joined with the ORIGINAL L*  ->  sRGB

Only the chroma passes through the network at low resolution; every detail of the photo lives in
L*, which is never resampled, so the output's L* is the input's (up to 8/16-bit rounding).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from colorize_cli import lab, lab_kernel, srgb_fast

if TYPE_CHECKING:  # pragma: no cover
    from colorize_cli.backends import Backend

# Full-resolution composition runs over row blocks of about this many pixels: memory stays bounded,
# and the block's dozen float32 scratch planes (256 KiB each) stay in the CPU cache across the
# elementwise passes of the Lab->sRGB join (1.5 MP, 8-bit: 1 Mi-pixel blocks 70 ms and 128 Ki
# 47 ms with the previous join; the current one measured 64 Ki as good as 32 Ki, better than 128 Ki).
_BLOCK_PIXELS = 1 << 16


def inference_shape(height: int, width: int, size: int, stride: int) -> tuple[int, int]:
    """The ``(h, w)`` the network sees for a ``height x width`` photo at inference ``size``.

    The aspect ratio is kept and the area is about ``size**2``; each side is rounded to a multiple
    of ``stride`` and kept within ``[stride, 4 * size]`` (so a 10000x3 strip stays tractable).
    """
    if height < 1 or width < 1:
        raise ValueError("image has no pixels")
    scale = size / math.sqrt(height * width)
    hi = max(stride, 4 * size // stride * stride)

    def side(n: int) -> int:
        return int(min(hi, max(stride, round(n * scale / stride) * stride)))

    return side(height), side(width)


def resize_plane(plane: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize an ``(H, W)`` float32 or uint8 plane to ``shape`` = ``(h, w)`` (antialiased when
    shrinking); the result has the input's dtype."""
    h, w = shape
    if plane.dtype == np.uint8:
        if plane.shape == (h, w):
            return plane
        im = Image.fromarray(np.ascontiguousarray(plane), mode="L")
        return np.asarray(im.resize((w, h), Image.Resampling.BILINEAR))
    if plane.shape == (h, w):
        return plane.astype(np.float32, copy=False)
    im = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), mode="F")
    return np.asarray(im.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)


def as_l_star(plane: np.ndarray) -> np.ndarray:
    """The photo's lightness as float32 L* in [0, 100]: ``plane`` itself, or its uint8 gray codes looked up."""
    if plane.dtype == np.uint8:
        return lab.gray_l_lut(255)[plane]
    return plane.astype(np.float32, copy=False)


def network_input(L: np.ndarray, size: int, stride: int) -> np.ndarray:
    """The photo's lightness ``(H, W)`` -> normalized network input ``(1, h, w)`` float32 in [-1, 1].

    ``L`` is float32 L* in [0, 100] or, for an 8-bit gray photo, its uint8 sRGB-encoded gray
    codes: those are resized as codes (like the training photos, resized as 8-bit RGB) and then
    looked up, which is ~5x cheaper than making and resizing a full-resolution L* plane.
    """
    shape = inference_shape(L.shape[0], L.shape[1], size, stride)
    return lab.normalize_l(as_l_star(resize_plane(L, shape)))[None]


def _bilinear_axis(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights for half-pixel-centred bilinear resampling along one axis.

    Matches ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``.
    """
    pos = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    pos = np.clip(pos, 0.0, n_in - 1)
    i0 = np.floor(pos).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (pos - i0).astype(np.float32)


def _bilinear_plan(ab_small: np.ndarray, height: int, width: int):
    """``ab_small`` ``(2, h, w)`` upsampled along the width, and what each full-resolution row needs.

    Returns ``wide`` ``(2, h, W)``, ``step`` ``(2, h, W)`` (row differences of ``wide``, 0 on the
    last row), ``y0`` ``(H,)`` and ``wy`` ``(H,)``: output row ``r`` is
    ``wide[:, y0[r]] + step[:, y0[r]] * wy[r]`` (bilinear, half-pixel centres, like torch's).
    """
    _, hs, ws = ab_small.shape
    x0, x1, wx = _bilinear_axis(width, ws)
    # Indexing the last axis returns a non-C-contiguous array; the row gathers would then be
    # strided copies (half the cost of the whole upsampling), hence the explicit copy.
    wide = np.ascontiguousarray(ab_small[:, :, x0] * (1.0 - wx) + ab_small[:, :, x1] * wx, dtype=np.float32)
    # Row differences, precomputed on the small map: each row then needs two arrays, not three.
    # The last row's difference is 0 (there y1 == y0, and the weight is 0 anyway).
    step = np.zeros_like(wide)
    np.subtract(wide[:, 1:], wide[:, :-1], out=step[:, :-1])
    y0, _, wy = _bilinear_axis(height, hs)
    return wide, step, y0, wy


def upsample_ab_rows(ab_small: np.ndarray, height: int, width: int):
    """Yield ``(r0, r1, ab_block)`` covering the full-resolution ab, ``ab_block`` ``(2, r1-r0, W)``.

    Bilinear: first along the width of the small map (cheap), then row block by row block, so a
    100 MP photo never holds a full-resolution float ab plane at once.
    """
    wide, step, y0, wy = _bilinear_plan(ab_small, height, width)
    rows = max(1, _BLOCK_PIXELS // max(width, 1))
    for r0 in range(0, height, rows):
        r1 = min(height, r0 + rows)
        i = y0[r0:r1]
        block = step[:, i]  # (2, rows, W)
        block *= wy[r0:r1, None]
        block += wide[:, i]
        yield r0, r1, block


def compose(
    L: np.ndarray,
    ab_small: np.ndarray,
    *,
    alpha: np.ndarray | None = None,
    bit_depth: int = 8,
    chroma_gain: float = 1.0,
    compiled: bool | None = None,
) -> np.ndarray:
    """Join full-resolution L* with the network's small ab into sRGB pixels.

    Args:
        L: ``(H, W)`` float32 L* in [0, 100] (the photo's own, full resolution), or uint8
            sRGB-encoded gray codes (an 8-bit gray photo; each code's L* is looked up, exactly).
        ab_small: ``(2, h, w)`` float32 network output, normalized to [-1, 1].
        alpha: optional ``(H, W)`` uint8/uint16 alpha, appended as a 4th channel.
        bit_depth: 8 -> uint8 output, 16 -> uint16 output.
        chroma_gain: a*b* are scaled by this before the join (the model's ``chroma_gain``).
        compiled: 8-bit output through the compiled compose (:mod:`colorize_cli.lab_kernel`):
            None when it is available, True always (RuntimeError where it is not built), False
            never (the numpy path). Both give the same pixels.

    Returns:
        ``(H, W, 3)`` or ``(H, W, 4)`` uint8/uint16 sRGB.
    """
    height, width = L.shape
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    channels = 3 if alpha is None else 4
    out = np.empty((height, width, channels), dtype=dtype)
    ab_scaled = lab.denormalize_ab(ab_small)
    if chroma_gain != 1.0:
        ab_scaled = ab_scaled * np.float32(chroma_gain)
    if compiled is None:
        compiled = lab_kernel.available()
    if compiled and dtype == np.uint8:
        lab_kernel.compose8(L, *_bilinear_plan(ab_scaled, height, width), out)
    elif dtype == np.uint8:
        rows = max(1, _BLOCK_PIXELS // max(width, 1))
        writer = srgb_fast.Srgb8Writer(out.reshape(-1, channels)[:, :3], rows * width)
        for r0, r1, ab in upsample_ab_rows(ab_scaled, height, width):
            writer.write(r0 * width, as_l_star(L[r0:r1]), ab[0], ab[1])
        writer.finish()
    else:
        for r0, r1, ab in upsample_ab_rows(ab_scaled, height, width):
            out[r0:r1, :, :3] = srgb_fast.join_l_ab(as_l_star(L[r0:r1]), ab[0], ab[1], dtype=dtype)
    if alpha is not None:
        if alpha.dtype != dtype:
            alpha = (
                (alpha.astype(np.uint32) * 257).astype(np.uint16)
                if dtype == np.uint16
                else (alpha.astype(np.uint32) // 257).astype(np.uint8)
            )
        out[..., 3] = alpha
    return out


def colorize_array(
    L: np.ndarray,
    backend: Backend,
    *,
    size: int | None = None,
    alpha: np.ndarray | None = None,
    bit_depth: int = 8,
    saturation: float = 1.0,
    compiled: bool | None = None,
) -> np.ndarray:
    """Colorize one full-resolution L* plane ``(H, W)`` (float32, [0, 100]; or uint8 gray codes) with ``backend``.

    Returns ``(H, W, 3|4)`` uint8 (or uint16 with ``bit_depth=16``) sRGB pixels. ``saturation``
    scales the predicted a*b* (0 gray, 1 the model's colours, at most 2); ``compiled`` as for
    :func:`compose`.
    """
    if not 0.0 <= saturation <= 2.0:
        raise ValueError(f"saturation must be in [0, 2], not {saturation}")
    size = size or backend.config.default_size
    x = network_input(L, size, backend.config.stride)
    ab_small = backend.predict(x[None])[0]
    gain = getattr(backend.config, "chroma_gain", 1.0) * saturation
    return compose(L, ab_small, alpha=alpha, bit_depth=bit_depth, chroma_gain=gain, compiled=compiled)
