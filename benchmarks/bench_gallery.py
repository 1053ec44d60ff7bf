"""Review galleries of N records (over 20 small real images), timed in headless Chromium.

    python benchmarks/bench_gallery.py 100 10000

Each view (plain, filtered, sorted, viewer open) is one whole ``chromium --headless --screenshot``
run, browser start included.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from colorize_cli.review import build_gallery  # noqa: E402
from tests.conftest import make_photo  # noqa: E402


def records(n: int, base: list[Path]) -> list[dict]:
    recs = []
    for i in range(n):
        failed = i % 50 == 0
        recs.append({
            "input": str(base[i % 20]), "output": str(base[(i + 7) % 20]), "status": "failed" if failed else "ok",
            "error": "x" if failed else None, "seconds": 0.1, "input_kind": "color" if i % 33 == 0 else "gray",
            "flags": {"colorfulness": (i * 7) % 70, "gamut_reduced": ((i * 13) % 100) / 400},
        })
    return recs


def main() -> None:
    root = Path(os.environ.get("BENCH_TMP", "/tmp")) / "bench-gallery"
    (root / "imgs").mkdir(parents=True, exist_ok=True)
    base = [root / "imgs" / f"b{i}.jpg" for i in range(20)]
    for i, p in enumerate(base):
        if not p.exists():
            make_photo(96, 72, seed=i).save(p)
    for n in (int(a) for a in sys.argv[1:]):
        started = time.perf_counter()
        index = build_gallery(records(n, base), root / f"gal{n}")
        built = time.perf_counter() - started
        views = {"load": "", "filter": "#filter=failed", "sort": "#sort=colorfulness", "open": f"#open={n // 2}&slider=20"}
        seconds = {}
        for name, fragment in views.items():
            started = time.perf_counter()
            subprocess.run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
                            f"--screenshot={root}/shot{n}.png", f"file://{index}{fragment}"],
                           capture_output=True, timeout=300)
            seconds[name] = round(time.perf_counter() - started, 2)
        print(f"{n} records: build {built:.1f} s, index.html {index.stat().st_size / 1e6:.1f} MB, "
              f"chromium s: {seconds}", flush=True)


if __name__ == "__main__":
    main()
