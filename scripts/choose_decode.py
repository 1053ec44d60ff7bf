"""Choose a model's decode settings on a validation list (maintainers' tool, before bundling).

    python scripts/choose_decode.py CHECKPOINT --files-from docs/val_files_source.txt \
        --anneal-t 0.38,0.5,0.7,1.0 [--chroma-gain 1.0,1.1] [--size 192] [--degraded] [--crop 256]

For each combination it rewrites the checkpoint's generator config in memory (``anneal_t`` of a
classification head; ``chroma_gain``), colorizes each listed photo the way ``colorize-cli evaluate``
does (centre crop, the network at ``--size``, ab upsampled and joined to the photo's own L*) and prints
one table row: PSNR and its gain over gray, SSIM, colourfulness and its ratio to the originals',
and faces patched / counted (with OpenCV).
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

from colorize_cli.backends import open_backend
from colorize_cli.checkpoint import generator_only, read_checkpoint, save_checkpoint
from colorize_cli.evaluation import evaluate_files, resolve_listed


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--files-from", type=Path, required=True)
    ap.add_argument("--anneal-t", type=_floats, default=None)
    ap.add_argument("--chroma-gain", type=_floats, default=[1.0])
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--degraded", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()

    listed = [Path(line.strip()) for line in args.files_from.read_text().splitlines() if line.strip()]
    files = resolve_listed(listed, bases=[Path.cwd(), args.files_from.parent])
    ckpt = read_checkpoint(args.checkpoint)
    temps = args.anneal_t or [None]
    print(f"{len(files)} photos, crop {args.crop}, size {args.size}{', old-print view' if args.degraded else ''}")
    print("| anneal T | chroma gain | PSNR (vs gray) | SSIM | CF (% of originals') | faces patched |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for t, gain in itertools.product(temps, args.chroma_gain):
            variant = generator_only(ckpt, source=args.checkpoint.name, chroma_gain=gain, anneal_t=t)
            path = Path(tmp) / "variant.pt"
            save_checkpoint(path, variant)
            backend = open_backend("torch", path, device="cpu", threads=args.threads, precision="fp32")
            res = evaluate_files(files, backend, size=args.size, crop=args.crop, degraded=args.degraded, faces=True)
            s = res.summary()
            m, g = s["model"], s["gray_baseline"]
            faces = f"{m['faces_patched']} / {m['faces']}" if "faces" in m else "-"
            print(f"| {t if t is not None else '-'} | {gain} | {m['psnr']:.2f} ({m['psnr'] - g['psnr']:+.2f}) | "
                  f"{m['ssim']:.4f} | {m['colorfulness']:.1f} ({100 * m['cf_ratio']:.0f}%) | {faces} |", flush=True)


if __name__ == "__main__":
    main()
