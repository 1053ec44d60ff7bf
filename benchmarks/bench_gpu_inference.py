#!/usr/bin/env python
"""Torch inference on CUDA: the cost of the first call at each new input shape, per model setup.

Photos of other aspect ratios reach the network at other shapes (about 192x192 pixels, sides
multiples of 32), so a batch job keeps meeting new shapes: a per-shape cost of seconds ruins
throughput. Each setup gets its own, never-seen shapes (caches are per process). Prints the
first call per shape and the steady-state call at 192x192, in ms. Needs a CUDA GPU.

Usage: python benchmarks/bench_gpu_inference.py [--model colorize_cli/assets/default.pt]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from colorize_cli.backends.torch_backend import optimize_for_inference  # noqa: E402
from colorize_cli.checkpoint import load_generator  # noqa: E402

SIDES = range(96, 97 + 32 * 9, 32)
SETUPS = [  # name, BN folded, memory format, cudnn enabled, cudnn.benchmark
    ("folded, channels_last", True, torch.channels_last, True, False),
    ("folded, NCHW", True, torch.contiguous_format, True, False),
    ("plain, NCHW", False, torch.contiguous_format, True, False),
    ("folded, channels_last, no cudnn", True, torch.channels_last, False, False),
    ("folded, NCHW, no cudnn", True, torch.contiguous_format, False, False),
    ("folded, NCHW, benchmark", True, torch.contiguous_format, True, True),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(Path(__file__).resolve().parents[1] / "colorize_cli/assets/default.pt"))
    ap.add_argument("--shapes", type=int, default=3, help="new shapes per setup")
    args = ap.parse_args()
    t = time.perf_counter()
    torch.zeros(1, device="cuda")
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}: "
          f"CUDA init {time.perf_counter() - t:.2f} s")
    shapes = iter(itertools.product(SIDES, SIDES))
    for name, fold, fmt, cudnn, bench in SETUPS:
        t = time.perf_counter()
        model, _ = load_generator(args.model, "cpu")
        if fold:
            model = optimize_for_inference(model)
        model = model.to("cuda").to(memory_format=fmt)
        torch.cuda.synchronize()
        load_s = time.perf_counter() - t
        torch.backends.cudnn.enabled = cudnn
        torch.backends.cudnn.benchmark = bench
        first = []
        with torch.inference_mode():
            for _ in range(args.shapes):
                h, w = next(shapes)
                x = torch.rand(1, 1, h, w, device="cuda").contiguous(memory_format=fmt)
                torch.cuda.synchronize()
                t = time.perf_counter()
                model(x).cpu()
                first.append(f"{h}x{w}:{(time.perf_counter() - t) * 1e3:.0f}")
            x = torch.rand(1, 1, 192, 192, device="cuda").contiguous(memory_format=fmt)
            model(x).cpu()
            steady = []
            for _ in range(20):
                t = time.perf_counter()
                model(x).cpu()
                steady.append((time.perf_counter() - t) * 1e3)
        print(f"{name:34} load {load_s:5.2f} s | first call per new shape (ms) {' '.join(first)} "
              f"| steady 192x192 {statistics.median(steady):.2f} ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
