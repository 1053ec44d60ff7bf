"""Shared fixtures: tiny random-weight generators (checkpoint + ONNX) and small synthetic photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TINY_MOBILENET = dict(width_mult=0.25, decoder_channels=(16, 16, 8, 8, 8), train_size=64)


def make_photo(width: int, height: int, seed: int = 0, mode: str = "RGB") -> Image.Image:
    """A smooth, photo-like image (gradients plus blobs) rather than white noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    chans = []
    for _ in range(3):
        fx, fy, ph = rng.uniform(0.5, 3.0), rng.uniform(0.5, 3.0), rng.uniform(0, 6.28)
        chans.append(0.5 + 0.4 * np.sin(xx / max(width, 1) * fx * 6.28 + ph) * np.cos(yy / max(height, 1) * fy * 6.28))
    rgb = (np.stack(chans, -1) * 255).clip(0, 255).astype(np.uint8)
    return Image.fromarray(rgb, "RGB").convert(mode)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """A tiny random-weight mobilenet_unet as ``{"pt": checkpoint, "onnx": exported model}``."""
    torch = pytest.importorskip("torch")
    from colorize_cli.checkpoint import make_checkpoint, save_checkpoint
    from colorize_cli.export.onnx_export import export_generator
    from colorize_cli.models import GeneratorConfig, build_generator

    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    cfg = GeneratorConfig(**TINY_MOBILENET)
    model = build_generator(cfg).eval()
    # Random init gives near-zero ab; scale the head so colours are visible and tests can fail.
    with torch.no_grad():
        model.head.weight.mul_(20.0)
        model.head.bias.uniform_(-0.3, 0.3)
    pt, onnx_path = root / "tiny.pt", root / "tiny.onnx"
    save_checkpoint(pt, make_checkpoint(model, cfg))
    export_generator(model, cfg, onnx_path)
    return {"pt": pt, "onnx": onnx_path}


@pytest.fixture()
def photo_dir(tmp_path) -> Path:
    """A small folder tree of photos: a.jpg, b.png, sub/c.jpg, sub/deeper/d.tif, and a non-image."""
    root = tmp_path / "photos"
    (root / "sub" / "deeper").mkdir(parents=True)
    make_photo(64, 48, 1, "L").save(root / "a.jpg", quality=95)
    make_photo(50, 70, 2, "L").save(root / "b.png")
    make_photo(80, 40, 3, "L").save(root / "sub" / "c.jpg")
    make_photo(33, 65, 4, "L").save(root / "sub" / "deeper" / "d.tif")
    (root / "notes.txt").write_text("not a photo")
    return root
