"""A contact sheet of old-looking inputs: aged gray input | each model's colours | the original.

    python scripts/old_prints_sheet.py --files-from docs/old_prints_files.txt \
        --model v1=old.onnx --model v2=colorize_cli/assets/default.onnx -o docs/old_prints.jpg

Each photo is centre-cropped to --crop, its L* aged like an old print by the same draw
``colorize-cli evaluate --degraded`` uses (:func:`colorize_cli.evaluation.prepare_input`), and
colorized through the CLI's pipeline by every model given.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

from colorize_cli.backends import open_backend
from colorize_cli.evaluation import center_crop, gray_baseline, load_rgb, prepare_input
from colorize_cli.pipeline import colorize_array


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files-from", type=Path, required=True)
    ap.add_argument("--model", action="append", required=True, metavar="NAME=PATH")
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--thumb", type=int, default=192)
    ap.add_argument("--clean", action="store_true", help="clean (not aged) inputs")
    ap.add_argument("-o", "--out", type=Path, required=True)
    args = ap.parse_args()

    models = [(name, open_backend("auto", path, threads=1)) for name, path in (m.split("=", 1) for m in args.model)]
    files = [Path(line.strip()) for line in args.files_from.read_text(encoding="utf-8").splitlines() if line.strip()]
    titles = ["aged input" if not args.clean else "gray input", *(n for n, _ in models), "original"]
    pad, cap, t = 6, 16, args.thumb
    sheet = Image.new("RGB", (pad + len(titles) * (t + pad), cap + len(files) * (t + cap + pad)), "white")
    draw = ImageDraw.Draw(sheet)
    for c, title in enumerate(titles):
        draw.text((pad + c * (t + pad), 2), title, fill="black")
    for r, path in enumerate(files):
        orig = center_crop(load_rgb(path), args.crop)
        L, _ = prepare_input(orig, str(path), degraded=not args.clean)
        row = [gray_baseline(L), *(colorize_array(L, backend)[..., :3] for _, backend in models), orig]
        y = cap + r * (t + cap + pad)
        draw.text((pad, y + 1), path.name[:60], fill="black")
        for c, img in enumerate(row):
            sheet.paste(Image.fromarray(img).resize((t, t), Image.Resampling.LANCZOS), (pad + c * (t + pad), y + cap))
    sheet.save(args.out, quality=85)
    print(f"wrote {args.out} ({len(files)} photos, {len(models)} models)")


if __name__ == "__main__":
    main()
