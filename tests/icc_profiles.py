"""ICC v2 profiles built byte by byte for the colour-management tests: gray ones (Gray Gamma 1.8 and
2.2, Dot Gain 20%) and matrix/TRC RGB ones (Adobe RGB (1998), ProPhoto RGB, a scanner's own curve),
with the exact tone curves and colorants the reference conversions use."""

from __future__ import annotations

import struct

import numpy as np

D50 = (0.9642, 1.0, 0.8249)
# D50-adapted colorants (X, Y, Z of each primary), as in the published profiles.
ADOBE_RGB = ((0.60974, 0.31111, 0.01947), (0.20528, 0.62567, 0.06087), (0.14919, 0.06322, 0.74457))
PROPHOTO_RGB = ((0.7977, 0.2880, 0.0), (0.1352, 0.7119, 0.0), (0.0313, 0.0001, 0.8249))
SRGB_D50 = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))


def _s15(v: float) -> bytes:
    return struct.pack(">i", int(round(v * 65536)))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \0\0\0\0" + _s15(x) + _s15(y) + _s15(z)


def _curve(curve: float | np.ndarray) -> bytes:
    """``curv``: a gamma (u8Fixed8) or a table of uint16 samples of [0, 1] -> [0, 1]."""
    if isinstance(curve, float):
        return b"curv\0\0\0\0" + struct.pack(">IH", 1, int(round(curve * 256))) + b"\0\0"
    table = np.round(np.clip(curve, 0, 1) * 65535).astype(">u2")
    data = b"curv\0\0\0\0" + struct.pack(">I", len(table)) + table.tobytes()
    return data + b"\0" * (-len(data) % 4)


def _desc(name: str) -> bytes:
    ascii_ = name.encode("ascii") + b"\0"
    data = b"desc\0\0\0\0" + struct.pack(">I", len(ascii_)) + ascii_ + struct.pack(">II", 0, 0) + b"\0\0\0" + b"\0" * 67
    return data + b"\0" * (-len(data) % 4)


def build_profile(name: str, *, trc: float | np.ndarray, colorants=None) -> bytes:
    """A display-class v2 profile: gray (one TRC) when ``colorants`` is None, else RGB."""
    text = b"text\0\0\0\0no copyright, test profile\0"
    tags = [(b"desc", _desc(name)), (b"wtpt", _xyz(*D50)), (b"cprt", text + b"\0" * (-len(text) % 4))]
    if colorants is None:
        tags.append((b"kTRC", _curve(trc)))
        space = b"GRAY"
    else:
        for sig, xyz in zip((b"rXYZ", b"gXYZ", b"bXYZ"), colorants, strict=True):
            tags.append((sig, _xyz(*xyz)))
        tags += [(sig, _curve(trc)) for sig in (b"rTRC", b"gTRC", b"bTRC")]
        space = b"RGB "
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + b"mntr" + space + b"XYZ "
              + b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 1) + _xyz(*D50)[8:] + b"\0" * 48)
    assert len(header) == 128, len(header)
    return header + struct.pack(">I", len(tags)) + table + body


def apply_trc(trc: float | np.ndarray, v: np.ndarray) -> np.ndarray:
    """The profile's tone curve on values ``v`` in [0, 1], as an ICC reader evaluates it."""
    if isinstance(trc, float):
        return v**trc
    table = np.round(np.clip(trc, 0, 1) * 65535) / 65535
    return np.interp(v, np.linspace(0, 1, len(table)), table)


# Photoshop's "Dot Gain 20%" gray: a 20% mid-tone dot gain on press, as a curve from ink to light.
_x = np.linspace(0, 1, 256)
DOT_GAIN_20 = 1 - np.clip((1 - _x) + 0.8 * (1 - _x) * _x, 0, 1)  # light = 1 - (ink with its gain)
# A scanner's own curve: an S-shaped, slightly lifted response.
SCANNER_CURVE = np.clip(0.02 + 0.96 * (3 * _x**2 - 2 * _x**3) ** 1.2, 0, 1)

GRAY_PROFILES = {
    "Gray Gamma 1.8": 1.8,
    "Gray Gamma 2.2": 2.2,
    "Dot Gain 20%": DOT_GAIN_20,
}
RGB_PROFILES = {
    "Adobe RGB (1998)": (563 / 256, ADOBE_RGB),
    "ProPhoto RGB": (1.8, PROPHOTO_RGB),
    "Scanner RGB": (SCANNER_CURVE, SRGB_D50),
}
