"""The local engine against ``--executor ray``, whole command, alternated in one run (issue 16).

    python benchmarks/bench_ray.py [--sets 100,1000] [--reps 3] [--reps-large 1] [--out FILE.json]

Two phases, each alternating A (local engine) and B (Ray) per set, medians reported:

1. **one node**: ``--executor ray`` with no cluster running, so each run starts a local Ray for
   itself (what a user on one machine meets);
2. **cluster**: a head with no CPUs and two worker nodes of 1 CPU each, started with ``ray start``
   on this machine (``--executor ray --ray-address HEAD``): two worker processes joined to a head.

Each run is ``python -m colorize_cli DIR -o OUT -q`` in a fresh process with the bundled model,
timed from outside (start-up, imports, Ray's start or join, every photo written); the output
folder is new each time. Sets: N generated 1.5 MP gray JPEGs (as in bench_before_after.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import make_folder, tempdir

PORT = 6391


def timed(args: list[str], env: dict | None = None) -> float:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "colorize_cli", *args, "-q"], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(args)}\n{proc.stderr[-2000:]}")
    return seconds


def alternate(src: Path, work: Path, reps: int, ray_args: list[str], env: dict) -> dict:
    times: dict[str, list[float]] = {"local": [], "ray": []}
    for rep in range(reps):
        for name, extra in (("local", []), ("ray", ["--executor", "ray", *ray_args])):
            out = work / f"out-{name}-{rep}"
            times[name].append(timed([str(src), "-o", str(out), *extra], env))
            shutil.rmtree(out)
            print(f"  {src.name} {name} rep {rep}: {times[name][-1]:.2f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"times": times, "median": med, "ratio": med["ray"] / med["local"]}


def ray_cli(*args: str, env: dict) -> None:
    subprocess.run([str(Path(sys.executable).with_name("ray")), *args], env=env, check=True, capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="100,1000")
    ap.add_argument("--reps", type=int, default=3, help="alternations for sets under 1000 photos")
    ap.add_argument("--reps-large", type=int, default=1, help="alternations for sets of 1000 photos or more")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    work = tempdir("colorize-bench-ray")
    sets = {int(n): make_folder(work / f"set{n}", int(n), 1500, 1000) for n in args.sets.split(",")}
    results: dict = {"machine": os.uname().nodename, "cores": os.cpu_count(), "phases": {}}
    env = {**os.environ, "RAY_AUTH_MODE": "token"}  # Ray's default: nodes joining a head need its token
    ray_cli("stop", "--force", env=env)
    for phase in ("one node", "cluster"):
        ray_args: list[str] = []
        if phase == "cluster":
            ray_cli("start", "--head", f"--port={PORT}", "--num-cpus=0", "--include-dashboard=false", env=env)
            for _ in range(2):
                ray_cli("start", f"--address=127.0.0.1:{PORT}", "--num-cpus=1", env=env)
            ray_args = ["--ray-address", f"127.0.0.1:{PORT}"]
        print(f"phase: {phase}", flush=True)
        try:
            results["phases"][phase] = {
                n: alternate(src, work, args.reps if n < 1000 else args.reps_large, ray_args, env)
                for n, src in sets.items()
            }
        finally:
            if phase == "cluster":
                ray_cli("stop", "--force", env=env)
    for phase, by_set in results["phases"].items():
        for n, r in by_set.items():
            m = r["median"]
            print(f"{phase:9s} {n:5d} photos: local {m['local']:.2f} s ({n / m['local']:.1f}/s), "
                  f"ray {m['ray']:.2f} s ({n / m['ray']:.1f}/s), ray/local {r['ratio']:.2f}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
