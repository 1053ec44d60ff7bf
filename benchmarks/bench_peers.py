"""Forward-pass speed of peer architectures vs ours at an equal input size, on this CPU.

    python benchmarks/bench_peers.py [--size 256] [--batch 1] [--repeat 5] [--threads N]

Random weights (speed only). Peers: Zhang et al.'s ECCV16 colorization network (VGG-style with
dilated convolutions and a 313-bin classification head, re-implemented here from the paper's
layer table), the seed's pix2pix U-Net (`unet`), and our `mobilenet_unet` in PyTorch and ONNX
Runtime: the shipped architecture (four decoder levels) and the five-level one it replaced.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn


def eccv16_like() -> nn.Module:
    """Zhang et al. 2016: conv blocks (64, 128, 256, 512, 512d, 512d, 512) then deconv + 313-way head."""

    def block(cin, cout, n, stride_last=1, dilation=1):
        layers = []
        for i in range(n):
            stride = stride_last if i == n - 1 else 1
            layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, stride, padding=dilation, dilation=dilation), nn.ReLU(True)]
        return layers + [nn.BatchNorm2d(cout)]

    layers = (
        block(1, 64, 2, 2) + block(64, 128, 2, 2) + block(128, 256, 3, 2) + block(256, 512, 3)
        + block(512, 512, 3, dilation=2) + block(512, 512, 3, dilation=2) + block(512, 512, 3)
        + [nn.ConvTranspose2d(512, 256, 4, 2, 1), nn.ReLU(True), nn.Conv2d(256, 256, 3, 1, 1), nn.ReLU(True),
           nn.Conv2d(256, 256, 3, 1, 1), nn.ReLU(True), nn.Conv2d(256, 313, 1), nn.Softmax(dim=1),
           nn.Conv2d(313, 2, 1, bias=False), nn.Upsample(scale_factor=4, mode="bilinear")]
    )
    return nn.Sequential(*layers)


def timed(fn, repeat: int) -> float:
    fn()  # warm-up (allocations, kernel selection)
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from colorize_cli.backends.onnx_backend import OnnxBackend
    from colorize_cli.export.onnx_export import export_generator
    from colorize_cli.models import GeneratorConfig, build_generator, count_parameters

    torch.manual_seed(0)
    x = torch.randn(args.batch, 1, args.size, args.size)
    # Ours: the bundled model's architecture (four decoder levels: ab at half size) and the
    # five-level one it replaced (the training default).
    ours_cfgs = {
        "ours, shipped (4-level decoder)": GeneratorConfig(decoder_channels=(256, 128, 64, 32)),
        "ours, 5-level decoder": GeneratorConfig(),
    }
    nets = {
        "Zhang et al. ECCV16": eccv16_like(),
        "seed U-Net (unet)": build_generator(GeneratorConfig(arch="unet")),
    }
    nets.update({f"{name}, torch": build_generator(cfg) for name, cfg in ours_cfgs.items()})
    rows = []
    with torch.inference_mode():
        for name, net in nets.items():
            net.eval()
            rows.append((name, count_parameters(net), timed(lambda net=net: net(x), args.repeat)))
    import tempfile
    from pathlib import Path

    xn = x.numpy()
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, cfg) in enumerate(ours_cfgs.items()):
            net = nets[f"{name}, torch"]
            backend = OnnxBackend(export_generator(net, cfg, Path(tmp) / f"m{i}.onnx"), device="cpu", threads=args.threads)
            rows.append((f"{name}, onnx", count_parameters(net), timed(lambda b=backend: b.predict(xn), args.repeat)))
    ours = rows[-2][2]  # the shipped architecture on ONNX Runtime
    print(f"input {args.batch}x1x{args.size}x{args.size}, {torch.get_num_threads()} torch threads")
    print(f"{'network':38} {'params':>12} {'ms/batch':>9} {'images/s':>9} {'ours (shipped, onnx) faster by':>31}")
    for name, params, sec in rows:
        print(f"{name:38} {params:12,d} {sec * 1000:9.1f} {args.batch / sec:9.2f} {sec / ours:30.1f}x")


if __name__ == "__main__":
    main()
