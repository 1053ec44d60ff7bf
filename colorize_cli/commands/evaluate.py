"""``colorize-cli evaluate COLOR_PHOTOS_DIR``: measure a model on color photos.

The library part lives in :mod:`colorize_cli.evaluation`; this module is the Click layer.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import click

from colorize_cli.commands.options import (
    EXIT_FAILED,
    EXIT_OK,
    configure_own_process,
    handles_errors,
    model_options,
    verbosity_options,
)
from colorize_cli.imagefile import DEFAULT_MAX_PIXELS


@click.command(
    "evaluate",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  colorize-cli evaluate ./color_photos --crop 256 --out eval
  colorize-cli evaluate --files-from runs/mine/val_files.txt --model runs/mine/checkpoints/best.pt
  colorize-cli evaluate ./color_photos --model mine.onnx --limit 200 --out eval_onnx

\b
Figures (per image, then averaged): PSNR (RGB, 0-255, capped at 100 dB), SSIM (scikit-image,
RGB), colorfulness CF (Hasler & Suesstrunk), delta-CF = |CF(pred) - CF(orig)| and the signed
CF(pred) - CF(orig), AuC of the ab error curve for thresholds 0..150 (Zhang et al. 2016), each
also for the gray baseline (the photo's own L* with a* = b* = 0). With OpenCV: faces patched
(more than 5% of a skin-toned face's middle painted blue, cyan, purple or green) / faces counted.

\b
Exit status: 0 all photos measured, 1 some photos were unreadable (skipped), 2 usage error.""",
)
@click.argument("photos_dir", required=False, type=click.Path(path_type=Path))
@model_options
@click.option("--crop", type=click.IntRange(8, 4096), default=None, metavar="N",
              help="Evaluate the papers' way: center square crop resized (bicubic) to N x N. "
                   "Default: full size.")
@click.option("--files-from", type=click.File("r", encoding="utf-8", errors="surrogateescape"), default=None,
              help="Evaluate the photos listed in FILE, one path per line (e.g. a run's val_files.txt).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Evaluate only the first N photos.")
@click.option("--degraded", is_flag=True,
              help="The old-print view: age each photo's L* (blur, tone curve, faded blacks and whites, "
                   "grain, scan noise, JPEG; the same for a photo whatever the model) before colorizing, and "
                   "compare with the aged L* joined to the original's colours.")
@click.option("--saturation", type=click.FloatRange(0.0, 2.0), default=1.0, show_default=True,
              help="Colour strength, as the colorize command's --saturation.")
@click.option("--tta", type=click.Choice(["none", "flip"]), default="none", show_default=True,
              help="flip: average the prediction with that of the mirrored photo (twice the network's "
                   "cost; for comparing, the colorize command does not use it).")
@click.option("--faces/--no-faces", default=None,
              help="Count frontal faces (skin-toned in the original) and those with more than 5% of "
                   "their skin blue, cyan, purple or green. Needs OpenCV; default: on when it is installed.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Write metrics.json, per_image.csv and contact_sheet.png here (default: print only).")
@click.option("--sheet-rows", type=click.IntRange(1, 1000), default=24, show_default=True,
              help="Rows in the contact sheet (photos chosen evenly).")
@click.option("--max-pixels", type=click.IntRange(1), default=DEFAULT_MAX_PIXELS, show_default=True,
              help="Skip images with more pixels (decompression-bomb guard).")
@verbosity_options
@handles_errors
def evaluate_command(
    photos_dir: Path | None,
    model: Path | None,
    backend: str,
    device: str,
    size: int | None,
    threads: int | None,
    precision: str,
    crop: int | None,
    files_from,
    limit: int | None,
    degraded: bool,
    saturation: float,
    tta: str,
    faces: bool | None,
    out_dir: Path | None,
    sheet_rows: int,
    max_pixels: int,
    quiet: bool,
    verbose: bool,
) -> None:
    """Measure a model on COLOR_PHOTOS_DIR: each photo is turned gray, colorized and compared
    with the original, next to a gray (no color) baseline.

    Photos are found recursively in sorted order; --files-from FILE adds (or replaces) a list.
    """
    from rich.console import Console

    from colorize_cli.backends import has_package, open_backend
    from colorize_cli.commands.colorize import printable
    from colorize_cli.errors import UsageError
    from colorize_cli.evaluation import evaluate_files, find_photos, resolve_listed
    from colorize_cli.jobs import read_file_list

    if not has_package("skimage"):
        raise UsageError('evaluate needs scikit-image for SSIM: pip install "colorize-cli[dev]" '
                         "(or pip install scikit-image)")
    from colorize_cli import faces as face_metric

    if faces and not face_metric.available():
        raise UsageError("--faces needs OpenCV: pip install 'opencv-python-headless<5' "
                         '(in the "colorize-cli[train]" and "[dev]" extras)')
    if faces is None:
        faces = face_metric.available()
    if photos_dir is None and files_from is None:
        raise UsageError("give a COLOR_PHOTOS_DIR or --files-from FILE; see --help")
    files: list[Path] = []
    names: list[str] = []
    if photos_dir is not None:
        found = find_photos(photos_dir)
        files += found
        names += [str(p.relative_to(photos_dir)) for p in found]
    if files_from is not None:
        bases = [photos_dir] if photos_dir is not None else []
        list_name = getattr(files_from, "name", "-")
        if list_name not in ("-", "<stdin>"):
            bases.append(Path(list_name).parent)
        listed = resolve_listed(read_file_list(files_from, null=False), bases=bases)
        files += listed
        names += [str(p) for p in listed]
    if not files:
        where = photos_dir if photos_dir is not None else getattr(files_from, "name", "the list")
        raise UsageError(f"no images found in {where} (suffixes: jpg, jpeg, png, tif, tiff, bmp, webp)")
    if limit:
        files, names = files[:limit], names[:limit]

    console = Console(stderr=True, highlight=False)
    configure_own_process()
    engine = open_backend(backend, model, device=device, threads=threads, precision=precision)
    if tta == "flip":
        from colorize_cli.evaluation import FlipAveraged

        engine = FlipAveraged(engine)
    if not quiet:
        console.print(printable(f"evaluating {len(files)} photos [{engine.describe()}]"), markup=False, soft_wrap=True)

    def on_result(name, score, error):
        if error is not None:
            console.print(printable(f"FAILED  {name}: {error}"), markup=False, soft_wrap=True)
        elif not quiet and verbose:
            console.print(printable(f"ok      {name}  PSNR {score.values['psnr']:.2f}"), markup=False, soft_wrap=True)

    options = {
        "photos_dir": str(photos_dir) if photos_dir is not None else None,
        "files_from": getattr(files_from, "name", None),
        "limit": limit, "backend": backend, "device": device, "tta": tta,
        "precision": precision, "engine_precision": getattr(engine, "precision", None),
        "model": str(model) if model is not None else None,
        "effective_size": size or engine.config.default_size,
    }
    result = evaluate_files(files, engine, size=size, crop=crop, names=names, sheet_rows=sheet_rows,
                            max_pixels=max_pixels, degraded=degraded, faces=faces, saturation=saturation,
                            options=options,
                            on_result=on_result)
    Console(highlight=False).print(summary_table(result))
    if result.failed:
        console.print(f"{len(result.failed)} of {len(files)} photos could not be read (skipped)", markup=False, soft_wrap=True)
    if out_dir is not None:
        written = result.write(out_dir)
        if not quiet:
            console.print(printable("wrote " + ", ".join(str(p) for p in written)), markup=False, soft_wrap=True)
    sys.exit(EXIT_FAILED if result.failed else EXIT_OK)


def summary_table(result):
    """A rich table: model vs gray baseline vs originals."""
    from rich.table import Table

    summ = result.summary()
    model, gray, orig = summ["model"], summ["gray_baseline"], summ["originals"]

    def f(v, digits=2):
        return "-" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"

    crop = result.options.get("crop")
    view = ", degraded (old-print) view" if result.options.get("degraded") else ""
    # The network's size moves every figure; a training checkpoint defaults to its crop size, not
    # to the bundled model's, so the table says which one was measured.
    size = result.options.get("effective_size")
    net = f", network at {size} px" if size else ""
    table = Table(title=f"{result.count} photos, {'center crop ' + str(crop) if crop else 'full size'}{net}{view}")
    table.add_column("metric")
    for name in ("model", "gray baseline", "originals"):
        table.add_column(name, justify="right")
    table.add_row("PSNR (dB)", f(model["psnr"]), f(gray["psnr"]), "")
    table.add_row("SSIM", f(model["ssim"], 4), f(gray["ssim"], 4), "")
    table.add_row("AuC ab error", f(model["auc"], 4), f(gray["auc"], 4), "")
    table.add_row("ab L1", f(model["ab_l1"]), f(gray["ab_l1"]), "")
    table.add_row("colorfulness CF", f(model["colorfulness"]), f(gray["colorfulness"]), f(orig["colorfulness"]))
    table.add_row("delta-CF |pred-orig|", f(model["delta_cf"]), f(gray["delta_cf"]), "")
    table.add_row("CF pred-orig (signed)", f(model["cf_diff"]), f(gray["cf_diff"]), "")
    table.add_row("CF ratio pred/orig", f(model["cf_ratio"], 3), f(gray["cf_ratio"], 3), "1.000")
    if "faces" in model:
        table.add_row("faces patched / counted", f"{model['faces_patched']} / {model['faces']}", "", "")
    return table
