"""How much of a model's PSNR gap is the photo's global tint (its mean a*b*), and can it be predicted?

    python benchmarks/tint_oracle.py [--model colorize_cli/assets/default.pt] [--size 192] [--probe]

On the source-disjoint split's 256-px centre crops (as ``evaluate --crop 256``), each photo's PSNR for:

* ``gray``: the photo's own L* alone;
* ``model``: the model's colours, the CLI's way;
* ``true mean only``: every pixel given the original's mean a*b* (an oracle: one tint per photo, no
  spatial colour at all);
* ``model, true mean``: the model's colours shifted so their mean is the original's (the oracle
  again, on top of the model's spatial colour);
* ``true a*b* at SIZE/2 px``: the original's own a*b* at the model's ab resolution, upsampled
  bilinearly (what that resolution alone costs).

It also prints how the model's per-photo mean a*b* follows the originals' (correlation, spread).

``--probe`` also fits a ridge regression, on 2 random crops of each training photo (every photo of
the collection's four folders that is not in the split), from frozen ImageNet MobileNetV2 features of
the gray crop plus the model's own mean a*b* to the true mean, and reports the model with its mean
replaced by the probe's, fully and halfway. It needs the ImageNet weights in the torch hub cache
(``python -m colorize_cli.training.provision_weights``) and ``--photos`` (default ../shared/data/photos).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from colorize_cli import lab, metrics  # noqa: E402
from colorize_cli.backends import open_backend  # noqa: E402
from colorize_cli.evaluation import center_crop, find_photos, load_rgb, resolve_listed  # noqa: E402
from colorize_cli.jobs import read_file_list  # noqa: E402
from colorize_cli.pipeline import colorize_array  # noqa: E402

FOLDERS = ("train", "people", "extra_scenes", "extra_people")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two sRGB images in [0, 1]."""
    return metrics.psnr(a, b, data_range=1.0)


def compose(L: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] from L* ``(H, W)`` and a*b* ``(H, W, 2)`` (or ``(2,)``, one tint)."""
    ab = np.broadcast_to(ab, (*L.shape, 2))
    return np.clip(lab.lab_to_rgb(np.dstack([L, ab]).astype(np.float32)), 0.0, 1.0)


class Photo:
    """One 256-px crop: its L*, true a*b*, and the model's a*b* (read back from the CLI's output)."""

    def __init__(self, rgb8: np.ndarray, backend, size: int) -> None:
        self.size = size
        self.rgb = rgb8.astype(np.float32) / 255
        full = lab.rgb_to_lab(self.rgb)
        self.L, self.ab = full[..., 0], full[..., 1:]
        pred = colorize_array(self.L, backend, size=size)[..., :3].astype(np.float32) / 255
        self.pred_rgb, self.pred_ab = pred, lab.rgb_to_lab(pred)[..., 1:]

    def low_res_ab(self) -> np.ndarray:
        from skimage.transform import resize

        small = resize(self.ab, (self.size // 2, self.size // 2), anti_aliasing=True)
        return resize(small, self.ab.shape, order=1).astype(np.float32)

    def scores(self, probe_mean: np.ndarray | None = None) -> dict[str, float]:
        true_mean, pred_mean = self.ab.mean((0, 1)), self.pred_ab.mean((0, 1))
        rows = {
            "gray": psnr(compose(self.L, np.zeros(2, np.float32)), self.rgb),
            "model": psnr(self.pred_rgb, self.rgb),
            "true mean only": psnr(compose(self.L, true_mean), self.rgb),
            "model, true mean": psnr(compose(self.L, self.pred_ab + (true_mean - pred_mean)), self.rgb),
            f"true a*b* at {self.size // 2} px": psnr(compose(self.L, self.low_res_ab()), self.rgb),
        }
        if probe_mean is not None:
            rows["model, probe's mean"] = psnr(compose(self.L, self.pred_ab + (probe_mean - pred_mean)), self.rgb)
            rows["model, halfway to the probe's"] = psnr(
                compose(self.L, self.pred_ab + 0.5 * (probe_mean - pred_mean)), self.rgb)
        return rows


class Probe:
    """Ridge regression from [ImageNet MobileNetV2 pooled features of the gray crop, model's mean] to the true mean."""

    def __init__(self) -> None:
        import torch
        import torchvision

        self.torch = torch
        self.net = torchvision.models.mobilenet_v2(weights="IMAGENET1K_V1").eval()
        self.norm = (torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def features(self, photo: Photo) -> np.ndarray:
        torch = self.torch
        gray = compose(photo.L, np.zeros(2, np.float32))
        x = torch.from_numpy(np.ascontiguousarray(gray)).permute(2, 0, 1)[None]
        x = torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", antialias=True)
        with torch.no_grad():
            f = self.net.features((x - self.norm[0]) / self.norm[1]).mean((2, 3))[0].numpy()
        return np.r_[f, photo.pred_ab.mean((0, 1))]

    def fit(self, X: np.ndarray, Y: np.ndarray) -> float:
        """Standardize, choose the ridge strength by 5-fold cross-validation, fit; returns the strength."""
        self.mu, self.sd = X.mean(0), X.std(0) + 1e-6
        Z = (X - self.mu) / self.sd
        folds = np.arange(len(Z)) % 5
        best = min(np.logspace(-1, 5, 13), key=lambda a: sum(
            np.abs(self._solve(Z[folds != k], Y[folds != k], a)(Z[folds == k]) - Y[folds == k]).sum() for k in range(5)))
        self.predict = self._solve(Z, Y, best)
        return float(best)

    @staticmethod
    def _solve(Z: np.ndarray, Y: np.ndarray, alpha: float):
        y0 = Y.mean(0)
        w = np.linalg.solve(Z.T @ Z + alpha * np.eye(Z.shape[1]), Z.T @ (Y - y0))
        return lambda Zq: Zq @ w + y0


def random_crops(rgb8: np.ndarray, rng: random.Random, n: int = 2) -> list[np.ndarray]:
    h, w = rgb8.shape[:2]
    out = []
    for _ in range(n):
        s = rng.randint(int(min(h, w) * 0.6), min(h, w))
        y, x = rng.randint(0, h - s), rng.randint(0, w - s)
        out.append(center_crop(rgb8[y:y + s, x:x + s], 256))
    return out


def mean_error(means, photos: list[Photo]) -> float:
    """Mean absolute error of per-photo mean a*b* estimates, in a*b* units."""
    return float(np.mean([np.abs(m - p.ab.mean((0, 1))).mean() for m, p in zip(means, photos, strict=True)]))


def tint_stats(photos: list[Photo]) -> str:
    """How the model's per-photo mean a*b* follows the originals': correlation and spread, per channel."""
    true = np.array([p.ab.mean((0, 1)) for p in photos])
    pred = np.array([p.pred_ab.mean((0, 1)) for p in photos])
    r = [np.corrcoef(true[:, c], pred[:, c])[0, 1] for c in (0, 1)]
    return (f"mean a*b* per photo: correlation with the originals' a* {r[0]:.2f}, b* {r[1]:.2f}; "
            f"spread (std) model {pred.std(0)[0]:.1f} / {pred.std(0)[1]:.1f}, "
            f"originals {true.std(0)[0]:.1f} / {true.std(0)[1]:.1f}; bias {(pred - true).mean(0).round(1)}")


def fit_probe(val: list[Photo], val_files: list[Path], photos: Path, backend, size: int) -> list[np.ndarray]:
    """Fit the probe on the training photos' crops and return its mean a*b* for each validation photo."""
    held_out = {p.resolve() for p in val_files}
    train = [p for d in FOLDERS for p in find_photos(photos / d) if p.resolve() not in held_out]
    probe, rng = Probe(), random.Random(0)
    crops = [Photo(c, backend, size) for p in train for c in random_crops(load_rgb(p), rng)]
    X = np.array([probe.features(c) for c in crops])
    alpha = probe.fit(X, np.array([c.ab.mean((0, 1)) for c in crops]))
    means = [probe.predict(((probe.features(v) - probe.mu) / probe.sd)[None])[0] for v in val]
    print(f"probe: {len(train)} photos, {len(crops)} crops, ridge {alpha:g}; mean |error| of the mean a*b*: "
          f"model {mean_error([v.pred_ab.mean((0, 1)) for v in val], val):.2f}, probe {mean_error(means, val):.2f}")
    return means


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "colorize_cli" / "assets" / "default.pt"))
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--files", type=Path, default=ROOT / "docs" / "val_files_source.txt")
    ap.add_argument("--probe", action="store_true", help="fit and apply the ridge probe of the mean tint")
    ap.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "data" / "photos")
    args = ap.parse_args()

    with open(args.files, encoding="utf-8") as fh:
        val_files = resolve_listed(read_file_list(fh, null=False), bases=[ROOT])
    backend = open_backend("auto", args.model, device="cpu", threads=1)
    val = [Photo(center_crop(load_rgb(p), 256), backend, args.size) for p in val_files]
    probe_means: list[np.ndarray | None] = [None] * len(val)
    if args.probe:
        probe_means = fit_probe(val, val_files, args.photos, backend, args.size)
    print(tint_stats(val))
    rows = [v.scores(m) for v, m in zip(val, probe_means, strict=True)]
    gray = np.mean([r["gray"] for r in rows])
    for key in rows[0]:
        value = np.mean([r[key] for r in rows])
        print(f"{key:32s} PSNR {value:.2f} ({value - gray:+.2f} vs gray)")


if __name__ == "__main__":
    main()
