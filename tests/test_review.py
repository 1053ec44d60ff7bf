"""The review gallery: a self-contained page, tested in a real browser (headless Chromium)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from colorize_cli.cli import main
from tests.conftest import make_photo


@pytest.fixture()
def gallery(tmp_path, tiny_models) -> tuple[Path, list[dict]]:
    import json

    src = tmp_path / "in"
    src.mkdir()
    for i in range(4):
        make_photo(120, 80, i, "L").save(src / f"gray{i}.jpg", quality=90)
    make_photo(120, 80, 9, "RGB").save(src / "colour.jpg", quality=90)
    (src / "broken.jpg").write_bytes(b"not a jpeg")
    report, review = tmp_path / "run.jsonl", tmp_path / "review"
    args = [src, "-o", tmp_path / "out", "--model", tiny_models["onnx"], "--report", report, "--review", review]
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 1, result.output  # one broken file
    records = [json.loads(line) for line in report.read_text().splitlines()]
    return review / "index.html", records


def test_the_page_is_self_contained_with_relative_paths(gallery):
    index, records = gallery
    page = index.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # no CDN, no server
    assert "<script src" not in page and "<link" not in page  # styles and script inline
    for path in re.findall(r'"(img/[^"]+)"', page):
        assert (index.parent / path).is_file()
    assert len(re.findall(r'"img/[^"]+-b\.jpg"', page)) == sum(r["status"] == "ok" for r in records)


def test_review_command_rebuilds_the_gallery_from_a_report(gallery, tmp_path):
    index, _ = gallery
    out = tmp_path / "again"
    result = CliRunner().invoke(main, ["review", str(tmp_path / "run.jsonl"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "index.html").read_text() .count('"status"') == index.read_text().count('"status"')


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no Chromium (Debian: apt-get install chromium); .ci/run installs it")


def _browser(*args: str) -> str:
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=True).stdout


def _screenshot(index: Path, fragment: str, path: Path) -> np.ndarray:
    _browser(f"--screenshot={path}", "--window-size=1000,760", f"{index.as_uri()}#{fragment}")
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def test_a_browser_shows_the_page_and_the_slider_moves_the_split(gallery, tmp_path):
    index, _ = gallery
    page = _screenshot(index, "", tmp_path / "page.png")
    assert page.std() > 10  # not blank: thumbnails and text
    left = _screenshot(index, "open=2&slider=5", tmp_path / "left.png")  # row 0 is the broken file
    right = _screenshot(index, "open=2&slider=95", tmp_path / "right.png")
    changed = np.abs(left - right).max(axis=-1) > 24
    assert changed.mean() > 0.01  # the viewer's image changed where the split moved
    ys, xs = np.nonzero(changed)
    assert xs.max() - xs.min() > 100  # across the picture, not a caret blinking


@pytest.mark.parametrize("view, want", [("failed", "failed"), ("color", "color"), ("all", None)])
def test_the_filters_hide_the_other_rows(gallery, view, want):
    index, records = gallery
    dom = _browser("--dump-dom", f"{index.as_uri()}#filter={view}")
    shown = re.findall(r'<div class="row"[^>]*>', dom)  # the rows a filter hides are not built
    assert shown and all("hidden" not in r for r in shown)
    if want == "failed":
        assert len(shown) == sum(r["status"] == "failed" for r in records) == 1
        assert 'data-status="failed"' in shown[0]
    elif want == "color":
        assert len(shown) == sum(r.get("input_kind") == "color" for r in records) == 1
    else:
        assert len(shown) == len(records)
    assert f"{len(shown)} of {len(records)} photos" in dom


def test_a_large_gallery_builds_every_row_and_fetches_only_nearby_thumbnails(tmp_path):
    from colorize_cli.review import build_gallery

    photos = []
    for i in range(3):
        make_photo(40, 30, i, "L").save(tmp_path / f"p{i}.jpg")
        photos.append(tmp_path / f"p{i}.jpg")
    n = 1200  # more than the first chunk of rows
    records = [{"input": str(photos[i % 3]), "output": str(photos[(i + 1) % 3]), "status": "ok", "error": None,
                "seconds": 0.1, "input_kind": "gray"} for i in range(n)]
    index = build_gallery(records, tmp_path / "review")
    dom = _browser("--window-size=1000,760", "--virtual-time-budget=10000", "--dump-dom", f"{index.as_uri()}#open=1100")
    rows = re.findall(r'<div class="row[^"]*"[^>]*>', dom)
    assert len(rows) == n, "the rows after the first chunk are built too"
    with_src = re.findall(r'<img[^>]* src="img/', dom)
    assert 0 < len(with_src) < 200, "thumbnails far from the view are not fetched"
    assert "sel" in rows[1100] and re.search(r'<div id="viewer"(?![^>]*hidden)', dom), "#open= reaches a late row"
