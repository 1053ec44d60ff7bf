"""The quantized a*b* colours of the classification head (Zhang et al. 2016, "Colorful Image
Colorization"): the cells of a 10-unit grid over a*, b* in [-110, 110) that some sRGB colour falls
in, at any lightness.

A regression head trained with L1 predicts the median of the colours a patch could have, and where
they disagree (a shirt that could be red or blue) the median is a brownish gray. A classification
head predicts a distribution over these cells instead; the *annealed mean* (the mean of the
distribution sharpened by a temperature T < 1) then picks the likely colour where one dominates and
still averages where several tie, with T the single knob between vivid and safe.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

AB_BIN = 10.0  # the grid's cell size in a*b* units (Zhang et al.'s)
AB_RANGE = 110.0  # the grid spans [-AB_RANGE, AB_RANGE) on both axes
GRID = int(round(2 * AB_RANGE / AB_BIN))  # 22 cells per axis


def cell_index(ab: np.ndarray) -> np.ndarray:
    """Flat grid cell (a_cell * GRID + b_cell) of ab values ``(..., 2)`` in Lab units."""
    idx = np.clip(np.floor((ab + AB_RANGE) / AB_BIN).astype(np.int64), 0, GRID - 1)
    return idx[..., 0] * GRID + idx[..., 1]


@lru_cache(maxsize=1)
def in_gamut_cells() -> tuple[int, ...]:
    """The flat indices of the grid cells that sRGB reaches (265 of the 484), ascending."""
    from colorize_cli import lab

    g = np.linspace(0.0, 1.0, 64, dtype=np.float32)
    rgb = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 1, 3)
    ab = lab.rgb_to_lab(rgb).reshape(-1, 3)[:, 1:]
    return tuple(int(c) for c in np.unique(cell_index(ab)))


def bin_centres() -> np.ndarray:
    """``(Q, 2)`` float32 a*b* centres (Lab units) of :func:`in_gamut_cells`, in that order."""
    cells = np.asarray(in_gamut_cells())
    a, b = np.divmod(cells, GRID)
    return (np.stack([a, b], axis=1) * AB_BIN - AB_RANGE + AB_BIN / 2).astype(np.float32)


def num_bins() -> int:
    """Q, the classification head's number of classes."""
    return len(in_gamut_cells())
