"""Inputs with an embedded ICC profile give the right L*: gray profiles (Gray Gamma 1.8 / 2.2, Dot
Gain 20%), RGB ones (Adobe RGB, ProPhoto, a scanner's own curve), 8 and 16 bits. The reference
is computed from each profile's own tone curve and colorants, not by LittleCMS."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from colorize_cli import lab
from colorize_cli.imagefile import decode_image
from tests.icc_profiles import GRAY_PROFILES, RGB_PROFILES, apply_trc, build_profile


def _ramp_gray(bits: int) -> np.ndarray:
    top = 255 if bits == 8 else 65535
    codes = np.linspace(0, top, 48 * 64).reshape(48, 64)
    return np.round(codes).astype(np.uint8 if bits == 8 else np.uint16)


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("name", list(GRAY_PROFILES))
def test_gray_profiles_give_the_profiles_lightness(tmp_path, name, bits):
    trc = GRAY_PROFILES[name]
    codes = _ramp_gray(bits)
    path = tmp_path / "g.png"
    Image.fromarray(codes).save(path, icc_profile=build_profile(name, trc=trc))
    got = decode_image(path).L
    want = lab.luminance_to_l(apply_trc(trc, codes / (255.0 if bits == 8 else 65535.0)).astype(np.float32))
    assert np.abs(got - want).max() < 1.0
    # and it is not what the sRGB default would have said (the test can tell the two apart)
    untagged = tmp_path / "u.png"
    Image.fromarray(codes).save(untagged)
    assert np.abs(decode_image(untagged).L - want).max() > 2.0


@pytest.mark.parametrize("name", list(RGB_PROFILES))
def test_rgb_profiles_give_the_profiles_lightness(tmp_path, name):
    trc, colorants = RGB_PROFILES[name]
    rgb = np.random.default_rng(5).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    rgb[0, :, :] = np.linspace(0, 255, 50).astype(np.uint8)[:, None]  # a neutral ramp too
    path = tmp_path / "c.png"
    Image.fromarray(rgb, "RGB").save(path, icc_profile=build_profile(name, trc=trc, colorants=colorants))
    got = decode_image(path).L
    lin = apply_trc(trc, rgb / 255.0)
    y = lin @ np.array([c[1] for c in colorants])  # Y of the D50 connection space, white = 1
    want = lab.luminance_to_l(np.clip(y, 0, 1).astype(np.float32))
    assert np.abs(got - want).max() < 1.0


def test_a_profile_that_does_not_fit_the_pixels_is_noted_and_read_as_srgb(tmp_path):
    codes = _ramp_gray(8)
    Image.fromarray(codes).save(tmp_path / "g.png", icc_profile=build_profile("RGB on gray", trc=2.2,
                                                                                colorants=RGB_PROFILES["ProPhoto RGB"][1]))
    decoded = decode_image(tmp_path / "g.png")
    assert any("does not fit" in note for note in decoded.notes)
    np.testing.assert_allclose(decoded.L, lab.gray_l_lut(255)[codes], atol=1e-4)


def test_an_srgb_profile_keeps_the_exact_default_path(tmp_path):
    """An embedded sRGB profile needs no conversion: L* as exact as for an untagged file."""
    from colorize_cli.imagefile import srgb_icc_bytes

    rgb = np.random.default_rng(2).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(rgb, "RGB").save(tmp_path / "tagged.png", icc_profile=srgb_icc_bytes())
    Image.fromarray(rgb, "RGB").save(tmp_path / "plain.png")
    np.testing.assert_array_equal(decode_image(tmp_path / "tagged.png").L, decode_image(tmp_path / "plain.png").L)
