"""colorize_cli.metrics against hand-computed values on tiny arrays."""

import math

import numpy as np
import pytest

from colorize_cli import metrics as M


def test_psnr_known_constant_difference():
    a = np.full((4, 5, 3), 100, np.uint8)
    b = a.astype(np.float64) + 5.0  # MSE = 25
    assert M.psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 25))
    assert M.psnr(a, a) == math.inf


def test_ssim_identical_and_different():
    pytest.importorskip("skimage", reason="SSIM is scikit-image's (the [dev]/[train] extras)")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (16, 16, 3)).astype(np.uint8)
    assert M.ssim(a, a) == pytest.approx(1.0)
    assert M.ssim(a, 255 - a) < 0.5


def test_colorfulness_two_pixels_by_hand():
    img = np.array([[[255, 0, 0], [0, 0, 0]]], np.uint8)  # red + black
    # rg = [255, 0], yb = [127.5, 0]: std = mean = (127.5, 63.75)
    expected = math.hypot(127.5, 63.75) + 0.3 * math.hypot(127.5, 63.75)
    assert M.colorfulness(img) == pytest.approx(expected)
    gray = np.full((3, 3, 3), 77, np.uint8)
    assert M.colorfulness(gray) == 0.0


def test_ab_l1():
    a = np.zeros((2, 2, 2))
    b = np.full((2, 2, 2), 3.0)
    b[0, 0, 0] = -5.0
    assert M.ab_l1(a, b) == pytest.approx((3 * 7 + 5) / 8)


def test_auc_ab_error_known_errors():
    z = np.zeros((3, 3, 2))
    assert M.auc_ab_error(z, z) == pytest.approx(1.0)
    far = np.zeros((3, 3, 2))
    far[..., 0] = 300.0  # never within 150
    assert M.auc_ab_error(z, far) == pytest.approx(0.0)
    half = np.zeros((1, 2, 2))
    half[..., 0] = 30.0
    half[..., 1] = 40.0  # Euclidean error 50 for every pixel
    # fraction 0 below t=50, 1 from 50 on: trapezoid area = 0.5 + 100 over a range of 150
    assert M.auc_ab_error(z[:1, :2], half) == pytest.approx(100.5 / 150)
