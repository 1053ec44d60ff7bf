"""The Lab math against scikit-image, and the properties the pipeline relies on."""

from __future__ import annotations

import numpy as np
import pytest

from colorize_cli import lab, srgb_fast

skcolor = pytest.importorskip("skimage.color")


@pytest.fixture()
def rgb():
    return np.random.default_rng(0).random((40, 30, 3)).astype(np.float32)


def test_rgb_to_lab_matches_skimage(rgb):
    ours = lab.rgb_to_lab(rgb)
    ref = skcolor.rgb2lab(rgb.astype(np.float64))
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=0.02)


def test_lab_to_rgb_matches_skimage_in_gamut(rgb):
    lab_values = skcolor.rgb2lab(rgb.astype(np.float64))
    np.testing.assert_allclose(lab.lab_to_rgb(lab_values), skcolor.lab2rgb(lab_values), atol=5e-4)  # white point: see lab.WHITE


def test_round_trip_rgb_lab_rgb(rgb):
    np.testing.assert_allclose(lab.lab_to_rgb(lab.rgb_to_lab(rgb)), rgb, atol=2e-4)


def test_gray_has_zero_ab_and_comes_back_gray():
    g = np.linspace(0, 1, 256, dtype=np.float32)
    gray = np.stack([g, g, g], -1)
    lab_values = lab.rgb_to_lab(gray)
    assert np.abs(lab_values[:, 1:]).max() < 1e-3
    back = lab.lab_to_rgb(np.concatenate([lab_values[:, :1], np.zeros((256, 2), np.float32)], -1))
    codes = np.round(back * 255)
    assert (codes[:, 0] == codes[:, 1]).all() and (codes[:, 1] == codes[:, 2]).all()
    np.testing.assert_allclose(codes[:, 0], np.round(g * 255), atol=0.5)


def test_luminance_and_lightness_are_inverse():
    y = np.linspace(0, 1, 1001, dtype=np.float32)
    np.testing.assert_allclose(lab.l_to_luminance(lab.luminance_to_l(y)), y, atol=1e-5)
    assert lab.luminance_to_l(np.float32(1.0)) == pytest.approx(100.0, abs=1e-3)


def test_lut_linearization_matches_formula():
    codes = np.arange(256)
    np.testing.assert_allclose(lab.linear_lut(255)[codes], lab.srgb_to_linear(codes / 255.0), atol=1e-6)


def test_out_of_gamut_keeps_lightness_exactly():
    rng = np.random.default_rng(1)
    L = rng.uniform(0, 100, (5000,)).astype(np.float32)
    ab = rng.uniform(-110, 110, (5000, 2)).astype(np.float32)  # mostly out of the sRGB gamut
    rgb = lab.lab_to_rgb_preserving_l(L, ab)
    assert rgb.min() >= 0 and rgb.max() <= 1
    np.testing.assert_allclose(lab.rgb_to_lab(rgb)[:, 0], L, atol=0.05)
    # Clipping per channel instead would have moved L* a lot: that is what the search avoids.
    assert np.abs(lab.rgb_to_lab(lab.lab_to_rgb(np.concatenate([L[:, None], ab], -1)))[:, 0] - L).max() > 5


def test_in_gamut_colours_are_untouched():
    rgb = np.random.default_rng(2).uniform(0.1, 0.9, (100, 3)).astype(np.float32)
    lab_values = lab.rgb_to_lab(rgb)
    np.testing.assert_allclose(lab.lab_to_rgb_preserving_l(lab_values[:, 0], lab_values[:, 1:]), rgb, atol=2e-4)


def test_normalization_constants():
    assert lab.normalize_l(np.array([0.0, 50.0, 100.0])).tolist() == [-1.0, 0.0, 1.0]
    assert lab.denormalize_ab(np.array([-1.0, 1.0])).tolist() == [-110.0, 110.0]
    np.testing.assert_allclose(lab.normalize_ab(lab.denormalize_ab(np.array([0.25]))), [0.25])


def _reference8(L, a, b):
    ref = lab.lab_to_rgb_preserving_l(L, np.stack([a, b], -1))
    return np.floor(ref * 255 + 0.5).astype(int)


@pytest.mark.parametrize("seed", range(4))
def test_fast_8bit_join_equals_the_reference_within_one_level(seed):
    rng = np.random.default_rng(seed)
    L = rng.uniform(0, 100, (300, 200)).astype(np.float32)
    L[0], L[1] = 0.0, 100.0  # the ends of the L* range: black and white rows
    a, b = (rng.uniform(-110, 110, (300, 200)).astype(np.float32) for _ in range(2))  # mostly out of gamut
    out = srgb_fast.join_l_ab(L, a, b)
    assert out.shape == (300, 200, 3) and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - _reference8(L, a, b))
    assert diff.max() <= 1 and diff.mean() < 0.05
    np.testing.assert_allclose(lab.rgb_to_lab(out / 255.0)[..., 0], L, atol=0.6)  # L* kept: 8-bit rounding only


def test_fast_8bit_join_keeps_gray_neutral_and_hue_when_shrinking():
    L = np.linspace(0, 100, 1001, dtype=np.float32)
    gray = srgb_fast.join_l_ab(L, np.zeros_like(L), np.zeros_like(L))
    assert (gray[:, 0] == gray[:, 1]).all() and (gray[:, 1] == gray[:, 2]).all()
    np.testing.assert_allclose(lab.rgb_to_lab(gray / 255.0)[:, 0], L, atol=0.6)
    # Far out of gamut at every lightness: chroma shrinks, the hue angle stays.
    a, b = np.full_like(L, 90.0), np.full_like(L, -60.0)
    out = srgb_fast.join_l_ab(L, a, b)
    back = lab.rgb_to_lab(out / 255.0)
    np.testing.assert_allclose(back[:, 0], L, atol=0.6)
    chroma = np.hypot(back[:, 1], back[:, 2])
    mid = chroma > 10  # the hue of a colour with little chroma is at the mercy of 8-bit rounding
    hue = np.degrees(np.arctan2(back[mid, 2], back[mid, 1]))
    np.testing.assert_allclose(hue, np.degrees(np.arctan2(-60.0, 90.0)), atol=3.0)


def test_srgb8_writer_blocks_and_deferred_fixes_equal_one_pass():
    rng = np.random.default_rng(5)
    L = rng.uniform(0, 100, 10_000).astype(np.float32)
    a, b = (rng.uniform(-100, 100, 10_000).astype(np.float32) for _ in range(2))
    whole = srgb_fast.join_l_ab(L, a, b)
    # Small blocks: out-of-gamut pixels pile up across blocks and are fixed several times (each
    # time block_pixels of them are pending), into a strided view (the RGB of an RGBA buffer).
    rgba = np.full((10_000, 4), 7, np.uint8)
    writer = srgb_fast.Srgb8Writer(rgba[:, :3], 700)
    for s in range(0, 10_000, 700):
        writer.write(s, L[s : s + 700], a[s : s + 700], b[s : s + 700])
    writer.finish()
    np.testing.assert_array_equal(rgba[:, :3], whole)
    assert (rgba[:, 3] == 7).all()
    with pytest.raises(ValueError):
        writer.write(0, L[:701], a[:701], b[:701])


def test_sixteen_bit_join_still_matches_the_reference():
    rng = np.random.default_rng(6)
    L = rng.uniform(0, 100, (50, 40)).astype(np.float32)
    a, b = (rng.uniform(-80, 80, (50, 40)).astype(np.float32) for _ in range(2))
    out = srgb_fast.join_l_ab(L, a, b, dtype=np.uint16)
    ref = lab.lab_to_rgb_preserving_l(L, np.stack([a, b], -1))
    assert out.dtype == np.uint16
    assert np.abs(out / 65535.0 - ref).max() < 2e-4


def test_srgb8_writer_memory_stays_bounded_by_the_block_whatever_the_image_size():
    """Out-of-gamut pixels are fixed whenever a block's worth is pending: a photo that is all out of
    gamut must not pile up its whole size in pending pixels (about 21 bytes each)."""
    import tracemalloc

    n, block = 1_000_000, 10_000
    L = np.full(n, 50.0, np.float32)
    a = np.full(n, 100.0, np.float32)  # far outside sRGB at L* 50: every pixel needs the fix
    b = np.full(n, 100.0, np.float32)
    out = np.empty((n, 3), np.uint8)
    tracemalloc.start()
    try:
        writer = srgb_fast.Srgb8Writer(out, block)
        for s in range(0, n, block):
            writer.write(s, L[s : s + block], a[s : s + block], b[s : s + block])
        writer.finish()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000, peak  # all pending at once would be ~21 MB
    assert (out == out[0]).all() and np.ptp(out[0].astype(int)) > 50  # one saturated colour throughout


def test_sixteen_bit_gray_codes_survive_the_join_exactly():
    """16-bit gray through L* and back: the very same codes (rounding to nearest, not down or up)."""
    codes = np.arange(0, 65536, 7, dtype=np.uint16)
    L = lab.gray_l_lut(65535)[codes]
    out = srgb_fast.join_l_ab(L, np.zeros_like(L), np.zeros_like(L), dtype=np.uint16)
    assert out.dtype == np.uint16
    diff = np.abs(out[..., 0].astype(int) - codes.astype(int))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.99
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


@pytest.mark.parametrize("max_value", [1023, 4095])
def test_linear_lut_is_the_srgb_curve_at_any_depth(max_value):
    """Depths nothing else in the suite asks for: the table is computed here, not taken from a cache."""
    lut = lab.linear_lut(max_value)
    assert lut.shape == (max_value + 1,) and lut.dtype == np.float32
    codes = np.arange(max_value + 1) / max_value
    np.testing.assert_allclose(lut, lab.srgb_to_linear(codes.astype(np.float32)), atol=2e-6)
    assert lut[0] == 0.0 and lut[-1] == pytest.approx(1.0)
