"""Whole-command time of two source trees (before / after a change), alternated in one run.

    python benchmarks/bench_before_after.py --tree before=/tmp/before --tree after=. \
        [--sets 1,7,40,100,1000,12MP,100MP] [--backends onnx,torch] [--reps 3]

Each run is ``python -S -m colorize_cli DIR -o OUT --backend B -q`` in a fresh process, timed
from outside (interpreter start-up, imports, model loading, every photo written). ``-S`` with
``PYTHONPATH=TREE:SITE_PACKAGES`` makes each tree's own ``colorize_cli`` the one imported (an
editable install's import hook would otherwise pick the installed tree). The trees alternate
(A, B, A, B, ...) so machine load hits both alike; the table gives medians and the B/A ratio.
Sets: ``N`` = N generated 1.5 MP gray JPEGs; ``12MP`` and ``100MP`` = one photo of that size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from _common import make_folder, photo_like, tempdir

_SIZES = {"12MP": (4000, 3000), "100MP": (12000, 8334)}


def make_set(root: Path, name: str) -> Path:
    folder = root / name
    if name in _SIZES:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "big.jpg"
        if not path.exists():
            photo_like(*_SIZES[name], seed=1).save(path, quality=90)
        return folder
    return make_folder(folder, int(name), 1500, 1000)


def run_once(tree: Path, src: Path, out: Path, backend: str) -> float:
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=f"{tree}{os.pathsep}{sysconfig.get_paths()['purelib']}")
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-S", "-m", "colorize_cli", str(src), "-o", str(out), "--backend", backend, "-q"],
        env=env, capture_output=True, text=True,
    )
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{tree} {backend} {src}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", action="append", required=True, help="NAME=PATH, twice: A then B")
    ap.add_argument("--sets", default="1,7,40,100,1000,12MP,100MP")
    ap.add_argument("--backends", default="onnx,torch")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--reps-big", type=int, default=1, help="reps for sets of more than 100 photos")
    ap.add_argument("--json", type=Path, help="append one JSON line per run here")
    ap.add_argument("--work", type=Path, help="folder for the generated photos (kept and reused; default: a new temporary one)")
    args = ap.parse_args()
    trees = [(name, Path(path).resolve()) for name, path in (t.split("=", 1) for t in args.tree)]
    if len(trees) != 2:
        ap.error("give --tree twice")
    work = args.work or tempdir("bench_before_after_")
    sets = args.sets.split(",")
    for name in sets:
        make_set(work / "in", name)
    # Warm-up, untimed: the OS file cache and any cache a tree keeps (numba's, in trees that used
    # it: a first compile takes seconds), twice over.
    for _ in range(2):
        for _, tree in trees:
            run_once(tree, make_set(work / "in", "40"), work / "warm", "onnx")
    times: dict[tuple, list[float]] = {}
    for name in sets:
        reps = args.reps_big if not name.endswith("MP") and int(name) > 100 else args.reps
        for backend in args.backends.split(","):
            for rep in range(reps):
                for tree_name, tree in trees if rep % 2 == 0 else trees[::-1]:
                    s = run_once(tree, make_set(work / "in", name), work / "out", backend)
                    times.setdefault((name, backend, tree_name), []).append(s)
                    if args.json:
                        with open(args.json, "a") as fh:
                            fh.write(json.dumps({"set": name, "backend": backend, "tree": tree_name, "seconds": s}) + "\n")
                    print(f"{name:>6} {backend:6} {tree_name:8} {s:7.2f} s", flush=True)
    (a, _), (b, _) = trees
    print(f"\n| photos | backend | {a} s | {b} s | {b} / {a} | {b} photos/s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in sets:
        for backend in args.backends.split(","):
            ta = statistics.median(times[(name, backend, a)])
            tb = statistics.median(times[(name, backend, b)])
            count = 1 if name.endswith("MP") else int(name)
            print(f"| {name} | {backend} | {ta:.2f} | {tb:.2f} | {tb / ta:.2f} | {count / tb:.2f} |")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
