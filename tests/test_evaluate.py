"""``colorize-cli evaluate`` and :mod:`colorize_cli.evaluation` on a tiny model and synthetic photos."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from colorize_cli import lab
from colorize_cli.cli import main
from colorize_cli.evaluation import center_crop, evaluate_files, find_photos, load_rgb, sheet_indices
from tests.conftest import make_photo

pytest.importorskip("skimage")


@pytest.fixture()
def color_dir(tmp_path) -> Path:
    root = tmp_path / "color"
    (root / "sub").mkdir(parents=True)
    make_photo(96, 64, 1).save(root / "a.png")
    make_photo(64, 80, 2).save(root / "b.jpg", quality=95)
    make_photo(72, 72, 3).save(root / "sub" / "c.png")
    (root / "notes.txt").write_text("not a photo")
    return root


def _run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("crop", [64, None])
def test_command_writes_reports(tiny_models, color_dir, tmp_path, crop):
    out = tmp_path / "eval"
    args = ["evaluate", str(color_dir), "--model", str(tiny_models["onnx"]), "--out", str(out)]
    if crop:
        args += ["--crop", str(crop)]
    res = _run(args)
    assert res.exit_code == 0, res.output
    assert "gray baseline" in res.output and "PSNR" in res.output

    data = json.loads((out / "metrics.json").read_text())
    assert data["counts"] == {"images": 3, "failed": 0, "total": 3}
    assert data["options"]["crop"] == crop
    assert data["options"]["precision"] == "auto"  # what was asked for
    assert data["options"]["engine_precision"] == "fp32"  # what the engine ran at
    assert "onnx" in data["model_description"]
    model, gray, orig = data["model"], data["gray_baseline"], data["originals"]
    for key in ("psnr", "ssim", "auc", "delta_cf", "cf_diff", "colorfulness", "cf_ratio"):
        assert isinstance(model[key], float) and isinstance(gray[key], float), key
    assert gray["colorfulness"] < 0.5  # gray has (almost) no chroma
    assert math.isfinite(gray["psnr"]) and 5 < gray["psnr"] < 60
    assert orig["colorfulness"] > 10
    assert 0 <= model["auc"] <= 1 and 0 <= gray["auc"] <= 1
    assert model["cf_ratio"] == pytest.approx(model["colorfulness"] / orig["colorfulness"])
    assert gray["delta_cf"] == pytest.approx(orig["colorfulness"] - gray["colorfulness"], abs=1e-6)

    rows = _read_csv(out / "per_image.csv")
    assert [r["file"] for r in rows] == ["a.png", "b.jpg", str(Path("sub") / "c.png")]
    for r in rows:
        if crop:
            assert (r["width"], r["height"]) == ("64", "64")
        assert float(r["psnr"]) > 0 and -1 <= float(r["ssim"]) <= 1
        assert float(r["cf_gray"]) < 1.0
    if not crop:
        assert (rows[0]["width"], rows[0]["height"]) == ("96", "64")
    means = np.mean([float(r["psnr_gray"]) for r in rows])
    assert means == pytest.approx(gray["psnr"], abs=1e-3)

    with Image.open(out / "contact_sheet.png") as sheet:
        assert sheet.mode == "RGB" and sheet.height >= 3 * 160 and sheet.width >= 3 * 160


@pytest.mark.parametrize("size", [None, 96])  # the tiny model trains at 64
def test_table_names_the_network_size(tiny_models, color_dir, size):
    from colorize_cli.backends import open_backend

    default = open_backend("onnx", tiny_models["onnx"]).config.default_size
    args = ["evaluate", str(color_dir), "--model", str(tiny_models["onnx"]), "--crop", "32", "--limit", "1"]
    res = _run(args + (["--size", str(size)] if size else []))
    assert res.exit_code == 0, res.output
    assert f"network at {size or default} px" in res.output


def test_print_only_without_out(tiny_models, color_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = _run(["evaluate", str(color_dir), "--model", str(tiny_models["onnx"]), "--crop", "32", "--limit", "2"])
    assert res.exit_code == 0, res.output
    assert "2 photos" in res.output
    assert not list(tmp_path.glob("*.json")) and not list(tmp_path.glob("*.csv"))


class OracleBackend:
    """Returns the true ab of the originals, in order (a perfect model for the metrics)."""

    def __init__(self, originals, crop):
        self.config = SimpleNamespace(default_size=crop, stride=32)
        self.truth = [lab.rgb_to_lab(center_crop(o, crop) / 255.0)[..., 1:] for o in originals]
        self.calls = 0

    def predict(self, L):
        ab = self.truth[self.calls]
        self.calls += 1
        assert L.shape[2:] == ab.shape[:2]
        return lab.normalize_ab(ab).transpose(2, 0, 1)[None]

    def describe(self):
        return "oracle"


def test_perfect_model_beats_gray_baseline(color_dir):
    files = find_photos(color_dir)
    oracle = OracleBackend([load_rgb(f) for f in files], 64)
    result = evaluate_files(files, oracle, crop=64, sheet_rows=2)
    assert oracle.calls == 3 and result.count == 3 and not result.failed
    summ = result.summary()
    model, gray = summ["model"], summ["gray_baseline"]
    assert model["psnr"] > gray["psnr"] + 10
    assert model["psnr"] > 38
    assert model["auc"] > 0.99 and gray["auc"] < 0.9
    assert model["delta_cf"] < 1.0 and model["cf_ratio"] == pytest.approx(1.0, abs=0.02)
    assert model["ssim"] > gray["ssim"]
    assert len(result.thumbs) == 2  # first and last, evenly chosen
    assert result.model_description == "oracle"


def test_files_from_and_unreadable(tiny_models, color_dir, tmp_path):
    (color_dir / "broken.png").write_bytes(b"not really a png")
    listing = tmp_path / "val_files.txt"
    listing.write_text(f"{color_dir / 'sub' / 'c.png'}\ncolor/a.png\n\n{color_dir / 'broken.png'}\n")
    out = tmp_path / "eval"
    res = _run(["evaluate", "--files-from", str(listing), "--model", str(tiny_models["onnx"]),
                "--crop", "32", "--out", str(out)])
    assert res.exit_code == 1, res.output
    assert "FAILED" in res.output and "broken.png" in res.output
    rows = _read_csv(out / "per_image.csv")
    assert [Path(r["file"]).name for r in rows] == ["c.png", "a.png"]
    data = json.loads((out / "metrics.json").read_text())
    assert data["counts"] == {"images": 2, "failed": 1, "total": 3}
    assert data["failed"][0]["file"].endswith("broken.png")


def test_usage_errors(tiny_models, tmp_path):
    res = _run(["evaluate", str(tmp_path / "missing"), "--model", str(tiny_models["onnx"])])
    assert res.exit_code == 2 and "no such folder" in res.output
    (tmp_path / "empty").mkdir()
    res = _run(["evaluate", str(tmp_path / "empty"), "--model", str(tiny_models["onnx"])])
    assert res.exit_code == 2 and "no images" in res.output
    res = _run(["evaluate"])
    assert res.exit_code == 2


def test_missing_scikit_image_is_explained(monkeypatch, tmp_path):
    import colorize_cli.backends as backends

    real = backends.has_package
    monkeypatch.setattr(backends, "has_package", lambda name: False if name == "skimage" else real(name))
    res = _run(["evaluate", str(tmp_path)])
    assert res.exit_code == 2 and "scikit-image" in res.output and "colorize-cli[dev]" in res.output


def test_helpers():
    assert sheet_indices(3, 24) == [0, 1, 2]
    assert sheet_indices(100, 3) == [0, 50, 99]
    assert sheet_indices(0, 5) == []
    rgb = np.asarray(make_photo(90, 50, 5))
    assert center_crop(rgb, 32).shape == (32, 32, 3)
