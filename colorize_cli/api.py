"""The Python API the CLI is built on: colorize one image, or a batch of files and folders."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from colorize_cli.backends import Backend, engine_threads_for, open_backend
from colorize_cli.fsutil import clean_orphan_temps
from colorize_cli.imagefile import DEFAULT_MAX_PIXELS, decode_image
from colorize_cli.jobs import needs_output, plan_jobs, shard_jobs
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
    listed: Iterable[str | os.PathLike] = (),
    options: RunOptions = RunOptions(),
    on_result: Callable[[FileResult], None] | None = None,
) -> Summary:
    """Colorize files and folders into ``out_dir`` as ``colorize-cli`` does; see :func:`run_jobs`.

    The same plan (``listed`` = ``--files-from`` entries), the same output folder handling (created,
    temporary files of dead runs removed), and, without ``backend``, the bundled model opened with
    the command's thread choice. ``on_result`` gets each file's :class:`FileResult`; its
    ``record()`` is the command's ``--report`` line.
    """
    jobs, _warnings = plan_jobs(inputs, out_dir, recursive=recursive, fmt=fmt, listed=listed)
    if shard is not None:
        jobs = shard_jobs(jobs, *shard)
    if backend is None:
        backend = open_backend(threads=engine_threads_for(sum(needs_output(j, options.overwrite) for j in jobs)))
    os.makedirs(out_dir, exist_ok=True)
    clean_orphan_temps(Path(out_dir))
    return run_jobs(jobs, backend, options, on_result=on_result)
