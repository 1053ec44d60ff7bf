"""Measure a colorization model on color photos: gray -> colorize -> compare with the original.

For each photo: its L* is colorized through the same pipeline as the CLI
(:func:`colorize_cli.pipeline.colorize_array`) and the result is compared with the original by
the metrics of :mod:`colorize_cli.metrics` (PSNR, SSIM, colorfulness, delta-CF, ab AuC). A gray
baseline (the photo's own L* with a* = b* = 0, quantized to uint8 like the prediction) is measured
the same way, so a model can be judged against "doing nothing".

``crop`` evaluates the papers' way (center square, bicubic resize to ``crop x crop``); without it
photos are evaluated at full size.

``degraded`` is the old-print view: each photo's L* is "aged" (:mod:`colorize_cli.degrade`, the
same draw for a photo whatever the model) before it is colorized, and the reference is the aged L*
with the original's a*b*, so the figures still measure colour only. ``faces`` adds the face-patch
count of :mod:`colorize_cli.faces` (needs OpenCV).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from colorize_cli import lab, metrics
from colorize_cli.errors import InputError, UsageError
from colorize_cli.imagefile import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES
from colorize_cli.pipeline import colorize_array

PSNR_CAP = 100.0  # dB; identical images (infinite PSNR) count as this in means and files
THUMB_HEIGHT = 160

# Per-image figures, in CSV column order (after file, width, height).
PER_IMAGE_FIELDS = (
    "psnr", "ssim", "cf_pred", "cf_orig", "delta_cf", "cf_diff", "auc", "ab_l1",
    "psnr_gray", "ssim_gray", "cf_gray", "delta_cf_gray", "cf_diff_gray", "auc_gray", "ab_l1_gray",
    "faces", "faces_patched",
)


@dataclass
class ImageScore:
    """The figures for one photo (``ssim`` is NaN for photos under 7 px a side)."""

    name: str
    width: int
    height: int
    values: dict[str, float]

    def row(self) -> dict[str, object]:
        return {"file": self.name, "width": self.width, "height": self.height,
                **{k: _round(self.values[k]) for k in PER_IMAGE_FIELDS}}


@dataclass
class EvalResult:
    """What :func:`evaluate_files` measured."""

    scores: list[ImageScore]
    failed: list[tuple[str, str]]  # (name, reason)
    options: dict[str, object]
    model_description: str
    thumbs: dict[int, tuple[str, Image.Image, Image.Image, Image.Image, str]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.scores)

    def mean(self, key: str) -> float:
        vals = np.array([s.values[key] for s in self.scores], dtype=np.float64)
        vals = vals[np.isfinite(vals)]
        return float(vals.mean()) if vals.size else math.nan

    def summary(self) -> dict[str, object]:
        """The means: model, gray baseline, originals, and the CF ratio."""
        cf_orig = self.mean("cf_orig")
        cf_pred = self.mean("cf_pred")
        model = {k: self.mean(k) for k in ("psnr", "ssim", "delta_cf", "cf_diff", "auc", "ab_l1")}
        model["colorfulness"] = cf_pred
        model["cf_ratio"] = cf_pred / cf_orig if cf_orig > 0 else math.nan
        gray = {k: self.mean(f"{k}_gray") for k in ("psnr", "ssim", "delta_cf", "cf_diff", "auc", "ab_l1")}
        gray["colorfulness"] = self.mean("cf_gray")
        gray["cf_ratio"] = gray["colorfulness"] / cf_orig if cf_orig > 0 else math.nan
        if self.options.get("faces"):
            model["faces"] = self.total("faces")
            model["faces_patched"] = self.total("faces_patched")
        return {"model": model, "gray_baseline": gray, "originals": {"colorfulness": cf_orig}}

    def total(self, key: str) -> int:
        """The sum of a count field (faces, faces_patched) over the photos that have it."""
        vals = np.array([s.values.get(key, math.nan) for s in self.scores], dtype=np.float64)
        return int(vals[np.isfinite(vals)].sum())

    def metrics_json(self) -> dict[str, object]:
        return _jsonable({
            **self.summary(),
            "counts": {"images": self.count, "failed": len(self.failed),
                       "total": self.count + len(self.failed)},
            "options": self.options,
            "model_description": self.model_description,
            "psnr_cap_db": PSNR_CAP,
            "failed": [{"file": n, "error": e} for n, e in self.failed],
        })

    def write(self, out_dir: Path) -> list[Path]:
        """Write ``metrics.json``, ``per_image.csv`` and ``contact_sheet.png`` into ``out_dir``."""
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = [out_dir / "metrics.json", out_dir / "per_image.csv", out_dir / "contact_sheet.png"]
        paths[0].write_text(json.dumps(self.metrics_json(), indent=2, ensure_ascii=False) + "\n",
                            encoding="utf-8", errors="backslashreplace")
        with open(paths[1], "w", newline="", encoding="utf-8", errors="backslashreplace") as fh:
            writer = csv.DictWriter(fh, fieldnames=["file", "width", "height", *PER_IMAGE_FIELDS])
            writer.writeheader()
            for s in self.scores:
                writer.writerow(s.row())
        contact_sheet([self.thumbs[i] for i in sorted(self.thumbs)]).save(paths[2])
        return paths


def _round(v: float) -> float | str:
    return "" if not math.isfinite(v) else round(float(v), 5)


def _jsonable(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


# --- finding photos --------------------------------------------------------------------------------
def find_photos(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursively, in sorted order (:func:`colorize_cli.jobs.walk_folder`)."""
    from colorize_cli.jobs import walk_folder

    if not folder.is_dir():
        raise UsageError(f"no such folder: {folder}")
    return list(walk_folder(folder))


def resolve_listed(items: Iterable[Path], *, bases: Sequence[Path]) -> list[Path]:
    """``--files-from`` entries: relative paths that do not exist from the working folder are
    tried against each of ``bases`` in turn (the photos folder, the list file's folder)."""
    out = []
    for p in items:
        if not p.is_absolute() and not p.exists():
            for base in bases:
                if (base / p).exists():
                    p = base / p
                    break
        out.append(p)
    return out


# --- one photo -------------------------------------------------------------------------------------
def load_rgb(path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A photo as ``(H, W, 3)`` uint8 sRGB (orientation applied, ICC-tagged RGB converted)."""
    from colorize_cli.imagefile import _apply_orientation, _to_srgb_if_tagged, require_regular_file

    notes: list[str] = []
    try:
        require_regular_file(path)
        with Image.open(path) as im:
            if im.width * im.height > max_pixels:
                raise InputError(f"refused: {im.width}x{im.height} exceeds {max_pixels} pixels")
            im.load()
            im = _apply_orientation(im, notes)
            if im.mode.startswith("I;16") or im.mode == "I":
                im = Image.fromarray((np.clip(np.asarray(im), 0, 65535) // 257).astype(np.uint8), "L")
            if im.mode != "RGB":
                im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
                if im.mode == "RGBA":  # composite on white, as a print would be
                    bg = Image.new("RGB", im.size, (255, 255, 255))
                    bg.paste(im, mask=im.getchannel("A"))
                    im = bg
            im = _to_srgb_if_tagged(im, notes)
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError("file not found") from None
    except Exception as exc:  # noqa: BLE001 - any decoding problem skips the photo
        raise InputError(f"unreadable image ({type(exc).__name__}: {exc})") from None


def center_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """Center square crop, resized to ``size x size`` with bicubic (the papers' evaluation)."""
    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    im = Image.fromarray(np.ascontiguousarray(rgb[top : top + side, left : left + side]), "RGB")
    if side != size:
        im = im.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(im, dtype=np.uint8)


def gray_baseline(L: np.ndarray) -> np.ndarray:
    """The photo's own L* with zero chroma, as uint8 sRGB (quantized like the prediction)."""
    rgb = lab.lab_to_rgb_preserving_l(L, np.zeros(L.shape + (2,), dtype=np.float32))
    return (rgb * 255.0 + 0.5).astype(np.uint8)


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    if min(a.shape[:2]) < 7:  # scikit-image's 7x7 window does not fit
        return math.nan
    return metrics.ssim(a, b)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return min(metrics.psnr(a, b), PSNR_CAP)


def score_pair(pred: np.ndarray, gray: np.ndarray | None, orig: np.ndarray) -> dict[str, float]:
    """All per-image figures for a prediction and the gray baseline against the original (uint8 RGB).

    ``gray=None`` scores the prediction alone (no ``*_gray`` keys), for callers that measure the
    baseline once rather than with every prediction.
    """
    ab_true = lab.rgb_to_lab(orig / 255.0)[..., 1:]
    cf_orig = metrics.colorfulness(orig)
    values = {"cf_orig": cf_orig}
    for suffix, img in (("", pred), ("_gray", gray)):
        if img is None:
            continue
        ab = lab.rgb_to_lab(img / 255.0)[..., 1:]
        cf = metrics.colorfulness(img)
        values.update({
            f"psnr{suffix}": _psnr(img, orig),
            f"ssim{suffix}": _ssim(img, orig),
            ("cf_pred" if not suffix else "cf_gray"): cf,
            f"delta_cf{suffix}": abs(cf - cf_orig),
            f"cf_diff{suffix}": cf - cf_orig,
            f"auc{suffix}": metrics.auc_ab_error(ab, ab_true),
            f"ab_l1{suffix}": metrics.ab_l1(ab, ab_true),
        })
    return values


class FlipAveraged:
    """Test-time augmentation for the ablation: the mean of the prediction and of the mirrored
    prediction of the mirrored input (twice the network's cost). ``predict`` maps ``(N, 1, H, W)``
    normalized L to ``(N, 2, H, W)`` normalized ab, like the backend it wraps."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.config = backend.config
        self.precision = getattr(backend, "precision", None)

    def predict(self, L: np.ndarray) -> np.ndarray:
        mirrored = self.backend.predict(np.ascontiguousarray(L[..., ::-1]))[..., ::-1]
        return (self.backend.predict(L) + mirrored) * np.float32(0.5)

    def describe(self) -> str:
        describe = getattr(self.backend, "describe", None)
        return f"flip-averaged {describe() if callable(describe) else type(self.backend).__name__}"


def _photo_seed(name: str) -> int:
    import zlib

    return zlib.crc32(name.encode("utf-8", "surrogateescape"))


def prepare_input(orig: np.ndarray, name: str, *, degraded: bool) -> tuple[np.ndarray, np.ndarray]:
    """(input L* ``(H, W)`` float32, reference uint8 RGB) for one original photo.

    Clean view: the photo's own L* and the photo. Degraded view: an aged L* (the same draw for the
    same ``name``) and the reference joining it with the original's a*b*.
    """
    lab_orig = lab.rgb_to_lab(orig / np.float32(255.0)).astype(np.float32)
    L = lab_orig[..., 0]
    if not degraded:
        return L, orig
    from colorize_cli.degrade import degrade_l

    L_in = degrade_l(L, np.random.default_rng(_photo_seed(name)))
    ref = lab.lab_to_rgb_preserving_l(L_in, lab_orig[..., 1:])
    return L_in, (ref * 255.0 + 0.5).astype(np.uint8)


def face_counts(orig: np.ndarray, L_in: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """``faces`` (skin-toned in the original, found on the gray input) and ``faces_patched``."""
    from colorize_cli import faces

    boxes = faces.eligible_faces(lab.rgb_to_lab(orig / np.float32(255.0)), L_input=L_in)
    count = faces.count_patched(lab.rgb_to_lab(pred / np.float32(255.0)), boxes)
    return {"faces": float(count.faces), "faces_patched": float(count.patched)}


def _thumb(rgb: np.ndarray, height: int = THUMB_HEIGHT) -> Image.Image:
    im = Image.fromarray(rgb, "RGB")
    h, w = rgb.shape[:2]
    scale = min(height / h, 3 * height / w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return im.resize(size, Image.Resampling.BICUBIC if scale > 1 else Image.Resampling.LANCZOS)


def sheet_indices(n: int, rows: int) -> list[int]:
    """At most ``rows`` indices spread evenly over ``range(n)`` (first and last included)."""
    if n <= 0 or rows <= 0:
        return []
    if n <= rows:
        return list(range(n))
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, rows)})


def contact_sheet(rows: Sequence[tuple[str, Image.Image, Image.Image, Image.Image, str]]) -> Image.Image:
    """Rows of gray | colorized | original thumbnails, each under a caption line."""
    from PIL import ImageDraw

    pad, caption_h, header_h = 6, 16, 18
    col_w = max([THUMB_HEIGHT] + [t.width for r in rows for t in r[1:4]])
    width = pad + 3 * (col_w + pad)
    row_h = caption_h + THUMB_HEIGHT + pad
    sheet = Image.new("RGB", (width, header_h + max(1, len(rows)) * row_h + pad), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for c, title in enumerate(("gray (input)", "colorized", "original")):
        draw.text((pad + c * (col_w + pad), 4), title, fill=(0, 0, 0))
    if not rows:
        draw.text((pad, header_h + 4), "no images", fill=(0, 0, 0))
    for r, (name, gray, pred, orig, caption) in enumerate(rows):
        y = header_h + r * row_h
        draw.text((pad, y + 2), _ascii(f"{name}  {caption}"), fill=(0, 0, 0))
        for c, im in enumerate((gray, pred, orig)):
            sheet.paste(im, (pad + c * (col_w + pad), y + caption_h))
    return sheet


def _ascii(text: str) -> str:
    """The default bitmap font has only Latin-1 glyphs: escape anything else."""
    return "".join(ch if 32 <= ord(ch) < 256 else "?" for ch in text)


# --- the whole folder --------------------------------------------------------------------------------
def evaluate_files(
    files: Sequence[Path],
    backend,
    *,
    size: int | None = None,
    crop: int | None = None,
    names: Sequence[str] | None = None,
    sheet_rows: int = 24,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    degraded: bool = False,
    faces: bool = False,
    saturation: float = 1.0,
    options: dict[str, object] | None = None,
    on_result: Callable[[str, ImageScore | None, str | None], None] | None = None,
) -> EvalResult:
    """Evaluate ``backend`` (anything with ``predict``/``config`` as in :mod:`colorize_cli.backends`)
    on ``files``. Unreadable photos are recorded in ``failed`` and skipped.

    ``degraded`` measures the old-print view; ``faces`` adds the face-patch counts (OpenCV);
    ``saturation`` is the colorize command's ``--saturation``.
    ``on_result(name, score, error)`` is called after each photo (for progress display).
    """
    names = list(names) if names is not None else [str(f) for f in files]
    chosen = set(sheet_indices(len(files), sheet_rows))
    describe = getattr(backend, "describe", None)
    result = EvalResult(
        scores=[], failed=[], options=dict(options or {}, size=size, crop=crop, degraded=degraded, faces=faces, saturation=saturation),
        model_description=describe() if callable(describe) else type(backend).__name__,
    )
    for i, (path, name) in enumerate(zip(files, names, strict=True)):
        try:
            orig = load_rgb(Path(path), max_pixels=max_pixels)
            if crop:
                orig = center_crop(orig, crop)
            L, ref = prepare_input(orig, name, degraded=degraded)
            pred = colorize_array(L, backend, size=size, saturation=saturation)[..., :3]
            gray = gray_baseline(L)
            values = score_pair(pred, gray, ref)
            values.update(face_counts(orig, L, pred) if faces else {"faces": math.nan, "faces_patched": math.nan})
        except InputError as exc:
            result.failed.append((name, str(exc)))
            if on_result:
                on_result(name, None, str(exc))
            continue
        score = ImageScore(name=name, width=int(orig.shape[1]), height=int(orig.shape[0]), values=values)
        result.scores.append(score)
        if i in chosen:
            caption = (f"PSNR {values['psnr']:.2f} dB (gray {values['psnr_gray']:.2f})  "
                       f"CF {values['cf_pred']:.1f} / orig {values['cf_orig']:.1f}")
            if faces and values["faces"]:
                caption += f"  faces patched {int(values['faces_patched'])}/{int(values['faces'])}"
            result.thumbs[i] = (name, _thumb(gray), _thumb(pred), _thumb(ref), caption)
        if on_result:
            on_result(name, score, None)
    return result


__all__ = [
    "EvalResult", "FlipAveraged", "ImageScore", "IMAGE_SUFFIXES", "PSNR_CAP", "center_crop", "contact_sheet",
    "evaluate_files", "face_counts", "find_photos", "gray_baseline", "load_rgb", "prepare_input",
    "resolve_listed", "score_pair",
    "sheet_indices",
]
