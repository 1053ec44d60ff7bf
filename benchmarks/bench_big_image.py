"""Peak memory and time to colorize one very large photo (default: a 100-megapixel scan).

    python benchmarks/bench_big_image.py [--megapixels 100] [--mode RGB|L|I;16] [--suffix jpg|png|tif]
                                         [--backend onnx] [--model P] [--keep DIR]

Generates the photo (a smooth synthetic scan, 10000x10000 for 100 MP), then runs the real CLI on
it in a fresh process and reports the wall time and the peak RSS of that process (wait4's rusage,
taken by a small launcher process so the parent's size is not counted). Without --model a random-weight model of the default
architecture is used (the bundled one if present): full-resolution memory does not depend on the
weights. tests/test_reliability_slow.py uses :func:`make_big_image` and :func:`measure_cli`.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_big_image(path: Path, megapixels: float = 100.0, mode: str = "RGB", quality: int = 85) -> Path:
    """A ``megapixels`` MP synthetic scan (gradient + ripples), square-ish, saved at ``path``."""
    side = int(math.sqrt(megapixels * 1e6))
    h, w = side, int(megapixels * 1e6) // side
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    gray = y * 170.0 + 40.0 * np.sin(x * 40.0) + 30.0  # broadcast: one float32 plane, ~4 bytes/px
    gray = np.clip(gray, 0, 255)
    if mode == "I;16":
        im = Image.fromarray((gray * 257.0).astype(np.uint16))
    else:
        im = Image.fromarray(gray.astype(np.uint8), "L")
        if mode != "L":
            im = im.convert(mode)
    del gray
    kwargs = {"quality": quality} if path.suffix.lower() in (".jpg", ".jpeg") else {}
    if path.suffix.lower() in (".tif", ".tiff"):
        kwargs = {"compression": "tiff_deflate"}
    im.save(path, **kwargs)
    return path


# Peak RSS is taken by a small launcher process: Linux folds the memory high-water mark of the
# process image replaced by exec() into the new program's ru_maxrss, so a child spawned straight
# from a big parent (pytest with torch loaded) would report the parent's size, not its own.
_LAUNCHER = r"""
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as fh:
    fh.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def measure_cli(args: list, *, cwd: Path | None = None, timeout: float = 900) -> dict:
    """Run ``colorize-cli ARGS`` in a fresh process; return rc, wall seconds, seconds to the first
    finished file (first ``ok``/``FAILED`` log line), peak RSS in MB and the log."""
    import tempfile

    env = dict(os.environ, NO_COLOR="1")
    fd, rss_file = tempfile.mkstemp(prefix="bench_rss_")
    os.close(fd)
    cmd = [sys.executable, "-c", _LAUNCHER, rss_file, sys.executable, "-m", "colorize_cli", *map(str, args)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    first = None
    lines: list[bytes] = []
    assert proc.stderr is not None
    for line in proc.stderr:
        if first is None and (line.startswith(b"ok ") or line.startswith(b"FAILED")):
            first = time.perf_counter() - t0
        lines.append(line)
        if time.perf_counter() - t0 > timeout:
            proc.kill()
    rc = proc.wait()
    seconds = time.perf_counter() - t0
    proc.stderr.close()
    rss_text = Path(rss_file).read_text()
    os.unlink(rss_file)
    return {
        "rc": rc,
        "seconds": seconds,
        "first_output_s": first,
        "peak_rss_mb": int(rss_text) / 1024 if rss_text else float("nan"),  # KiB on Linux
        "log": b"".join(lines).decode("utf-8", errors="replace"),
    }


def _model(workdir: Path, backend: str, given: Path | None) -> Path:
    if given:
        return given
    sys.path.insert(0, str(Path(__file__).parent))
    from _common import default_models

    return default_models(workdir)[backend]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--megapixels", type=float, default=100.0)
    ap.add_argument("--mode", default="RGB", choices=["RGB", "L", "I;16"])
    ap.add_argument("--suffix", default="jpg", choices=["jpg", "png", "tif"])
    ap.add_argument("--backend", default="onnx", choices=["onnx", "torch"])
    ap.add_argument("--model", type=Path)
    ap.add_argument("--keep", type=Path, help="work folder to use and keep (default: a temporary one)")
    args = ap.parse_args()

    import tempfile

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_big_"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / f"big_{args.megapixels:g}mp_{args.mode.replace(';', '')}.{args.suffix}"
    t = time.perf_counter()
    if not src.exists():
        make_big_image(src, args.megapixels, args.mode)
    gen = time.perf_counter() - t
    model = _model(work, args.backend, args.model)
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    res = measure_cli([src, "-o", out, "--backend", args.backend, "--model", model, "--overwrite"])
    if res["rc"] != 0:
        raise SystemExit(f"CLI failed ({res['rc']}):\n{res['log'][-2000:]}")
    with Image.open(src) as im:
        size = im.size
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; input {src.name} {size[0]}x{size[1]} "
          f"({src.stat().st_size / 1e6:.1f} MB, generated in {gen:.1f} s); backend {args.backend}, model {model.name}")
    print(f"wall {res['seconds']:.1f} s (process start to exit), peak RSS {res['peak_rss_mb']:.0f} MB")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
