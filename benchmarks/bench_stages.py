"""Stage bound: each stage of the colorize pipeline timed alone, single-threaded, per image.

    python benchmarks/bench_stages.py [--count 20] [--width 1500 --height 1000] [--model-onnx P --model-pt P]

Stages: decode (Pillow), L* extraction, resize to the network input, model forward (ONNX Runtime and
PyTorch, batch 1 and the best batch of 1/2/4/8, one thread), compose (ab upsample + Lab->sRGB with
the original L*; the compiled path where it is built, the numpy path printed beside it), encode
(JPEG write). With every stage single-threaded, the pipeline's ideal
throughput on C cores is C / (sum of stage seconds per image): the bound the end-to-end run
(bench_cli.py) is compared against.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _common import default_models, folder_args, make_folder, tempdir
from PIL import Image


def per_image(fn, items) -> float:
    fn(items[0])  # warm-up
    t = time.perf_counter()
    for it in items:
        fn(it)
    return (time.perf_counter() - t) / len(items)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    folder_args(ap, 20)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from colorize_cli import lab_kernel
    from colorize_cli.backends import open_backend
    from colorize_cli.imagefile import decode_image, write_image
    from colorize_cli.pipeline import compose, network_input

    work = tempdir("bench_stages_")
    files = sorted(make_folder(work / "in", args.count, args.width, args.height).glob("*.jpg"))[: args.count]
    models = default_models(work)
    onnx = open_backend("onnx", args.model_onnx or models["onnx"], device="cpu", threads=1)
    size, stride = onnx.config.default_size, onnx.config.stride

    stages: dict[str, float] = {}
    other: dict[str, float] = {}  # printed, not counted in the bound
    stages["decode"] = per_image(lambda f: Image.open(f).load(), files)
    decoded = [decode_image(f) for f in files]
    # For 8-bit gray photos decode_image keeps the codes (L* is looked up after the resize, and in
    # the compose), so this is ~0 there; colour and 16-bit photos pay a full-size L* plane here.
    stages["L* extraction"] = max(0.0, per_image(decode_image, files) - stages["decode"])
    xs = [network_input(d.lightness, size, stride) for d in decoded]
    stages["resize"] = per_image(lambda d: network_input(d.lightness, size, stride), decoded)
    if decoded[0].gray8 is not None:  # what these photos would cost through a full-size L* plane
        other["L* plane, then resize of L*"] = per_image(
            lambda f: network_input(decode_image(f).L, size, stride), files
        ) - stages["decode"]
    forward = {}
    backends = {"onnx": onnx}
    try:
        # float32, and bfloat16 where it is native (what --precision auto picks there: AMX).
        import torch

        from colorize_cli.backends.torch_backend import native_bfloat16

        for precision in ("fp32", "bf16") if native_bfloat16(torch.device("cpu")) else ("fp32",):
            backends[f"torch {precision}"] = open_backend(
                "torch", args.model_pt or models["torch"], device="cpu", threads=1, precision=precision
            )
    except Exception as exc:  # noqa: BLE001 - torch is optional
        print(f"(torch backend skipped: {exc})")
    for name, be in backends.items():
        for bs in (1, 2, 4, 8):
            batch = np.stack([xs[i % len(xs)] for i in range(bs)])
            be.predict(batch)
            t = time.perf_counter()
            reps = max(1, 8 // bs)
            for _ in range(reps):
                be.predict(batch)
            forward[(name, bs)] = (time.perf_counter() - t) / (reps * bs)
    abs_ = [onnx.predict(x[None])[0] for x in xs]
    # The compiled compose (what a run uses where it is built), and the numpy path beside it.
    idx = list(range(len(decoded)))
    other["compose, numpy path"] = per_image(lambda i: compose(decoded[i].lightness, abs_[i], compiled=False), idx)
    stages["compose"] = other["compose, numpy path"]
    if lab_kernel.available():
        stages["compose"] = per_image(lambda i: compose(decoded[i].lightness, abs_[i], compiled=True), idx)
        if decoded[0].gray8 is not None:
            other["compose from a float L* plane"] = per_image(
                lambda i: compose(decoded[i].L, abs_[i], compiled=True), idx
            )
    pixels = compose(decoded[0].lightness, abs_[0])
    stages["encode"] = per_image(lambda i: write_image(work / f"o{i}.jpg", pixels), list(range(len(files))))

    cores = os.cpu_count() or 1
    print(f"{len(files)} JPEGs {args.width}x{args.height}, inference {xs[0].shape[1]}x{xs[0].shape[2]}, "
          f"model: {models['kind']}, {cores} cores; all stages single-threaded")
    print(f"{'stage':28} {'ms/image':>9}")
    for name, sec in stages.items():
        print(f"{name:28} {sec * 1000:9.1f}")
    for (name, bs), sec in forward.items():
        print(f"{'forward ' + name + f' (batch {bs})':28} {sec * 1000:9.1f}")
    for name, sec in other.items():
        print(f"{'(' + name + ')':28} {sec * 1000:9.1f}")
    io_sum = sum(stages.values())
    for name in backends:
        best_bs = min((bs for (n, bs) in forward if n == name), key=lambda b: forward[(name, b)])
        total = io_sum + forward[(name, best_bs)]
        print(f"bound ({name}, batch {best_bs}): {total * 1000:.0f} ms/image single-threaded -> "
              f"{cores / total:.2f} images/s on {cores} cores")


if __name__ == "__main__":
    main()
