"""The Python API the CLI is built on: colorize one image, or a batch of files and folders."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterable

import numpy as np
from PIL import Image

from colorize_cli.backends import Backend, open_backend
from colorize_cli.batch import ReportWriter, open_engine, plan_batch, run_batch
from colorize_cli.imagefile import DEFAULT_MAX_PIXELS, decode_image
from colorize_cli.pipeline import colorize_array
from colorize_cli.ray_batch import EngineSpec, RayOptions
from colorize_cli.runner import FileResult, RunOptions, Summary

__all__ = ["colorize_image", "colorize_paths", "Summary", "FileResult", "EngineSpec", "RayOptions"]


def colorize_image(
    image: Image.Image | str | os.PathLike,
    *,
    backend: Backend | None = None,
    size: int | None = None,
    saturation: float = 1.0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Colorize one photo and return an 8-bit ``RGB`` (or ``RGBA`` if it had alpha) PIL image.

    ``image`` may be any mode Pillow opens (its luminance is used) or a file path; the result has
    the photo's full resolution and its own L*. ``backend`` defaults to :func:`open_backend()`
    (the bundled model); pass one explicitly to reuse it across calls. ``saturation`` scales the
    colours (0 gray, 1 the model's, at most 2), as ``--saturation`` does.
    """
    backend = backend or open_backend()
    decoded = decode_image(image, max_pixels=max_pixels)
    pixels = colorize_array(
        decoded.lightness, backend, size=size, alpha=decoded.alpha, bit_depth=8, saturation=saturation
    )
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
    report: str | os.PathLike | None = None,
    on_result: Callable[[FileResult], None] | None = None,
    executor: str = "local",
    engine: EngineSpec | None = None,
    ray_options: RayOptions | None = None,
) -> Summary:
    """Colorize files and folders into ``out_dir`` exactly as ``colorize-cli`` does.

    The same plan (``listed`` = ``--files-from`` entries, ``shard`` = ``(K, N)``), the same engine
    opening (without ``backend``: ``engine``, by default the bundled model with the command's
    thread choice), the same output folder handling (created; temporary files of dead runs
    removed) and the same ``report`` file (JSON lines, with the SHA-256 fixity fields).
    ``on_result`` gets each file's :class:`FileResult`.

    ``executor="ray"`` runs the batch on a Ray cluster (``--executor ray``; extra ``[ray]``; see
    :mod:`colorize_cli.ray_batch`): each worker opens ``engine`` itself, so ``backend`` must be None.
    """
    if executor not in ("local", "ray"):
        raise ValueError(f"executor must be 'local' or 'ray', not {executor!r}")
    if report is not None:
        options = dataclasses.replace(options, fixity=True, flags=True)
    with contextlib.ExitStack() as stack:
        callbacks = [stack.enter_context(ReportWriter(report))] if report is not None else []
        callbacks += [on_result] if on_result is not None else []

        def each(result: FileResult) -> None:
            for callback in callbacks:
                callback(result)

        if executor == "ray":
            if backend is not None:
                raise ValueError("executor='ray' opens the engine in each worker: pass engine=EngineSpec(...), not backend")
            from colorize_cli.ray_batch import checked_engine, plan_for_ray, require_ray, run_on_ray

            require_ray()
            spec = checked_engine(engine or EngineSpec())
            plan = plan_for_ray(inputs, out_dir, recursive=recursive, fmt=fmt, shard=shard, listed=listed)
            return run_on_ray(plan, spec, options, ray_options or RayOptions(), on_result=each)
        plan = plan_batch(inputs, out_dir, recursive=recursive, fmt=fmt, shard=shard, listed=listed, options=options)
        if backend is None:
            spec = engine or EngineSpec()
            backend = open_engine(plan, spec.backend, spec.model, device=spec.device, threads=spec.threads,
                                  precision=spec.precision)
        return run_batch(plan, backend, options, on_result=each)
