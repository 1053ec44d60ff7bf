"""The default model that ships inside the package: present, small, loadable, deterministic."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from colorize_cli import lab
from colorize_cli.cli import main
from colorize_cli.modelmeta import BUNDLED_CHECKPOINT, BUNDLED_ONNX, bundled_model_path
from tests.conftest import make_photo


def test_bundled_files_exist_and_fit_the_size_budget():
    pt, onnx = bundled_model_path(BUNDLED_CHECKPOINT), bundled_model_path(BUNDLED_ONNX)
    assert pt.is_file() and onnx.is_file()
    total = sum(p.stat().st_size for p in pt.parent.iterdir() if p.is_file())
    assert total <= 40 * 1024 * 1024, f"bundled models take {total / 2**20:.1f} MiB"


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_bundled_model_loads_and_describes_itself(backend):
    if backend == "torch":
        pytest.importorskip("torch")
    from colorize_cli.backends import open_backend

    engine = open_backend(backend, device="cpu")
    assert engine.config.arch == "mobilenet_unet"
    assert engine.model_path == bundled_model_path(BUNDLED_ONNX if backend == "onnx" else BUNDLED_CHECKPOINT)
    x = np.zeros((1, 1, 64, 64), np.float32)
    assert engine.predict(x).shape == (1, 2, 64, 64)


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_without_model_uses_the_bundled_one_deterministically(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    make_photo(160, 120, seed=3, mode="L").save(src / "a.png")
    outputs = {}
    for backend, precision in (("onnx", "auto"), ("torch", "fp32"), ("onnx", "auto"), ("torch", "bf16")):
        if backend == "torch":
            pytest.importorskip("torch")
        out = tmp_path / f"out_{backend}_{len(outputs)}"
        result = CliRunner().invoke(main, [str(src), "-o", str(out), "--backend", backend, "--precision", precision])
        assert result.exit_code == 0, result.output
        outputs[f"{backend}{len(outputs)}"] = out / "a.png"
    # Same input, same backend -> the same bytes.
    assert _digest(outputs["onnx0"]) == _digest(outputs["onnx2"])
    # Both backends give the same pixels within a few levels in float32...
    a = np.asarray(Image.open(outputs["onnx0"]), dtype=int)
    b = np.asarray(Image.open(outputs["torch1"]), dtype=int)
    assert np.abs(a - b).max() <= 3
    # ... and torch's bfloat16 stays close to them (model v2 on this synthetic photo: 1.02 levels on
    # average, 13 at most; on the examples 0.36-0.95 on average, 99.9th percentile 4-7, at most 18
    # in their JPEG outputs: MODEL_CARD.md).
    c = np.asarray(Image.open(outputs["torch3"]), dtype=int)
    assert np.abs(a - c).mean() <= 1.5 and np.abs(a - c).max() <= 16


def test_bundled_model_adds_plausible_color_and_keeps_lightness(tmp_path):
    from colorize_cli import colorize_image, open_backend

    gray = make_photo(200, 150, seed=4, mode="L")
    color = colorize_image(gray, backend=open_backend("onnx"))
    arr = np.asarray(color, dtype=np.float32) / 255.0
    lab_out = lab.rgb_to_lab(arr)
    L_in = lab.luminance_to_l(lab.linear_lut(255)[np.asarray(gray)])
    np.testing.assert_allclose(lab_out[..., 0], L_in, atol=0.6)
    chroma = np.hypot(lab_out[..., 1], lab_out[..., 2])
    assert chroma.mean() > 1.0  # not gray: the model predicts color


def test_int8_is_offered_only_when_bundled(tmp_path):
    """v2's int8 quantization moved colours beyond the export's tolerance, so it is not shipped:
    asking for it says so (exit 2) instead of running something else."""
    from colorize_cli.backends import NO_INT8_HINT, open_backend
    from colorize_cli.errors import UsageError
    from colorize_cli.modelmeta import BUNDLED_ONNX_INT8

    if bundled_model_path(BUNDLED_ONNX_INT8).is_file():
        from colorize_cli.imagefile import decode_image
        from colorize_cli.pipeline import network_input

        fp32, int8 = open_backend("onnx"), open_backend("onnx", precision="int8")
        assert int8.facts["precision"] == "int8"
        x = network_input(decode_image(make_photo(256, 192, seed=5, mode="L")).L, 192, 32)[None]
        assert np.abs(int8.predict(x) - fp32.predict(x)).mean() < 0.03
        return
    with pytest.raises(UsageError, match="no int8 variant"):
        open_backend("onnx", precision="int8")
    make_photo(40, 30, 1, "L").save(tmp_path / "a.png")
    res = CliRunner().invoke(main, [str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--precision", "int8"])
    assert res.exit_code == 2 and NO_INT8_HINT.split(":")[0] in res.output
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())
