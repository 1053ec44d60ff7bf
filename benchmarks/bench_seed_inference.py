"""The seed's inference path vs ours, on the same folder of photo-sized JPEGs.

    python benchmarks/bench_seed_inference.py [--count 100] [--width 1500 --height 1000]

The seed's way (re-created from its notebook): PIL open -> bicubic resize to 256x256 ->
`skimage.color.rgb2lab` -> its 54 M-parameter U-Net on 256x256 -> per-image `lab2rgb` in float64
-> a 256x256 output. Ours: `colorize-cli` with default settings (ONNX backend and the default
model), writing full-resolution outputs. Random weights for the seed's U-Net (speed only).
"""

from __future__ import annotations

import argparse
import re
import shutil
import time

import numpy as np
import torch
from _common import default_models, folder_args, make_folder, run_cli, tempdir
from PIL import Image


def seed_path(files, out_dir) -> float:
    from skimage.color import lab2rgb, rgb2lab

    from colorize_cli.models import GeneratorConfig, build_generator

    net = build_generator(GeneratorConfig(arch="unet")).eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    with torch.no_grad():
        for f in files:
            img = Image.open(f).convert("RGB").resize((256, 256), Image.BICUBIC)
            lab = rgb2lab(np.array(img)).astype("float32")
            L = torch.from_numpy(lab[..., 0])[None, None] / 50.0 - 1.0
            ab = net(L)
            Lab = torch.cat([(L + 1.0) * 50.0, ab * 110.0], dim=1).permute(0, 2, 3, 1).numpy()
            rgb = lab2rgb(Lab[0])
            Image.fromarray((rgb * 255).astype(np.uint8)).save(out_dir / f.name)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    folder_args(ap, 100, models=False)
    args = ap.parse_args()
    work = tempdir("bench_seed_")
    src = make_folder(work / "in", args.count, args.width, args.height)
    files = sorted(src.glob("*.jpg"))[: args.count]
    models = default_models(work)
    seed_s = seed_path(files, work / "seed_out")
    ours = run_cli([src, "-o", work / "ours", "--backend", "onnx", "--model", models["onnx"]])
    # The seed's time starts after its model is built; the CLI's own end line (images/s) likewise
    # starts after the model is loaded. The whole CLI call (model load included) is shown too.
    found = re.search(r"\(([0-9.]+) images/s\)", ours["output"])
    run_s = len(files) / float(found.group(1)) if found else ours["seconds"]
    print(f"{len(files)} JPEGs {args.width}x{args.height}; ours: {models['kind']}")
    print(f"{'path':44} {'images/s':>9} {'output':>12}")
    print(f"{'seed (U-Net 256, skimage lab2rgb), after model':44} {len(files) / seed_s:9.2f} {'256x256':>12}")
    size = f"{args.width}x{args.height}"
    print(f"{'colorize-cli (onnx, defaults), after model':44} {len(files) / run_s:9.2f} {size:>12}")
    print(f"{'colorize-cli, whole call incl. model load':44} {len(files) / ours['seconds']:9.2f} {size:>12}")
    print(f"ours / seed: {seed_s / run_s:.1f}x (whole call: {seed_s / ours['seconds']:.1f}x)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
