"""Planning N listed paths: the job-list file (the Ray executor's) against the in-memory plan.

    python benchmarks/bench_plan.py file 1000000
    python benchmarks/bench_plan.py list 1000000

The paths need not exist (planning opens no file); peak RSS is the whole process's.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path


def main() -> None:
    how, n = sys.argv[1], int(sys.argv[2])
    root = Path(os.environ.get("BENCH_TMP", "/tmp"), "bench-plan")
    root.mkdir(exist_ok=True)
    listed = (f"scans/box{i // 1000:04d}/p{i:07d}.jpg" for i in range(n))  # a lazy --files-from
    started = time.perf_counter()
    if how == "file":
        from colorize_cli.joblist import plan_to_file

        count = plan_to_file([], root / "out", root / "plan.jsonl", listed=listed).count
    else:
        from colorize_cli.jobs import plan_jobs

        count = len(plan_jobs([], root / "out", listed=listed)[0])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{how}: {count} jobs in {time.perf_counter() - started:.1f} s, peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
