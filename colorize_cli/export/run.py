"""Checkpoint -> verified ONNX file: the whole export, behind ``colorize-cli export``.

1. Load the self-describing checkpoint and rebuild its generator.
2. Export fp32 ONNX (opset 17, dynamic N/H/W, metadata), run the checker, compare with PyTorch.
3. For ``fp16``/``int8``: convert the fp32 file, run the checker, compare with PyTorch, and time
   it on the CPU against the fp32 file in the same run.
4. Only a file that passed everything is moved to the destination (atomically); on any failure
   nothing is written there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from colorize_cli.errors import UsageError
from colorize_cli.export.onnx_export import DEFAULT_OPSET, export_generator
from colorize_cli.export.verify import (
    Verification,
    VerificationError,
    check_model,
    compare,
    load_verification_images,
    time_cpu,
    torch_reference,
    verification_inputs,
    verification_sizes,
)
from colorize_cli.models.config import GeneratorConfig

OPSET_RANGE = (13, 20)  # per-channel QDQ needs >= 13; onnxruntime >= 1.17 runs up to 20


@dataclass
class VariantResult:
    """One exported file: its precision, size, verification and CPU time (batch 1, default size)."""

    precision: str
    size_bytes: int
    verification: Verification
    seconds: float | None = None
    note: str = ""


@dataclass
class ExportReport:
    """What an export did: the model facts, each file's figures, and where the result went."""

    config: GeneratorConfig
    output: Path
    precision: str
    opset: int
    sizes: tuple[int, int]
    image_source: str
    variants: list[VariantResult] = field(default_factory=list)
    timing_side: int = 0
    failure: str | None = None

    def variant(self, precision: str) -> VariantResult | None:
        return next((v for v in self.variants if v.precision == precision), None)


@contextlib.contextmanager
def _quiet_logging():
    """onnxruntime.quantization logs advice through the root logger; keep the output readable."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _verify(path: Path, precision: str, inputs, references) -> Verification:
    check_model(path)
    return compare(path, precision, inputs, references)


def export_checkpoint(
    checkpoint: str | os.PathLike,
    output: str | os.PathLike,
    *,
    precision: str = "fp32",
    calibration: str | os.PathLike | None = None,
    verify_images: str | os.PathLike | None = None,
    opset: int = DEFAULT_OPSET,
    time_budget_s: float = 1.0,
    threads: int | None = None,
) -> ExportReport:
    """Export ``checkpoint`` to ``output`` at ``precision`` (``fp32``/``fp16``/``int8``), verified.

    Returns the report; when a file fails verification the report's ``failure`` says why and
    :class:`VerificationError` is raised by :func:`raise_on_failure` (the CLI prints the table
    first). Raises :class:`UsageError`/:class:`ModelError` for bad arguments or checkpoints.
    """
    from colorize_cli.checkpoint import load_generator
    from colorize_cli.export.variants import (
        PRECISIONS,
        calibration_images,
        calibration_ranges,
        convert_fp16,
        quantize_int8,
    )

    checkpoint, output = Path(checkpoint), Path(output)
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if output.suffix.lower() != ".onnx":
        raise UsageError(f"-o {output}: the output file name must end in .onnx")
    if checkpoint.suffix.lower() == ".onnx":
        raise UsageError(f"{checkpoint} is already an ONNX model; export needs a .pt checkpoint")
    if calibration is not None and precision != "int8":
        raise UsageError("--calibration is only used with --quantize int8")
    if not OPSET_RANGE[0] <= opset <= OPSET_RANGE[1]:
        raise UsageError(
            f"--opset {opset}: choose {OPSET_RANGE[0]}..{OPSET_RANGE[1]} (default {DEFAULT_OPSET})"
        )
    calib_files = calibration_images(calibration) if calibration is not None else None

    model, config = load_generator(checkpoint, "cpu")
    planes = load_verification_images(verify_images)
    inputs = verification_inputs(config, planes)
    references = torch_reference(model, inputs)
    report = ExportReport(
        config=config,
        output=output,
        precision=precision,
        opset=opset,
        sizes=verification_sizes(config),
        image_source=str(verify_images)
        if verify_images is not None
        else f"{len(planes)} generated photo-like images",
        timing_side=verification_sizes(config)[0],
    )

    with tempfile.TemporaryDirectory(prefix="colorize-export-") as tmp:
        fp32_path = Path(tmp) / "fp32.onnx"
        export_generator(model, config, fp32_path, opset=opset, precision="fp32")
        result = VariantResult(
            "fp32", fp32_path.stat().st_size, _verify(fp32_path, "fp32", inputs, references)
        )
        report.variants.append(result)
        final = fp32_path
        if result.verification.passed and precision != "fp32":
            final = Path(tmp) / f"{precision}.onnx"
            note = ""
            with _quiet_logging():
                if precision == "fp16":
                    convert_fp16(fp32_path, final)
                else:
                    _, method = quantize_int8(
                        fp32_path,
                        final,
                        calibration=calib_files,
                        size=config.default_size,
                        stride=config.stride,
                    )
                    note = (
                        f"static, calibrated on {len(calib_files)} images ({calibration_ranges(len(calib_files))})"
                        if method == "static"
                        else "dynamic (no --calibration)"
                    )
            report.variants.append(
                VariantResult(
                    precision, final.stat().st_size, _verify(final, precision, inputs, references), note=note
                )
            )
        failed = [v for v in report.variants if not v.verification.passed]
        if failed:
            v = failed[0].verification
            report.failure = (
                f"the {v.precision} ONNX model differs from PyTorch beyond its tolerance "
                f"({v.describe_tolerance()}): max abs {v.max_abs:.3g}, mean abs {v.mean_abs:.3g}; "
                f"nothing written to {output}"
            )
            return report
        side = report.timing_side
        for v in report.variants:
            path = fp32_path if v.precision == "fp32" else final
            v.seconds = time_cpu(path, side, threads=threads, budget_s=time_budget_s)
        from colorize_cli.fsutil import atomic_target

        output.parent.mkdir(parents=True, exist_ok=True)
        with atomic_target(output) as target:
            shutil.copyfile(final, target)
    return report


def raise_on_failure(report: ExportReport) -> None:
    """Raise :class:`VerificationError` (exit 1) when the export failed verification."""
    if report.failure:
        raise VerificationError(report.failure)
