"""Big archives: memory and time to first output for 1,000 vs 10,000 tiny files, and sharding.

    python benchmarks/bench_archive.py [--counts 1000,10000] [--shards 4] [--model P]

Generates folders of 8x8 gray PNGs (500 per sub-folder), colorizes each in a fresh CLI process
and reports files/s, seconds to the first finished file (from process start: the walk is cheap
and no image is decoded before work starts), and the peak RSS of that process. Peak RSS must not
grow with the file count beyond the job list (a few hundred bytes per file). With --shards N the
largest folder is also run as N shards (``--shard K/N``) into one folder, checking that every file
is done exactly once. Uses a tiny random-weight model unless --model is given (per-file overhead
is what is measured here, not the network).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from bench_big_image import measure_cli  # noqa: E402


def make_archive(root: Path, count: int, per_folder: int = 500) -> Path:
    """``count`` 8x8 gray PNGs under ``root/dNNN/`` (reused if already there)."""
    marker = root / ".complete"
    if marker.exists():
        return root
    rng = np.random.default_rng(0)
    for i in range(count):
        d = root / f"d{i // per_folder:03d}"
        if i % per_folder == 0:
            d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), "L").save(d / f"img{i:05d}.png")
    marker.write_text("")
    return root


def tiny_onnx(workdir: Path) -> Path:
    """A tiny random-weight model (the per-file cost, not the network, is what is measured)."""
    from colorize_cli.export.onnx_export import export_generator
    from colorize_cli.models import GeneratorConfig, build_generator

    path = workdir / "tiny.onnx"
    if not path.exists():
        cfg = GeneratorConfig(width_mult=0.25, decoder_channels=(16, 16, 8, 8, 8), train_size=64)
        export_generator(build_generator(cfg).eval(), cfg, path)
    return path


def run_shards(src: Path, out: Path, model: Path, n: int, workdir: Path) -> dict:
    """Run ``--shard K/N`` for K = 1..N into ``out``; return per-input counts across the reports."""
    seen: dict[str, int] = {}
    seconds = 0.0
    for k in range(1, n + 1):
        report = workdir / f"shard{k}.jsonl"
        res = measure_cli([src, "-o", out, "--backend", "onnx", "--model", model, "-q",
                           "--shard", f"{k}/{n}", "--report", report])
        if res["rc"] != 0:
            raise RuntimeError(f"shard {k}/{n} failed ({res['rc']}):\n{res['log'][-2000:]}")
        seconds += res["seconds"]
        for line in report.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            if rec["status"] == "ok":
                seen[rec["input"]] = seen.get(rec["input"], 0) + 1
    return {"seen": seen, "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", default="1000,10000")
    ap.add_argument("--shards", type=int, default=4, help="0 to skip the shard run")
    ap.add_argument("--model", type=Path, help="an .onnx model (default: a tiny random one)")
    ap.add_argument("--keep", type=Path, help="work folder to use and keep")
    args = ap.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_archive_"))
    work.mkdir(parents=True, exist_ok=True)
    model = args.model or tiny_onnx(work)
    counts = [int(c) for c in args.counts.split(",")]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; 8x8 gray PNGs; model {model.name} (onnx)")
    print(f"{'files':>7} {'files/s':>8} {'wall s':>7} {'first out s':>11} {'peak RSS MB':>12}")
    for count in counts:
        t = time.perf_counter()
        src = make_archive(work / f"archive_{count}", count)
        gen = time.perf_counter() - t
        out = work / f"out_{count}"
        shutil.rmtree(out, ignore_errors=True)
        res = measure_cli([src, "-o", out, "--backend", "onnx", "--model", model])
        if res["rc"] != 0:
            raise SystemExit(f"CLI failed ({res['rc']}):\n{res['log'][-2000:]}")
        print(f"{count:7d} {count / res['seconds']:8.0f} {res['seconds']:7.1f} {res['first_output_s']:11.2f} "
              f"{res['peak_rss_mb']:12.0f}   (generated in {gen:.1f} s)")
    if args.shards:
        count = max(counts)
        out = work / "out_shards"
        shutil.rmtree(out, ignore_errors=True)
        r = run_shards(work / f"archive_{count}", out, model, args.shards, work)
        once = sum(1 for v in r["seen"].values() if v == 1)
        print(f"--shard K/{args.shards} over {count} files: {len(r['seen'])} done, {once} exactly once, "
              f"{r['seconds']:.1f} s in all")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
