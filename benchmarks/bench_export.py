"""Size, accuracy and CPU speed of the fp32 / fp16 / int8 ONNX exports, measured in one run.

    .venv/bin/python benchmarks/bench_export.py [--checkpoint best.pt] [--size 256] [--threads N]

Without ``--checkpoint`` the default architecture (``GeneratorConfig()``: mobilenet_unet, full
width) is built with random weights (seed 0), its head scaled so the output spans a trained-like
range (random init predicts almost no colour, which would flatter the error figures). Speed does
not depend on the weights. Errors are against PyTorch fp32 on the export's verification inputs
(random + generated photo-like images, default size and 1.5x, batch 1 and 3); times are the median
ONNX Runtime CPU time of one SIZE x SIZE image, batch 1.
"""

from __future__ import annotations

import argparse
import logging
import platform
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--budget", type=float, default=5.0, help="seconds of timing per model")
    args = parser.parse_args()

    import onnxruntime as ort
    import torch
    from PIL import Image
    from rich.console import Console
    from rich.table import Table

    from colorize_cli.backends import cpu_threads
    from colorize_cli.checkpoint import load_generator
    from colorize_cli.export import verify
    from colorize_cli.export.onnx_export import export_generator
    from colorize_cli.export.variants import calibration_images, convert_fp16, quantize_int8
    from colorize_cli.models import GeneratorConfig, build_generator

    if args.checkpoint:
        model, config = load_generator(args.checkpoint)
        weights = f"checkpoint {args.checkpoint}"
    else:
        torch.manual_seed(0)
        config = GeneratorConfig()
        model = build_generator(config).eval()
        x = torch.from_numpy(
            verify.image_batch(verify.load_verification_images(None), 2, config.default_size)
        )
        with torch.no_grad():
            model.head.bias.uniform_(-0.2, 0.2)
            for _ in range(4):
                std = float(model(x).std())
                if std >= 0.2:
                    break
                model.head.weight.mul_(min(20.0, 0.3 / max(std, 1e-3)))
        weights = "random weights (seed 0, head scaled to a trained-like output range)"
    threads = args.threads or cpu_threads()
    planes = verify.load_verification_images(None)
    inputs = verify.verification_inputs(config, planes)
    refs = verify.torch_reference(model, inputs)

    rows = []
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cal = tmp / "cal"
        cal.mkdir()
        for i in range(16):
            L = verify.photo_like_l(240 + 8 * i, 320 - 6 * i, seed=1000 + i)
            Image.fromarray(np.round(L * 2.55).astype(np.uint8), "L").save(cal / f"c{i}.png")
        fp32 = export_generator(model, config, tmp / "fp32.onnx")
        files = {"fp32": fp32}
        files["fp16"] = convert_fp16(fp32, tmp / "fp16.onnx")
        files["int8 static"], _ = quantize_int8(
            fp32,
            tmp / "int8s.onnx",
            calibration=calibration_images(cal),
            size=config.default_size,
            stride=config.stride,
        )
        files["int8 dynamic"], _ = quantize_int8(
            fp32, tmp / "int8d.onnx", calibration=None, size=config.default_size, stride=config.stride
        )
        for name, path in files.items():
            verify.check_model(path)
            ver = verify.compare(path, name.split()[0], inputs, refs)
            seconds = verify.time_cpu(path, args.size, threads=threads, budget_s=args.budget)
            rows.append((name, path.stat().st_size, ver, seconds))

    base_size, base_s = rows[0][1], rows[0][3]
    table = Table(
        title=f"{config.arch} (width {config.width_mult}), {args.size}x{args.size}, batch 1, "
        f"ONNX Runtime {ort.__version__} CPU, {threads} threads"
    )
    for col in (
        "variant",
        "size MB",
        "size vs fp32",
        "ms",
        "speed vs fp32",
        "max |Δab|",
        "mean |Δab|",
        "verified",
    ):
        table.add_column(col, justify="left" if col == "variant" else "right")
    for name, size, ver, seconds in rows:
        table.add_row(
            name,
            f"{size / 1e6:.2f}",
            f"{size / base_size:.2f}x",
            f"{seconds * 1000:.1f}",
            f"{base_s / seconds:.2f}x",
            f"{ver.max_abs:.1e}",
            f"{ver.mean_abs:.1e}",
            "yes" if ver.passed else "no",
        )
    console = Console(width=140)
    console.print(table)
    console.print(
        f"weights: {weights}; {platform.processor() or platform.machine()}, torch {torch.__version__}"
    )


if __name__ == "__main__":
    main()
