"""The 40-photo cliff: 40 and 100 generated 1.5 MP gray JPEGs, whole command, alternated.

    python benchmarks/bench_cliff.py [--tree PATH] [--reps 9] [--backend onnx]

Each run is ``python -S -m colorize_cli DIR -o OUT --backend B -q`` in a fresh process (as in
bench_before_after.py, whose photos and runner it reuses); prints the medians and the 40-photo
run's rate as a share of the 100-photo run's (issue 14 asks for at least 85%).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from _common import tempdir
from bench_before_after import make_set, run_once


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--backend", default="onnx")
    args = ap.parse_args()
    work = tempdir("bench_cliff_")
    sets = {n: make_set(work / "in", str(n)) for n in (40, 100)}
    run_once(args.tree.resolve(), sets[40], work / "out", args.backend)  # warm-up: the file cache
    times: dict[int, list[float]] = {40: [], 100: []}
    for rep in range(args.reps):
        for n in (40, 100) if rep % 2 == 0 else (100, 40):
            times[n].append(run_once(args.tree.resolve(), sets[n], work / "out", args.backend))
    m40, m100 = statistics.median(times[40]), statistics.median(times[100])
    print({n: [round(t, 2) for t in ts] for n, ts in times.items()})
    print(f"40: {m40:.2f} s ({40 / m40:.1f}/s); 100: {m100:.2f} s ({100 / m100:.1f}/s); "
          f"40 at {(40 / m40) / (100 / m100):.0%} of 100's rate")


if __name__ == "__main__":
    main()
