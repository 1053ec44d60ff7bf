"""End-to-end CLI throughput: images/s and peak RSS per backend on a folder of photo-sized JPEGs.

    python benchmarks/bench_cli.py [--count 100] [--width 1500 --height 1000] [--model-pt P --model-onnx P]

Each backend colorizes the same generated folder (1.5 MP gray JPEGs by default) in a fresh
process with default settings; the table reports images/s over the run (model loading included
in "wall"), peak RSS, and the torch/onnx time ratio, all measured in one run.
"""

from __future__ import annotations

import argparse
import platform
import shutil

from _common import default_models, folder_args, make_folder, run_cli, tempdir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    folder_args(ap, 100)
    ap.add_argument("--backends", default="onnx,torch,torch-fp32",
                    help="onnx, torch (default precision: bf16 on a CPU with AMX), torch-fp32, onnx-int8 (bundled int8)")
    ap.add_argument("--extra", default="", help="extra CLI arguments, e.g. '--batch-size 8'")
    args = ap.parse_args()

    work = tempdir("bench_cli_")
    src = make_folder(work / "in", args.count, args.width, args.height)
    models = default_models(work)
    if args.model_pt:
        models["torch"] = args.model_pt
    if args.model_onnx:
        models["onnx"] = args.model_onnx
    print(f"machine: {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores; "
          f"{args.count} JPEGs {args.width}x{args.height}; model: {models['kind']}")
    rows = {}
    for backend in args.backends.split(","):
        out = work / f"out_{backend}"
        shutil.rmtree(out, ignore_errors=True)
        if backend == "onnx-int8":  # the bundled int8 model
            engine = ["--backend", "onnx", "--precision", "int8"]
        elif backend == "torch-fp32":
            engine = ["--backend", "torch", "--precision", "fp32", "--model", models["torch"]]
        else:
            engine = ["--backend", backend, "--model", models[backend]]
        stats = run_cli([src, "-o", out, *engine, "-q", *args.extra.split()])
        # "onnx (CPUExecutionProvider, fp32) mobilenet_unet model PATH" -> "fp32"
        stats["engine"] = stats["engine"].split(")")[0].split(", ")[-1]
        rows[backend] = stats
    print(f"{'backend':10} {'images/s':>9} {'wall s':>8} {'peak RSS MB':>12}  precision")
    for backend, s in rows.items():
        print(f"{backend:10} {args.count / s['seconds']:9.2f} {s['wall']:8.1f} {s['peak_rss_mb']:12.0f}  {s['engine']}")
    for torch_row in ("torch", "torch-fp32"):
        if "onnx" in rows and torch_row in rows:
            print(f"{torch_row} time / onnx time: {rows[torch_row]['seconds'] / rows['onnx']['seconds']:.2f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
