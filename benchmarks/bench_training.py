#!/usr/bin/env python
"""Training throughput (images/s) of colorize_cli.training vs the seed notebook's loop, same machine.

For each preset it times the same nets and the same GAN step (D step + G step, Adam) fed two ways:

* ``seed loop``: the seed's loader (PIL decode from disk per item, bicubic resize to a square,
  flip, ``skimage.color.rgb2lab`` in float64 per sample in the DataLoader workers, no AMP);
* ``ours``: photos decoded once into RAM (uint8), crops/flips in workers, Lab as one batched
  torch op on the device (and AMP/channels_last on CUDA).

Usage: python benchmarks/bench_training.py [--data DIR ...] [--steps 3] [--batch 8] [--presets seed,default]
Run folders go to a temporary directory. Timed: ``--rounds`` alternating rounds of ``--steps`` steps after ``--warmup`` untimed ones (median).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.utils.data import Dataset  # noqa: E402

from colorize_cli.training.config import preset_config  # noqa: E402
from colorize_cli.training.trainer import Trainer  # noqa: E402


class SeedOriginalDataset(Dataset):
    """The seed notebook's loader, unchanged (for the benchmark): PIL decode from disk per item,
    bicubic resize, random flip, ``skimage.color.rgb2lab`` in float64 per sample."""

    def __init__(self, paths: Sequence[Path], size: int = 256) -> None:
        from torchvision import transforms

        self.paths = list(paths)
        self.size = size
        self.transforms = transforms.Compose(
            [transforms.Resize((size, size), Image.BICUBIC), transforms.RandomHorizontalFlip()]
        )

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, idx):
        from skimage.color import rgb2lab
        from torchvision import transforms

        img = Image.open(self.paths[idx]).convert("RGB")
        img = self.transforms(img)
        img = np.array(img)
        img_lab = rgb2lab(img).astype("float32")
        img_lab = transforms.ToTensor()(img_lab)
        L = img_lab[[0], ...] / 50.0 - 1.0
        ab = img_lab[[1, 2], ...] / 110.0
        return {"L": L, "ab": ab}


def _forever(loader):
    while True:
        yield from loader


def _timed(it, step, steps: int, batch_size: int) -> float:
    t = time.perf_counter()
    for _ in range(steps):
        step(next(it))
    return steps * batch_size / (time.perf_counter() - t)


def bench_preset(preset: str, args) -> dict:
    overrides = dict(
        data_dirs=tuple(args.data), batch_size=args.batch, num_workers=args.num_workers, threads=args.threads,
        device=args.device, pretrained_encoder=False, sample_count=0,
    )
    if preset == "default" and args.crop:
        overrides["crop_size"] = args.crop
    cfg = preset_config(preset, **overrides)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        tr = Trainer(cfg, Path(tmp) / "run", progress=False, log=lambda m: None)
        setup_s = time.perf_counter() - t
        # The seed's loop ran in fp32 with the default memory format: on CUDA it gets its own copy of
        # the nets without AMP/channels_last (on CPU those flags change nothing).
        seed_tr = tr
        if tr.device.type == "cuda":
            seed_cfg = cfg.replace(amp=False, channels_last=False, num_workers=0)
            seed_tr = Trainer(seed_cfg, Path(tmp) / "seed-run", progress=False, log=lambda m: None)
        seed_loader = torch.utils.data.DataLoader(
            SeedOriginalDataset(tr.train_paths, size=cfg.crop_size), batch_size=tr.batch_size, shuffle=True,
            num_workers=args.num_workers, pin_memory=tr.device.type == "cuda", drop_last=True,
            persistent_workers=args.num_workers > 0,
        )
        ours_it, seed_it = _forever(tr.loader), _forever(seed_loader)
        n = args.loader_batches  # the data pipelines alone (no training step): is data the bottleneck?
        next(ours_it), next(seed_it)
        ours_data = _timed(ours_it, lambda b: None, n, tr.batch_size)
        seed_data = _timed(seed_it, lambda b: b["L"].to(tr.device), n, tr.batch_size)
        ours_step = lambda rgb: tr.train_step(rgb, gan=True)  # noqa: E731
        seed_step = lambda b: seed_tr.train_step_lab(b["L"], b["ab"], gan=True)  # noqa: E731
        for _ in range(args.warmup):
            ours_step(next(ours_it))
            seed_step(next(seed_it))
        ours, seed = [], []
        for r in range(args.rounds):  # alternate the order: a busy machine biases neither side
            pair = [(ours, ours_it, ours_step), (seed, seed_it, seed_step)]
            for out, it, step in pair if r % 2 == 0 else pair[::-1]:
                out.append(_timed(it, step, args.steps, tr.batch_size))
        if tr.device.type == "cuda":
            torch.cuda.synchronize()
    return {"preset": preset, "arch": cfg.generator.arch, "size": cfg.crop_size, "batch": tr.batch_size,
            "ours": statistics.median(ours), "seed": statistics.median(seed), "setup_s": setup_s,
            "ours_data": ours_data, "seed_data": seed_data,
            "device": str(tr.device)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", nargs="+", default=["/work/shared/data/photos/train"])
    ap.add_argument("--presets", default="seed,default")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2, help="alternating timed rounds per loop (median reported)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--loader-batches", type=int, default=8, help="batches timed for the data-only figures")
    ap.add_argument("--crop", type=int, default=0, help="default preset crop size (0: the preset's 128)")
    ap.add_argument("--num-workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    rows = [bench_preset(p.strip(), args) for p in args.presets.split(",") if p.strip()]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs (load {load:.1f}), {args.threads} threads, "
          f"{args.num_workers} workers, median of {args.rounds} rounds x {args.steps} steps after {args.warmup} warm-up")
    print(f"{'preset':8} {'arch':15} {'size':>4} {'batch':>5} {'device':6} {'seed loop img/s':>15} "
          f"{'ours img/s':>10} {'ratio':>6} {'data only: seed':>15} {'ours':>8} {'RAM decode s':>12}")
    for r in rows:
        print(f"{r['preset']:8} {r['arch']:15} {r['size']:>4} {r['batch']:>5} {r['device']:6} {r['seed']:>15.2f} "
              f"{r['ours']:>10.2f} {r['ours'] / r['seed']:>5.2f}x {r['seed_data']:>15.1f} {r['ours_data']:>8.1f} "
              f"{r['setup_s']:>12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
