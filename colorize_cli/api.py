"""The Python API the CLI is built on: colorize one image, or a batch of files and folders."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import numpy as np
from PIL import Image

from colorize_cli.backends import Backend, open_backend
from colorize_cli.imagefile import DEFAULT_MAX_PIXELS, decode_image
from colorize_cli.jobs import plan_jobs, shard_jobs
from colorize_cli.pipeline import colorize_array
from colorize_cli.runner import FileResult, RunOptions, Summary, run_jobs

__all__ = ["colorize_image", "colorize_paths", "Summary", "FileResult"]


def colorize_image(
    image: Image.Image | str | os.PathLike,
    *,
    backend: Backend | None = None,
    size: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Colorize one photo and return an 8-bit ``RGB`` (or ``RGBA`` if it had alpha) PIL image.

    ``image`` may be any mode Pillow opens (its luminance is used) or a file path; the result has
    the photo's full resolution and its own L*. ``backend`` defaults to :func:`open_backend()`
    (the bundled model); pass one explicitly to reuse it across calls.
    """
    backend = backend or open_backend()
    decoded = decode_image(image, max_pixels=max_pixels)
    pixels = colorize_array(decoded.lightness, backend, size=size, alpha=decoded.alpha, bit_depth=8)
    return Image.fromarray(np.ascontiguousarray(pixels), "RGBA" if pixels.shape[-1] == 4 else "RGB")


def colorize_paths(
    inputs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    backend: Backend | None = None,
    recursive: bool = True,
    fmt: str | None = None,
    shard: tuple[int, int] | None = None,
    options: RunOptions = RunOptions(),
    on_result: Callable[[FileResult], None] | None = None,
) -> Summary:
    """Colorize files and folders into ``out_dir`` (mirroring folder structure); see :func:`run_jobs`."""
    backend = backend or open_backend()
    jobs, _warnings = plan_jobs(inputs, out_dir, recursive=recursive, fmt=fmt)
    if shard is not None:
        jobs = shard_jobs(jobs, *shard)
    return run_jobs(jobs, backend, options, on_result=on_result)
