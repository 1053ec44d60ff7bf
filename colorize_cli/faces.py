"""The face-patch metric: how many faces does a model paint blue, cyan, purple or green?

Skin of any tone has positive a* and b*; a model that is unsure puts cool colours on lips, chins
and beards, and on an old portrait that is the first thing anyone sees. The metric:

1. faces are found on the *gray input* with OpenCV's frontal-face Haar cascade
   (``haarcascade_frontalface_default.xml``, scaleFactor 1.1, minNeighbors 6, at least 48 px);
2. in the middle of each box (x from 1/5 to 4/5 of its width, y from 1/4 to 11/12 of its height)
   a pixel is *off-skin* when L* > 15 and (b* < -2 or a* < -4);
3. a face counts only where the original colour photo is skin-toned there (at most 5% off-skin
   and a positive median a* and b*), and it is *patched* when more than 5% of the prediction's
   pixels there are off-skin.

OpenCV is an optional dependency (the ``[train]`` and ``[dev]`` extras): :func:`available` says
whether it is installed, and nothing here is imported by the colorize path.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

CASCADE = "haarcascade_frontalface_default.xml"
SCALE_FACTOR = 1.1
MIN_NEIGHBORS = 6
MIN_FACE = 48
PATCH_SHARE = 0.05  # a face is patched above this share of off-skin pixels


@dataclass(frozen=True)
class FaceCount:
    """Faces counted (original skin-toned there) and how many of them the prediction patched."""

    faces: int
    patched: int

    def __add__(self, other: FaceCount) -> FaceCount:
        return FaceCount(self.faces + other.faces, self.patched + other.patched)


def available() -> bool:
    """True when OpenCV (with its bundled Haar cascades) can be imported."""
    try:
        _detector()
    except (ImportError, OSError):
        return False
    return True


@lru_cache(maxsize=1)
def _detector():
    import cv2

    path = cv2.data.haarcascades + CASCADE
    det = cv2.CascadeClassifier(path)
    if det.empty():
        raise OSError(f"OpenCV could not load {path}")
    return det


def detect_faces(L: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Frontal faces ``(x, y, w, h)`` on an L* plane ``(H, W)`` in [0, 100] (the gray input)."""
    gray = np.clip(np.asarray(L, dtype=np.float32) * 2.55 + 0.5, 0, 255).astype(np.uint8)
    found = _detector().detectMultiScale(
        gray, scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBORS, minSize=(MIN_FACE, MIN_FACE)
    )
    return [tuple(int(v) for v in box) for box in (found if len(found) else [])]


def _middle(box: tuple[int, int, int, int]) -> tuple[slice, slice]:
    x, y, w, h = box
    return slice(y + h // 4, y + (11 * h) // 12), slice(x + w // 5, x + (4 * w) // 5)


def off_skin_share(lab: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """The share of off-skin pixels in the middle of ``box``; ``lab`` is ``(H, W, 3)`` L*a*b*."""
    rows, cols = _middle(box)
    region = lab[rows, cols].reshape(-1, 3)
    if region.size == 0:
        return 0.0
    L, a, b = region[:, 0], region[:, 1], region[:, 2]
    off = (L > 15.0) & ((b < -2.0) | (a < -4.0))
    return float(off.mean())


def skin_toned(lab: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """Whether the original is skin there: few off-skin pixels and positive median a* and b*."""
    rows, cols = _middle(box)
    region = lab[rows, cols].reshape(-1, 3)
    if region.size == 0:
        return False
    return (
        off_skin_share(lab, box) <= PATCH_SHARE
        and float(np.median(region[:, 1])) > 0.0
        and float(np.median(region[:, 2])) > 0.0
    )


def eligible_faces(lab_orig: np.ndarray, L_input: np.ndarray | None = None) -> list[tuple[int, int, int, int]]:
    """Faces found on the gray input (``L_input``, default the original's L*) where the original
    is skin-toned."""
    L = lab_orig[..., 0] if L_input is None else L_input
    return [box for box in detect_faces(L) if skin_toned(lab_orig, box)]


def count_patched(lab_pred: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> FaceCount:
    """How many of ``boxes`` the prediction ``(H, W, 3)`` L*a*b* paints off-skin."""
    patched = sum(1 for box in boxes if off_skin_share(lab_pred, box) > PATCH_SHARE)
    return FaceCount(len(boxes), patched)


__all__ = [
    "FaceCount", "MIN_FACE", "PATCH_SHARE", "available", "count_patched", "detect_faces",
    "eligible_faces", "off_skin_share", "skin_toned",
]
