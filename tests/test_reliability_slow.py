"""Reliability at scale (issue 6), slow: a 100 MP photo, and a 10,000-file archive.

Both measure the real CLI in a fresh process with the benchmark helpers (benchmarks/
bench_big_image.py and bench_archive.py), so the test and the numbers in benchmarks/RESULTS.md
come from the same code.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from colorize_cli.fsutil import TMP_PREFIX

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("bench_big_image"), importlib.import_module("bench_archive")
    finally:
        sys.path.remove(str(BENCH))


def test_100_megapixel_photo_under_2_5_gb(tiny_models, tmp_path, bench, monkeypatch):
    big, _ = bench
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # reading the result back is not a bomb
    src = big.make_big_image(tmp_path / "scan.jpg", 100.0, "RGB")
    out = tmp_path / "out"
    res = big.measure_cli([src, "-o", out, "--backend", "onnx", "--model", tiny_models["onnx"]])
    print(f"\n100 MP RGB JPEG: {res['seconds']:.1f} s, peak RSS {res['peak_rss_mb']:.0f} MB")
    assert res["rc"] == 0, res["log"]
    assert res["peak_rss_mb"] < 2500
    with Image.open(out / "scan.jpg") as im:
        assert im.size == (10000, 10000) and im.mode == "RGB"
        im.load()
    assert not any(p.name.startswith(TMP_PREFIX) for p in out.iterdir())


def test_10000_file_archive_bounded_memory_fast_start_and_shards(tiny_models, tmp_path, bench):
    _, archive = bench
    model = tiny_models["onnx"]
    small = archive.make_archive(tmp_path / "a1k", 1000)
    large = archive.make_archive(tmp_path / "a10k", 10000)
    r1 = archive.measure_cli([small, "-o", tmp_path / "o1k", "--backend", "onnx", "--model", model])
    r10 = archive.measure_cli([large, "-o", tmp_path / "o10k", "--backend", "onnx", "--model", model,
                               "--report", tmp_path / "r10k.jsonl"])
    print(f"\n1k files: {r1['seconds']:.1f} s, first output {r1['first_output_s']:.2f} s, "
          f"peak RSS {r1['peak_rss_mb']:.0f} MB; 10k files: {r10['seconds']:.1f} s, "
          f"first output {r10['first_output_s']:.2f} s, peak RSS {r10['peak_rss_mb']:.0f} MB")
    assert r1["rc"] == 0 and r10["rc"] == 0, r10["log"][-2000:]
    records = [json.loads(line) for line in (tmp_path / "r10k.jsonl").read_text().splitlines()]
    assert len(records) == 10000 and all(r["status"] == "ok" for r in records)
    # work starts at once: no pre-scan that opens every image
    assert r10["first_output_s"] < 5.0
    # memory does not grow with the file count beyond the job list (~1 KB per file)
    assert r10["peak_rss_mb"] - r1["peak_rss_mb"] < 9000 * 4 / 1024 + 20

    # --shard K/N over N runs covers every file exactly once
    shards = archive.run_shards(large, tmp_path / "oshards", model, 4, tmp_path)
    assert len(shards["seen"]) == 10000 and set(shards["seen"].values()) == {1}
    assert sum(1 for _ in (tmp_path / "oshards").rglob("*.png")) == 10000
