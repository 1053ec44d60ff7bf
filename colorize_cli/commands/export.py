"""``colorize-cli export CHECKPOINT -o MODEL.onnx``: a verified ONNX model from a checkpoint."""

from __future__ import annotations

from pathlib import Path

import click

from colorize_cli.commands.options import handles_errors, verbosity_options
from colorize_cli.export.onnx_export import DEFAULT_OPSET


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def print_report(report, console) -> None:
    """The per-file table: size, error against PyTorch, CPU time, each relative to fp32."""
    from rich.table import Table

    cfg = report.config
    sizes = " and ".join(f"{s}x{s}" for s in report.sizes)
    console.print(
        f"{cfg.arch} generator (train size {cfg.train_size}, stride {cfg.stride}), opset {report.opset}; "
        f"checked with onnx.checker (full_check) and compared with PyTorch on random inputs and "
        f"{report.image_source} at {sizes}, batch 1 and 3"
    )
    table = Table(show_edge=True, highlight=False)
    table.add_column("precision")
    table.add_column("size", justify="right")
    table.add_column("max Δab", justify="right")
    table.add_column("mean Δab", justify="right")
    table.add_column("tolerance")
    table.add_column("CPU ms", justify="right")
    table.add_column("speed", justify="right")
    table.add_column("ok")
    base = report.variant("fp32")
    for v in report.variants:
        ver = v.verification
        size = _mb(v.size_bytes)
        if base is not None and v is not base:
            size += f" ({v.size_bytes / base.size_bytes:.2f}x)"
        speed = f"{base.seconds / v.seconds:.2f}x" if v.seconds and base is not None and base.seconds else "-"
        table.add_row(
            v.precision,
            size,
            f"{ver.max_abs:.1e}",
            f"{ver.mean_abs:.1e}",
            ver.describe_tolerance(),
            f"{v.seconds * 1000:.1f}" if v.seconds else "-",
            speed,
            "yes" if ver.passed else "FAILED",
        )
    console.print(table)
    for v in report.variants:
        if v.note:
            console.print(f"{v.precision}: {v.note}")
    console.print(
        f"Δab: |ONNX Runtime - PyTorch fp32| on the normalized ab output (ab/110; 0.01 ≈ 1.1 ab units). "
        f"CPU ms: median ONNX Runtime CPU time of one {report.timing_side}x{report.timing_side} image, "
        "batch 1; speed relative to fp32, measured in this run."
    )


@click.command("export")
@click.argument("checkpoint", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The .onnx file to write (only after it passed verification).",
)
@click.option(
    "--fp16", is_flag=True, help="Float16 weights and compute (float32 input/output): half the size."
)
@click.option(
    "--quantize",
    type=click.Choice(["int8"]),
    default=None,
    help="int8 weights (QDQ, per channel): static with --calibration, else dynamic.",
)
@click.option(
    "--calibration",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder of photos to calibrate int8 activation ranges on (up to 64 are used).",
)
@click.option(
    "--verify-images",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder of photos to verify on (default: generated photo-like images).",
)
@click.option(
    "--opset",
    type=int,
    default=DEFAULT_OPSET,
    show_default=True,
    help="ONNX opset (13-20); 17 runs on onnxruntime >= 1.14 CPU and CUDA.",
)
@click.option("--threads", type=click.IntRange(1, 512), default=None, help="CPU threads for the timing runs.")
@verbosity_options
@handles_errors
def export_command(
    checkpoint: Path,
    output: Path,
    fp16: bool,
    quantize: str | None,
    calibration: Path | None,
    verify_images: Path | None,
    opset: int,
    threads: int | None,
    quiet: bool,
    verbose: bool,
) -> None:
    """Export a generator CHECKPOINT (.pt) to a verified ONNX model for the onnx backend.

    The model takes input 'L' (N,1,H,W float32, L/50-1) and gives 'ab' (N,2,H,W float32, ab/110),
    with H and W any multiples of the model's stride, and carries its config in its metadata.
    After export it is checked with onnx.checker and compared with PyTorch; a file that differs
    beyond the tolerance is not written (exit 1).

    \b
    Examples:
      colorize-cli export runs/mine/checkpoints/best.pt -o mine.onnx
      colorize-cli export best.pt -o mine-fp16.onnx --fp16
      colorize-cli export best.pt -o mine-int8.onnx --quantize int8 --calibration photos/
    """
    from rich.console import Console

    from colorize_cli.backends import has_package
    from colorize_cli.errors import UsageError
    from colorize_cli.export.run import export_checkpoint, raise_on_failure

    if not has_package("torch"):
        raise UsageError(
            'export reads PyTorch checkpoints and needs torch: pip install "colorize-cli[torch]"'
        )
    if fp16 and quantize:
        raise UsageError("choose one of --fp16 and --quantize int8")
    precision = "fp16" if fp16 else (quantize or "fp32")
    console = Console(highlight=False, soft_wrap=True)
    report = export_checkpoint(
        checkpoint,
        output,
        precision=precision,
        calibration=calibration,
        verify_images=verify_images,
        opset=opset,
        threads=threads,
    )
    if not quiet or report.failure:
        print_report(report, console)
    raise_on_failure(report)
    if precision == "int8" and calibration is None and not quiet:
        console.print(
            "Note: without --calibration the int8 model is dynamically quantized, which is smaller "
            "but usually slower on CPU than fp32; give --calibration DIR for static int8."
        )
    if not quiet:
        console.print(f"wrote {output} ({precision}, {_mb(output.stat().st_size)})")
