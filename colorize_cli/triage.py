"""What kind of photo an input is, from its chroma (``gray``, ``toned`` or ``color``), and the flags
a reviewer sorts results on.

* ``gray``: no chroma to speak of (a black-and-white scan, saved as gray or as RGB);
* ``toned``: chroma of one hue throughout (sepia, selenium, cyanotype, a gold-toned print): a
  black-and-white photo whose colour is the process's, not the scene's; it is colorized from its
  luminance, like a gray one;
* ``color``: several hues (a colour photo, or a hand-tinted print): colorizing it would replace
  colours someone chose, so ``--color-inputs`` decides what a run does with it.

Decided on a sample of at most ~65,000 pixels, midtones only (near-black and near-white pixels
carry little reliable chroma in a scan).
"""

from __future__ import annotations

import numpy as np

from colorize_cli import lab

KINDS = ("gray", "toned", "color")
# Chroma (C*ab) below which a pixel counts as neutral: JPEG's chroma noise on a gray scan stays
# under about 2; the faintest sepia prints measure 5 and more.
NEUTRAL_CHROMA = 3.0
# The share of (midtone) pixels that must carry chroma for the photo not to be gray.
MIN_CHROMATIC_SHARE = 0.05
# How concentrated the hues of the chromatic pixels must be (mean resultant length of their hue
# angles, chroma-weighted: 1 = a single hue) for one tone: toned prints measure above 0.95;
# hand-tinted prints and colour photos, with skin beside sky or foliage, well below.
TONED_CONCENTRATION = 0.9
_SAMPLE = 65_536


def classify_rgb(rgb: np.ndarray) -> str:
    """``(H, W, 3)`` uint8 sRGB -> ``"gray"``, ``"toned"`` or ``"color"``."""
    h, w = rgb.shape[:2]
    step = max(1, int(np.sqrt(h * w / _SAMPLE)))
    sample = rgb[::step, ::step, :3].reshape(-1, 3).astype(np.float32) / 255.0
    lab_px = lab.rgb_to_lab(sample)
    mid = (lab_px[:, 0] > 10.0) & (lab_px[:, 0] < 95.0)
    if not mid.any():
        return "gray"
    a, b = lab_px[mid, 1], lab_px[mid, 2]
    chroma = np.hypot(a, b)
    chromatic = chroma >= NEUTRAL_CHROMA
    if chromatic.mean() < MIN_CHROMATIC_SHARE:
        return "gray"
    c, hue = chroma[chromatic], np.arctan2(b[chromatic], a[chromatic])
    concentration = float(np.hypot((c * np.cos(hue)).sum(), (c * np.sin(hue)).sum()) / c.sum())
    return "toned" if concentration >= TONED_CONCENTRATION else "color"


# --- flags a reviewer sorts on --------------------------------------------------------------------
def output_flags(rgb: np.ndarray, L: np.ndarray, ab: np.ndarray) -> dict[str, float]:
    """What a reviewer sorts a batch's results on, from a sample of one output:

    * ``colorfulness``: Hasler and Suesstrunk's M of the output (0 gray; about 20-40 for colour
      photos of ordinary scenes): a very low one is a result the model barely coloured, a very
      high one a garish result;
    * ``gamut_reduced``: the share of pixels whose predicted colour lay outside sRGB at their
      lightness and so had its chroma reduced (L* kept): a high one means the model asked for
      colours the photo cannot show there.

    ``rgb`` ``(h, w, 3)`` uint8 or uint16 output pixels, ``L`` ``(h, w)`` L* and ``ab`` ``(h, w, 2)``
    the a*b* joined with it (before any reduction), all at the same sample points.
    """
    from colorize_cli.metrics import colorfulness

    rgb8 = rgb if rgb.dtype == np.uint8 else (rgb // 257).astype(np.uint8)
    lin = lab.lab_to_linear_rgb(np.concatenate([L[..., None], ab], axis=-1).astype(np.float32))
    outside = ((lin < -lab.GAMUT_TOL) | (lin > 1.0 + lab.GAMUT_TOL)).any(axis=-1)
    return {"colorfulness": round(float(colorfulness(rgb8[..., :3])), 2), "gamut_reduced": round(float(outside.mean()), 4)}
