"""``colorize-cli [OPTIONS] INPUTS... -o OUTDIR``: the main command."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click

from colorize_cli.commands import RunComplete
from colorize_cli.commands.options import (
    EXIT_FAILED,
    EXIT_OK,
    configure_own_process,
    handles_errors,
    model_options,
    verbosity_options,
)
from colorize_cli.errors import UsageError
from colorize_cli.imagefile import DEFAULT_MAX_PIXELS


class _Display:
    """Rich progress on a terminal; one plain line per file otherwise; failures only with --quiet."""

    def __init__(self, total: int, *, quiet: bool) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)  # honours NO_COLOR and TERM=dumb
        self.quiet = quiet
        self.live = self.console.is_terminal and not quiet
        self.progress = None
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("[bold]colorizing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[current]}", style="dim"),
                console=self.console,
                transient=False,
            )
            self.task = self.progress.add_task("colorize", total=total, rate="", current="")

    def __enter__(self):
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()

    def print(self, text: str, *, error: bool = False) -> None:
        if self.quiet and not error:
            return
        self.console.print(printable(text), markup=False, soft_wrap=True)

    def started(self, job) -> None:
        if self.progress is not None:
            self.progress.update(self.task, current=_short(printable(job.display)))

    def result(self, result, elapsed: float, done: int) -> None:
        name = result.job.display
        if result.status == "failed":
            self.print(f"FAILED  {name}: {result.error}", error=True)
        elif not self.live:
            if result.status == "ok":
                extra = f"  ({'; '.join(result.notes)})" if result.notes else ""
                self.print(f"ok      {name} -> {result.job.output} ({result.seconds:.2f} s){extra}")
            else:
                self.print(f"skipped {name} (output exists)")
        elif result.notes and result.status == "ok":
            self.print(f"note    {name}: {'; '.join(result.notes)}")
        if self.progress is not None:
            rate = f"{done / elapsed:.1f} img/s" if elapsed > 0 and done else ""
            self.progress.update(self.task, advance=1, rate=rate)


@dataclass
class _Run:
    """A planned run, whichever executor: what the display needs, and how to start it."""

    total: int
    warnings: list[str]
    describe: str
    start: Callable  # (on_result, on_start) -> Summary
    compose_note: str = ""
    discard: Callable[[], None] = lambda: None  # cleanup when the run never starts


def _local_run(inputs, out_dir, options, *, recursive, fmt, shard, listed, **engine) -> _Run:
    from colorize_cli import lab_kernel
    from colorize_cli.batch import open_engine, plan_batch, run_batch

    plan = plan_batch(inputs, out_dir, recursive=recursive, fmt=fmt, shard=shard, listed=listed, options=options)
    configure_own_process()
    backend = engine.pop("backend")
    opened = open_engine(plan, backend, engine.pop("model"), **engine)
    return _Run(
        len(plan.jobs), plan.warnings, opened.describe(),
        lambda on_result, on_start: run_batch(plan, opened, options, on_result=on_result, on_start=on_start),
        compose_note=f"compose: {lab_kernel.describe()}",
    )


def _ray_run(inputs, out_dir, options, *, recursive, fmt, shard, listed, engine, ray_options, verbose) -> _Run:
    from colorize_cli.backends import engine_for
    from colorize_cli.ray_batch import checked_engine, discard_plan, plan_for_ray, require_ray, run_on_ray

    require_ray()
    # Ray Data logs its plan and progress at INFO (the display shows progress), and warns that its
    # own progress bars are off.
    import logging

    logging.getLogger("ray.data").setLevel(logging.INFO if verbose else logging.ERROR)
    chosen = engine_for(engine.backend, engine.model, device=engine.device, precision=engine.precision)
    engine = checked_engine(engine)
    plan = plan_for_ray(inputs, out_dir, recursive=recursive, fmt=fmt, shard=shard, listed=listed)
    where = ray_options.address or "a running cluster, else local"
    return _Run(
        plan.count, plan.warnings, f"ray ({where}): {chosen} in each worker",
        lambda on_result, on_start: run_on_ray(plan, engine, options, ray_options, on_result=on_result),
        discard=lambda: discard_plan(plan),
    )


def parse_pool(text: str | None) -> tuple[int, int] | None:
    """``--ray-workers``: ``"MIN,MAX"`` or ``"N"`` (a fixed pool) -> ``(MIN, MAX)``."""
    if text is None:
        return None
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2):
        raise UsageError(f"--ray-workers must look like MIN,MAX or N, not {text!r}")
    return (parts[0], parts[-1])


def printable(text: str) -> str:
    """``text`` on one line: control characters (a newline in a file name) and undecodable bytes
    (surrogate escapes) shown as Python escapes, everything else as is."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]


@click.command(
    "colorize",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  colorize-cli ./old_photos -o ./colored
  colorize-cli scan1.tif scan2.tif -o out --format png
  find archive -name '*.jpg' -print0 | colorize-cli --files-from - -0 -o out
  colorize-cli archive -o out --shard 3/8 --report shard3.jsonl   # job arrays

\b
Exit status: 0 all colorized or skipped, 1 some files failed, 2 usage error,
130 interrupted (Ctrl-C), 143 terminated (SIGTERM). Rerun the same command to resume.""",
)
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Output folder (created if missing); mirrors the input folders.")
@model_options
@click.option("--batch-size", type=click.IntRange(1, 256), default=None,
              help="Photos per model call [default: the engine's: 1 for ONNX Runtime on a CPU, 4 for "
                   "torch on a CPU, 8 on a GPU].")
@click.option("--format", "fmt", type=click.Choice(["jpg", "png", "tiff", "webp"]), default=None,
              help="Output format (default: keep each input's format and extension).")
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True, help="JPEG/WebP quality.")
@click.option("--saturation", type=click.FloatRange(0.0, 2.0), default=1.0, show_default=True,
              help="Colour strength: 0 gray, 1 the model's colours, up to 2.")
@click.option("--color-inputs", type=click.Choice(["colorize", "skip", "copy"]), default="colorize", show_default=True,
              help="What to do with inputs that already have colour (colour photos, hand-tinted prints): "
                   "colorize them anyway, skip them, or copy them as they are into the output folder. "
                   "Toned prints (sepia, cyanotype) are colorized.")
@click.option("--no-provenance", is_flag=True,
              help="Write no provenance XMP (IPTC digital source type, tool, model, settings). Warning: the "
                   "colorized copy then looks like an original photograph to archive software and platforms.")
@click.option("--c2pa-sign", nargs=2, type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              metavar="CERT.pem KEY.pem",
              help="Embed signed Content Credentials (C2PA): the colorization, the tool and the original as "
                   "ingredient, signed with this certificate chain and private key (extra [c2pa]).")
@click.option("--recursive/--no-recursive", default=True, show_default=True, help="Walk sub-folders.")
@click.option("--files-from", type=click.File("r", encoding="utf-8", errors="surrogateescape"), default=None,
              help="Read more input paths from FILE ('-' for stdin), one per line.")
@click.option("-0", "--null", is_flag=True, help="--files-from entries are NUL-separated (find -print0).")
@click.option("--overwrite", is_flag=True, help="Redo outputs that already exist (default: skip them).")
@click.option("--shard", default=None, metavar="K/N", help="Process only the K-th of N slices of the sorted job list.")
@click.option("--report", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write a JSON Lines record per input (input, output, status, error, seconds, input_kind, "
                   "and the SHA-256 of input, output and model).")
@click.option("--review", "review_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="After the run, write an HTML review gallery here (with the --report, or DIR/report.jsonl).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where the batch runs: this process, or a Ray cluster with Ray Data (extra [ray]; inputs "
                   "and -o on storage every node sees at the same paths).")
@click.option("--ray-address", default=None, metavar="ADDR",
              help="The Ray cluster to join [default: a running one ('auto'), else a local Ray for the run].")
@click.option("--ray-workers", default=None, metavar="MIN,MAX",
              help="Size of the autoscaling worker pool (N for a fixed one) [default: 1 to the cluster's "
                   "CPUs (GPUs) per worker].")
@click.option("--ray-cpus-per-worker", type=click.FloatRange(0.01), default=1.0, show_default=True,
              help="CPUs each Ray worker reserves (and its engine's thread count).")
@click.option("--ray-gpus-per-worker", type=click.FloatRange(0.0), default=0.0, show_default=True,
              help="GPUs each Ray worker reserves; a fraction shares a GPU between workers.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first failed file.")
@click.option("--max-pixels", type=click.IntRange(1), default=DEFAULT_MAX_PIXELS, show_default=True,
              help="Refuse images with more pixels (decompression-bomb guard).")
@verbosity_options
@handles_errors
def colorize_command(
    inputs: tuple[Path, ...],
    out_dir: Path,
    model: Path | None,
    backend: str,
    device: str,
    size: int | None,
    threads: int | None,
    precision: str,
    batch_size: int | None,
    fmt: str | None,
    quality: int,
    saturation: float,
    color_inputs: str,
    no_provenance: bool,
    c2pa_sign: tuple[Path, Path] | None,
    recursive: bool,
    files_from,
    null: bool,
    overwrite: bool,
    shard: str | None,
    report: Path | None,
    review_dir: Path | None,
    executor: str,
    ray_address: str | None,
    ray_workers: str | None,
    ray_cpus_per_worker: float,
    ray_gpus_per_worker: float,
    fail_fast: bool,
    max_pixels: int,
    quiet: bool,
    verbose: bool,
) -> None:
    """Colorize black-and-white photos in INPUTS (files and folders) into OUTDIR.

    Folders are walked in sorted order and mirrored under OUTDIR; each output keeps its input's
    format, full resolution, alpha, 16-bit depth and EXIF, and is written atomically. Existing
    outputs are skipped, so an interrupted run resumes where it stopped.
    """
    from colorize_cli.batch import ReportWriter
    from colorize_cli.jobs import parse_shard, read_file_list
    from colorize_cli.runner import RunOptions

    if not verbose:
        import warnings

        # Pillow warns (on stderr, mid-log) about things like a damaged EXIF block while opening
        # a file; the file still colorizes, so keep the log to one line per file.
        warnings.filterwarnings("ignore", module="PIL")
    if null and files_from is None:
        raise UsageError("-0/--null only applies to --files-from")
    listed = read_file_list(files_from, null=null) if files_from is not None else []
    if not inputs and not listed:
        raise UsageError("no INPUTS given (files or folders, or --files-from FILE); see --help")
    if review_dir is not None and report is None:
        report = review_dir / "report.jsonl"
    options = RunOptions(
        size=size, batch_size=batch_size, overwrite=overwrite, quality=quality,
        max_pixels=max_pixels, fail_fast=fail_fast, saturation=saturation, color_inputs=color_inputs,
        fixity=report is not None, flags=report is not None, provenance=not no_provenance,
        c2pa_sign=tuple(str(p) for p in c2pa_sign) if c2pa_sign else None,
    )
    shard_k_n = parse_shard(shard) if shard else None
    if executor == "ray":
        import logging

        from colorize_cli.ray_batch import EngineSpec, RayOptions  # Ray's own modules load later, if at all

        run = _ray_run(inputs, out_dir, options, recursive=recursive, fmt=fmt, shard=shard_k_n, listed=listed,
                       engine=EngineSpec(backend, str(model) if model else None, device, threads, precision),
                       ray_options=RayOptions(address=ray_address, workers=parse_pool(ray_workers),
                                              cpus_per_worker=ray_cpus_per_worker,
                                              gpus_per_worker=ray_gpus_per_worker,
                                              log_level=logging.INFO if verbose else logging.ERROR),
                       verbose=verbose)
    else:
        run = _local_run(inputs, out_dir, options, recursive=recursive, fmt=fmt, shard=shard_k_n, listed=listed,
                         backend=backend, model=model, device=device, threads=threads, precision=precision)
    import time

    started = time.perf_counter()
    counts = {"done": 0}
    with _Display(run.total, quiet=quiet) as display, contextlib.ExitStack() as stack:
        stack.callback(run.discard)
        write_record = stack.enter_context(ReportWriter(report)) if report is not None else None
        for warning in run.warnings:
            display.print(f"warning: {warning}")
        display.print(f"{run.total} photos -> {out_dir}  [{run.describe}]")
        if verbose and run.compose_note:
            display.print(run.compose_note)

        def on_result(result) -> None:
            if result.status == "ok":
                counts["done"] += 1
            if write_record is not None:
                write_record(result)
            display.result(result, time.perf_counter() - started, counts["done"])

        summary = run.start(on_result, display.started)
        kinds = ", ".join(f"{summary.kinds[k]} {k}" for k in ("gray", "toned", "color") if summary.kinds.get(k))
        display.print(
            f"done {summary.done}, skipped {summary.skipped}, failed {summary.failed} "
            f"in {summary.seconds:.1f} s ({summary.images_per_second:.2f} images/s)"
            + (f"; inputs: {kinds}" if kinds else "")
            + ("; stopped at the first failure (--fail-fast)" if summary.stopped_early and fail_fast else "")
            + (f"; {summary.stop_reason}" if summary.stop_reason else ""),
            error=summary.failed > 0,
        )
    if review_dir is not None:
        from colorize_cli.review import build_gallery, read_report

        index = build_gallery(read_report(report), review_dir, title=f"colorize-cli review: {out_dir}")
        if not quiet:
            click.echo(f"review gallery: {index}", err=True)
    # Every output is in place and the report closed (see colorize_cli.cli.exit_process).
    raise RunComplete(EXIT_FAILED if summary.failed else EXIT_OK)
