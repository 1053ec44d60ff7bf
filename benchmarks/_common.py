"""Helpers shared by the benchmark scripts: synthetic photos, models, and measured CLI runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]


def photo_like(width: int, height: int, seed: int) -> Image.Image:
    """A gray, photo-like image: smooth shapes, edges and film-grain noise (JPEG-compressible like a scan)."""
    rng = np.random.default_rng(seed)
    small = rng.random((max(2, height // 64), max(2, width // 64))).astype(np.float32)
    base = Image.fromarray((small * 255).astype(np.uint8)).resize((width, height), Image.Resampling.BICUBIC)
    arr = np.asarray(base.filter(ImageFilter.GaussianBlur(3)), dtype=np.float32)
    yy, xx = np.mgrid[0:height, 0:width]
    for _ in range(6):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.05, 0.25) * min(width, height)
        arr = np.where((xx - cx) ** 2 + (yy - cy) ** 2 < r * r, arr * 0.6 + 90 * rng.random(), arr)
    arr += rng.normal(0, 6, arr.shape)
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8), "L")


def make_folder(folder: Path, count: int, width: int, height: int) -> Path:
    """``count`` JPEGs of ``width x height`` in ``folder`` (reused if already there)."""
    folder.mkdir(parents=True, exist_ok=True)
    existing = sorted(folder.glob("*.jpg"))
    if len(existing) >= count:
        return folder
    first = photo_like(width, height, 0)
    for i in range(count):
        # Variety without paying for a new synthesis per file: flips/rolls of a few bases.
        im = first if i % 4 else photo_like(width, height, i)
        if i % 2:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        im.save(folder / f"photo_{i:04d}.jpg", quality=90)
    return folder


def default_models(workdir: Path) -> dict[str, Path]:
    """The bundled model files if present, else a random-weight default-architecture model."""
    from colorize_cli.modelmeta import BUNDLED_CHECKPOINT, BUNDLED_ONNX, bundled_model_path

    pt, onnx = bundled_model_path(BUNDLED_CHECKPOINT), bundled_model_path(BUNDLED_ONNX)
    if pt.is_file() and onnx.is_file():
        return {"torch": pt, "onnx": onnx, "kind": "bundled"}
    import torch

    from colorize_cli.checkpoint import make_checkpoint, save_checkpoint
    from colorize_cli.export.onnx_export import export_generator
    from colorize_cli.models import GeneratorConfig, build_generator

    torch.manual_seed(0)
    cfg = GeneratorConfig()
    model = build_generator(cfg).eval()
    pt, onnx = workdir / "random.pt", workdir / "random.onnx"
    save_checkpoint(pt, make_checkpoint(model, cfg))
    export_generator(model, cfg, onnx)
    return {"torch": pt, "onnx": onnx, "kind": "random weights, default architecture"}


_CHILD = r"""
import json, resource, sys, time
from colorize_cli.cli import exit_process, main
from colorize_cli.commands import RunComplete
t = time.perf_counter()  # the clock covers everything the command imports (numpy among them)
import colorize_cli.backends as backends
opened = []  # the engine's own description: backend, device and the precision it runs at
_open = backends.open_backend
backends.open_backend = lambda *a, **k: (lambda e: (opened.append(e.describe()), e)[1])(_open(*a, **k))
complete = False
try:
    main(sys.argv[1:], prog_name="colorize-cli")
except SystemExit as e:
    code, complete = e.code or 0, isinstance(e, RunComplete)
# VmHWM (this process image's peak RSS) rather than ru_maxrss, which on Linux also counts the
# launching process's memory from before exec (a torch-loaded benchmark would inflate it).
hwm = next((int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")),
           resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
print(json.dumps({"seconds": time.perf_counter() - t, "rc": code, "peak_rss_mb": hwm / 1024,
                  "engine": opened[0] if opened else "?"}), file=sys.stderr)
exit_process(code, run_complete=complete)  # as the console script ends (colorize_cli.cli.entry)
"""


def run_cli(args: list[str]) -> dict:
    """Run the CLI in a fresh process; return wall seconds (whole process), rc and peak RSS (MB)."""
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD, *map(str, args)], capture_output=True, text=True)
    wall = time.perf_counter() - t
    last = proc.stderr.strip().splitlines()[-1]
    stats = json.loads(last)
    if stats["rc"] not in (0,):
        raise RuntimeError(f"CLI failed ({stats['rc']}):\n{proc.stderr[-2000:]}")
    stats["wall"] = wall
    stats["output"] = proc.stdout + proc.stderr
    return stats


def folder_args(ap, count: int, *, models: bool = True) -> None:
    """The options every folder benchmark takes: photo count and size, and optionally the models."""
    ap.add_argument("--count", type=int, default=count)
    ap.add_argument("--width", type=int, default=1500)
    ap.add_argument("--height", type=int, default=1000)
    if models:
        ap.add_argument("--model-pt", type=Path)
        ap.add_argument("--model-onnx", type=Path)


def tempdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("BENCH_TMP")))
