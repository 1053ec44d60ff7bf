"""The tools that judge and harden the model: old-print degradation, the face-patch metric and the
source-disjoint split (no torch needed except where marked)."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from colorize_cli import lab
from colorize_cli.degrade import Degradation, degrade_l, gaussian_blur
from tests.conftest import make_photo

NO_EFFECT = Degradation(
    blur_sigma=(0, 0), gamma=(1, 1), contrast=(1, 1), black_lift=(0, 0), white_fade=(0, 0),
    grain=(0, 0), scan_noise=(0, 0), jpeg_probability=0.0,
)


def _l_plane(w=96, h=80, seed=1) -> np.ndarray:
    rgb = np.asarray(make_photo(w, h, seed), dtype=np.float32) / 255.0
    return lab.rgb_to_lab(rgb)[..., 0].astype(np.float32)


# --- degradation ---------------------------------------------------------------------------------
def test_degrade_is_deterministic_per_seed_and_stays_in_range():
    L = _l_plane()
    a = degrade_l(L, np.random.default_rng(5))
    b = degrade_l(L, np.random.default_rng(5))
    c = degrade_l(L, np.random.default_rng(6))
    assert a.shape == L.shape and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.min() >= 0.0 and a.max() <= 100.0
    assert np.abs(a - L).mean() > 0.5  # it really changes the photo


def test_degrade_with_no_effect_is_identity():
    L = _l_plane()
    assert np.allclose(degrade_l(L, np.random.default_rng(0), NO_EFFECT), L, atol=1e-3)


def test_each_effect_does_what_it_says():
    import dataclasses

    L = _l_plane()
    L[:8] = np.linspace(0.0, 100.0, L.shape[1], dtype=np.float32)  # a full black-to-white ramp
    rng = lambda: np.random.default_rng(3)  # noqa: E731
    lifted = degrade_l(L, rng(), dataclasses.replace(NO_EFFECT, black_lift=(15, 15)))
    assert lifted.min() == pytest.approx(15.0, abs=1e-3) and L.min() == 0.0
    faded = degrade_l(L, rng(), dataclasses.replace(NO_EFFECT, white_fade=(20, 20)))
    assert faded.max() <= 80.0 + 1e-3
    blurred = degrade_l(L, rng(), dataclasses.replace(NO_EFFECT, blur_sigma=(2, 2)))
    assert np.abs(np.diff(blurred, axis=1)).mean() < np.abs(np.diff(L, axis=1)).mean()
    grainy = degrade_l(L, rng(), dataclasses.replace(NO_EFFECT, grain=(4, 4)))
    assert 2.0 < np.std(grainy - L) < 6.0
    darker = degrade_l(L, rng(), dataclasses.replace(NO_EFFECT, gamma=(1.3, 1.3)))
    assert darker.mean() < L.mean() - 1.0
    jpeg = degrade_l(L, rng(), dataclasses.replace(NO_EFFECT, jpeg_probability=1.0, jpeg_quality=(10, 10)))
    assert 0.2 < np.abs(jpeg - L).mean() < 10.0


def test_gaussian_blur_keeps_the_mean_and_smooths():
    rng = np.random.default_rng(0)
    x = rng.random((40, 50), dtype=np.float32)
    y = gaussian_blur(x, 1.5)
    assert y.shape == x.shape
    assert abs(y.mean() - x.mean()) < 0.01 and y.std() < 0.6 * x.std()
    assert gaussian_blur(x, 0.0) is x


# --- face-patch metric ---------------------------------------------------------------------------
def _skin_lab(h=100, w=100) -> np.ndarray:
    out = np.zeros((h, w, 3), dtype=np.float32)
    out[..., 0], out[..., 1], out[..., 2] = 60.0, 14.0, 18.0  # a warm skin tone
    return out


def test_off_skin_share_counts_cool_pixels_in_the_middle_of_the_box():
    from colorize_cli import faces

    box = (0, 0, 100, 100)  # middle: x 20..80, y 25..91
    lab_img = _skin_lab()
    assert faces.off_skin_share(lab_img, box) == 0.0 and faces.skin_toned(lab_img, box)
    blue = lab_img.copy()
    blue[40:60, 30:50, 2] = -10.0  # a blue patch inside the middle
    share = faces.off_skin_share(blue, box)
    assert share == pytest.approx(400 / (66 * 60), rel=1e-6)
    green = lab_img.copy()
    green[40:60, 30:50, 1] = -6.0
    assert faces.off_skin_share(green, box) == pytest.approx(share)
    outside = lab_img.copy()
    outside[0:20, :, 2] = -10.0  # forehead band: outside the measured middle
    assert faces.off_skin_share(outside, box) == 0.0
    dark = blue.copy()
    dark[..., 0] = 10.0  # too dark to judge (L* <= 15)
    assert faces.off_skin_share(dark, box) == 0.0


def test_count_patched_and_eligibility():
    from colorize_cli import faces

    box = (0, 0, 100, 100)
    pred = _skin_lab()
    assert faces.count_patched(pred, [box]) == faces.FaceCount(1, 0)
    pred[30:90, 20:80, 2] = -5.0  # most of the middle blue
    assert faces.count_patched(pred, [box, box]) == faces.FaceCount(2, 2)
    gray_orig = _skin_lab()
    gray_orig[..., 1:] = 0.0  # a gray original is not skin-toned: the face is not counted
    assert not faces.skin_toned(gray_orig, box)


def _astronaut() -> np.ndarray:
    """scikit-image's bundled NASA portrait of Eileen Collins (public domain; no download)."""
    data = pytest.importorskip("skimage.data")
    return data.astronaut()


def test_haar_cascade_finds_a_frontal_face():
    pytest.importorskip("cv2")
    from colorize_cli import faces

    rgb = _astronaut()
    L = lab.rgb_to_lab(rgb / 255.0)[..., 0]
    found = faces.detect_faces(L)
    assert len(found) == 1
    assert faces.eligible_faces(lab.rgb_to_lab(rgb / 255.0)) == found
    for x, y, w, h in found:
        assert w >= faces.MIN_FACE and 0 <= x and x + w <= L.shape[1] and y + h <= L.shape[0]
    assert faces.detect_faces(np.full((200, 200), 50.0, dtype=np.float32)) == []


def test_evaluate_counts_faces_and_the_degraded_view_compares_colour_only(tmp_path):
    pytest.importorskip("cv2")
    pytest.importorskip("skimage")
    from colorize_cli.evaluation import center_crop, evaluate_files, load_rgb

    Image.fromarray(_astronaut()).save(tmp_path / "portrait.png")
    files = [tmp_path / "portrait.png"]
    crop = 512
    orig = center_crop(load_rgb(files[0]), crop)
    true_ab = lab.rgb_to_lab(orig / 255.0)[..., 1:]

    class Fixed:
        config = SimpleNamespace(default_size=crop, stride=32)

        def __init__(self, ab):
            self.ab = ab

        def predict(self, L):
            return lab.normalize_ab(self.ab).transpose(2, 0, 1)[None].astype(np.float32)

    oracle = evaluate_files(files, Fixed(true_ab), crop=crop, faces=True, degraded=True).summary()["model"]
    assert oracle["faces"] >= 1 and oracle["faces_patched"] == 0
    assert oracle["psnr"] > 35  # the degraded view's reference is the aged L* with the true colours
    blue = np.zeros_like(true_ab)
    blue[..., 1] = -30.0
    # The same views as the oracle's: the old-print view's draw follows the file's path (a tmp path),
    # and a face may be found in the aged copy of one draw and not another's.
    bad = evaluate_files(files, Fixed(blue), crop=crop, faces=True, degraded=True).summary()["model"]
    assert bad["faces"] == oracle["faces"] and bad["faces_patched"] == bad["faces"]


# --- the source-disjoint split -------------------------------------------------------------------
def _folder_with_manifest(root: Path, rows: list[tuple[str, str]]) -> Path:
    root.mkdir(parents=True)
    with open(root / "MANIFEST.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "source_package", "license"])
        for i, (name, source) in enumerate(rows):
            make_photo(40, 40, i).save(root / name)
            w.writerow([name, source, "CC0-1.0"])
    return root


def test_source_split_holds_out_whole_packages(tmp_path):
    pytest.importorskip("torch")
    from colorize_cli.training.data import list_images, source_held_out, split_source

    sources = [f"pkg{i}" for i in range(12)]
    a = _folder_with_manifest(tmp_path / "a", [(f"a{i}.png", s) for i, s in enumerate(sources)])
    b = _folder_with_manifest(tmp_path / "b", [(f"b{i}.png", "npm:" + s) for i, s in enumerate(sources)])
    (a / "stray.png").write_bytes((a / "a0.png").read_bytes())  # no manifest row: its own source
    train, val = split_source(list_images([a, b]), mod=3, rem=0)
    held = {s for s in sources if int(hashlib.sha256(s.encode()).hexdigest(), 16) % 3 == 0}
    assert held and held != set(sources)
    assert {p.name for p in val} - {"stray.png"} == {f"{d}{i}.png" for d in "ab" for i, s in enumerate(sources) if s in held}
    assert ("stray.png" in {p.name for p in val}) == source_held_out("stray.png", 3, 0)
    assert not {p.name for p in train} & {p.name for p in val}
    assert len(train) + len(val) == 25


def test_frozen_encoder_and_ema_and_aged_inputs_train(tmp_path):
    torch = pytest.importorskip("torch")
    from colorize_cli.checkpoint import read_checkpoint
    from colorize_cli.training.config import preset_config
    from colorize_cli.training.trainer import Trainer
    from tests.test_training import TINY_MOBILE, make_photos

    data = make_photos(tmp_path / "photos", n=6)
    cfg = preset_config(
        "default", **dict(TINY_MOBILE, data_dirs=(str(data),), split="random", val_fraction=0.25, batch_size=2,
                          epochs=1, num_workers=0, device="cpu", threads=1, warmup_epochs=0,
                          encoder_lr_mult=0.0, ema_decay=0.9, degrade_p=1.0, val_size=64),
    )
    tr = Trainer(cfg, tmp_path / "run", progress=False, log=lambda m: None)
    rgb, L_in = next(iter(tr.loader))
    assert rgb.dtype == torch.uint8 and L_in.shape == (2, 1, 64, 64) and L_in.dtype == torch.float32
    clean_L = torch.from_numpy(lab.rgb_to_lab(rgb.permute(0, 2, 3, 1).numpy() / 255.0)[..., 0])
    assert (L_in[:, 0] - clean_L).abs().mean() > 0.5  # aged inputs, not the crops' own L*
    enc_before = {k: v.clone() for k, v in tr.G_raw.stages.state_dict().items()}
    head_before = tr.G_raw.head.weight.detach().clone()
    tr.train_step((rgb, L_in), gan=True)
    tr.train_step((rgb, L_in), gan=True)
    for k, v in tr.G_raw.stages.state_dict().items():
        assert torch.equal(v, enc_before[k]), k  # frozen: weights and BatchNorm statistics
    assert not torch.equal(tr.G_raw.head.weight, head_before)
    tr.run()
    ck = read_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    ema_head, train_head = ck["generator"]["head.weight"], ck["generator_train"]["head.weight"]
    assert not torch.equal(ema_head, train_head)  # shipped weights are the average
    assert torch.equal(train_head, tr.G_raw.head.weight.detach())


def test_flip_averaging_is_the_mean_of_both_mirrors():
    from colorize_cli.evaluation import FlipAveraged

    class LeftBright:
        config = SimpleNamespace(default_size=32, stride=32)

        def predict(self, L):
            out = np.zeros((L.shape[0], 2) + L.shape[2:], dtype=np.float32)
            out[..., : L.shape[-1] // 2] = 0.4  # paints the left half, whatever the input
            return out

    L = np.zeros((1, 1, 8, 8), dtype=np.float32)
    got = FlipAveraged(LeftBright()).predict(L)
    assert got.shape == (1, 2, 8, 8) and np.allclose(got, 0.2)


def test_colour_rebalancing_weighs_rare_colours_up_and_keeps_the_scale():
    torch = pytest.importorskip("torch")
    from colorize_cli.training.losses import AB_RANGE, ColourRebalancedL1, rebalance_weights

    g = torch.Generator().manual_seed(0)
    dull = torch.randn(9000, 2, generator=g) * 4
    vivid = torch.randn(1000, 2, generator=g) * 4 + torch.tensor([45.0, 50.0])
    samples = torch.cat([dull, vivid])
    loss = ColourRebalancedL1(rebalance_weights(samples, mix=0.5))
    as_map = (samples / AB_RANGE).t().reshape(1, 2, -1, 1)
    w = loss.pixel_weights(as_map).flatten()
    assert w.mean().item() == pytest.approx(1.0, rel=0.05)  # the plain L1's scale, on the data
    assert w[9000:].mean() > 3 * w[:9000].mean()
    plain = ColourRebalancedL1(rebalance_weights(samples, mix=1.0))
    assert torch.allclose(plain.pixel_weights(as_map), torch.ones(1))
    pred, target = torch.zeros(1, 2, 4, 4), torch.full((1, 2, 4, 4), 0.1)
    assert plain(pred, target).item() == pytest.approx(0.1)


def test_the_models_chroma_gain_scales_colour_in_the_api_and_the_cli(tiny_models, photo_dir, tmp_path):
    pytest.importorskip("torch")
    from click.testing import CliRunner

    from colorize_cli.checkpoint import generator_only, read_checkpoint, save_checkpoint
    from colorize_cli.cli import main

    torch = pytest.importorskip("torch")
    ckpt = read_checkpoint(tiny_models["pt"])
    ckpt["generator"]["head.weight"] = torch.zeros_like(ckpt["generator"]["head.weight"])
    ckpt["generator"]["head.bias"] = torch.tensor([0.12, 0.1])  # a flat, in-gamut colour everywhere
    flat, boosted = tmp_path / "flat.pt", tmp_path / "boosted.pt"
    save_checkpoint(flat, generator_only(ckpt))
    save_checkpoint(boosted, generator_only(ckpt, chroma_gain=1.5))

    def chroma(folder: Path) -> float:
        rgb = np.asarray(Image.open(folder / "b.png").convert("RGB"), dtype=np.float32) / 255.0
        return float(np.hypot(*lab.rgb_to_lab(rgb)[..., 1:].transpose(2, 0, 1)).mean())

    results = {}
    for name, model in (("plain", flat), ("boosted", boosted)):
        out = tmp_path / name
        res = CliRunner().invoke(main, [str(photo_dir), "-o", str(out), "--backend", "torch", "--model", str(model),
                                        "--precision", "fp32"], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        results[name] = chroma(out)
    assert results["plain"] > 5 and results["boosted"] / results["plain"] == pytest.approx(1.5, rel=0.03)

    from colorize_cli.pipeline import colorize_array

    class Flat:
        def __init__(self, gain):
            self.config = SimpleNamespace(default_size=32, stride=32, chroma_gain=gain)

        def predict(self, L):
            out = np.zeros((L.shape[0], 2) + L.shape[2:], dtype=np.float32)
            out[:, 0], out[:, 1] = 0.1, 0.08
            return out

    L = np.full((20, 30), 55.0, dtype=np.float32)
    ab = {g: lab.rgb_to_lab(colorize_array(L, Flat(g)) / 255.0)[..., 1:].mean(axis=(0, 1)) for g in (1.0, 2.0)}
    assert np.allclose(ab[2.0], 2 * ab[1.0], rtol=0.03)
