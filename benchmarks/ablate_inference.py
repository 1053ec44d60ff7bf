"""Inference-side variants of the model card's ablation, measured the CLI's way (``evaluate --crop 256``).

    python benchmarks/ablate_inference.py MODEL[,MODEL...] --size 192 --gain 1.0 --gain 1.2 \
        [--curve 0.3,20] [--tint 0.8,1.2] [--files docs/val_files_source.txt] [--degraded]

Each row: one chroma treatment of the prediction, over the listed photos (paths relative to the
checkout; the source-disjoint split by default). Several models separated by commas are an
ensemble: their normalized a*b* averaged (the network's cost times their number). ``--curve K,C0``
scales a*b* by ``1 + K * c / (c + C0)`` where ``c`` is the predicted chroma in ab units: more
colour where the model already predicts colour, none added to near-neutral pixels. ``--tint T,S``
scales the photo's mean a*b* (its global tint) by ``T`` and each pixel's difference from it by ``S``.
Training checkpoints carry their training crop as default size, so always give ``--size``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from colorize_cli.backends import open_backend  # noqa: E402
from colorize_cli.evaluation import evaluate_files, resolve_listed  # noqa: E402
from colorize_cli.jobs import read_file_list  # noqa: E402
from colorize_cli.lab import AB_SCALE  # noqa: E402


class Treated:
    """The mean prediction of ``engines`` (normalized ab, ``(N, 2, H, W)``), times a gain, a chroma curve
    or a tint scaling."""

    def __init__(self, engines, gain: float = 1.0, curve: tuple[float, float] | None = None,
                 tint: tuple[float, float] | None = None) -> None:
        self.engines, self.config = engines, engines[0].config
        self.gain, self.curve, self.tint = np.float32(gain), curve, tint

    def predict(self, L: np.ndarray) -> np.ndarray:
        ab = sum(e.predict(L) for e in self.engines) / np.float32(len(self.engines))
        if self.curve is not None:
            k, c0 = self.curve
            chroma = np.sqrt((ab**2).sum(axis=1, keepdims=True)) * np.float32(AB_SCALE)
            ab = ab * (1 + k * chroma / (chroma + c0))
        if self.tint is not None:
            mean = ab.mean(axis=(2, 3), keepdims=True)
            ab = self.tint[0] * mean + self.tint[1] * (ab - mean)
        return (ab * self.gain).astype(np.float32)

    def describe(self) -> str:
        return f"{len(self.engines)} model(s), gain {self.gain:g}, curve {self.curve}, tint {self.tint}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", help="model files (.pt or .onnx), comma-separated for an ensemble")
    ap.add_argument("--size", type=int, required=True, help="the network's inference size (the CLI's --size)")
    ap.add_argument("--gain", type=float, action="append", help="chroma gains to try (default 1.0)")
    ap.add_argument("--curve", action="append", default=[], help="K,C0 chroma curves to try")
    ap.add_argument("--tint", action="append", default=[],
                    help="T,S: a*b* = T x the photo's mean + S x the rest (the tint and the local colour scaled apart)")
    ap.add_argument("--files", type=Path, default=ROOT / "docs" / "val_files_source.txt")
    ap.add_argument("--degraded", action="store_true", help="the old-print view")
    args = ap.parse_args()

    with open(args.files, encoding="utf-8") as fh:
        files = resolve_listed(read_file_list(fh, null=False), bases=[ROOT])
    engines = [open_backend("auto", m, device="cpu", threads=1) for m in args.models.split(",")]
    variants = [Treated(engines, gain=g) for g in (args.gain or [1.0])]
    variants += [Treated(engines, curve=tuple(float(x) for x in c.split(","))) for c in args.curve]
    variants += [Treated(engines, tint=tuple(float(x) for x in t.split(","))) for t in args.tint]
    for variant in variants:
        summary = evaluate_files(files, variant, crop=256, size=args.size, faces=True, degraded=args.degraded).summary()
        model, gray = summary["model"], summary["gray_baseline"]
        print(f"{variant.describe()}: PSNR {model['psnr']:.2f} ({model['psnr'] - gray['psnr']:+.2f} vs gray) "
              f"SSIM {model['ssim']:.4f} CF {100 * model['cf_ratio']:.0f}% "
              f"faces patched {model.get('faces_patched', '-')}/{model.get('faces', '-')}", flush=True)


if __name__ == "__main__":
    main()
