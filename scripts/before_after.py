"""Build the README's before/after picture: gray examples above, colorized below.

    colorize-cli examples -o /tmp/colored && python scripts/before_after.py examples /tmp/colored docs/before_after.jpg
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw


def main(gray_dir: Path, color_dir: Path, out: Path, height: int = 180) -> None:
    names = sorted(p.name for p in gray_dir.glob("*.jpg") if (color_dir / p.name).is_file())
    pairs = []
    for name in names:
        g = Image.open(gray_dir / name).convert("RGB")
        c = Image.open(color_dir / name).convert("RGB")
        w = round(g.width * height / g.height)
        pairs.append((g.resize((w, height), Image.Resampling.LANCZOS), c.resize((w, height), Image.Resampling.LANCZOS)))
    pad, label = 6, 18
    width = sum(g.width for g, _ in pairs) + pad * (len(pairs) + 1)
    sheet = Image.new("RGB", (width, 2 * height + 3 * pad + 2 * label), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((pad, pad // 2), "input (grayscale)", fill="black")
    draw.text((pad, height + pad + label + pad // 2), "colorize-cli (bundled model)", fill="black")
    x = pad
    for g, c in pairs:
        sheet.paste(g, (x, pad + label))
        sheet.paste(c, (x, 2 * pad + 2 * label + height))
        x += g.width + pad
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, quality=88)
    print(f"wrote {out} ({sheet.width}x{sheet.height})")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
