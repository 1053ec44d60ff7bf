"""``colorize-cli export``: ONNX export, verification against PyTorch, fp16/int8 variants, metadata,
and the ONNX backend's refusal of foreign or newer files. Tiny random-weight generators, CPU only."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from colorize_cli.checkpoint import make_checkpoint, read_checkpoint, save_checkpoint  # noqa: E402
from colorize_cli.cli import main  # noqa: E402
from colorize_cli.export import verify  # noqa: E402
from colorize_cli.export.onnx_export import set_metadata, weights_sha256  # noqa: E402
from colorize_cli.export.run import export_checkpoint  # noqa: E402
from colorize_cli.modelmeta import INPUT_NAME, KEY_PREFIX, OUTPUT_NAME, parse_metadata  # noqa: E402
from colorize_cli.models import GeneratorConfig, build_generator  # noqa: E402

CONFIGS = {
    "mobilenet_unet": GeneratorConfig(width_mult=0.25, decoder_channels=(16, 16, 8, 8, 8), train_size=64),
    "unet": GeneratorConfig(arch="unet", num_filters=4, n_down=5, train_size=64),
}


def _lively(model, config: GeneratorConfig):
    """Random init predicts near-zero ab; scale the last conv so outputs span a trained-like range
    (|ab_norm| up to ~0.5-0.9), which makes the precision comparisons meaningful."""
    convs = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    last = model.head if config.arch == "mobilenet_unet" else convs[-1]
    x = torch.from_numpy(verify.image_batch(verify.load_verification_images(None), 2, config.default_size))
    with torch.no_grad():
        if last.bias is not None:
            last.bias.uniform_(-0.2, 0.2)
        for _ in range(4):
            y = model.eval()(x)
            if float(y.std()) >= 0.2:
                break
            last.weight.mul_(min(20.0, 0.3 / max(float(y.std()), 1e-3)))
    return model


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("export_ckpt")
    out = {}
    for name, cfg in CONFIGS.items():
        torch.manual_seed(0)
        model = _lively(build_generator(cfg).eval(), cfg)
        out[name] = root / f"{name}.pt"
        save_checkpoint(out[name], make_checkpoint(model, cfg, step=7))
    return out


def _write_photos(folder: Path, n: int = 3, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        L = verify.photo_like_l(70 + 13 * i, 90 - 7 * i, seed=seed + i)
        Image.fromarray(np.round(L * 2.55).astype(np.uint8), "L").save(folder / f"p{i}.png")
    return folder


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return _write_photos(tmp_path_factory.mktemp("export_photos") / "photos")


@pytest.fixture(scope="module")
def exported(checkpoints, tmp_path_factory) -> dict[str, Path]:
    """fp32 exports of both tiny architectures through the CLI."""
    root = tmp_path_factory.mktemp("export_onnx")
    out = {}
    for name, ckpt in checkpoints.items():
        out[name] = root / f"{name}.onnx"
        result = CliRunner().invoke(main, ["export", str(ckpt), "-o", str(out[name])])
        assert result.exit_code == 0, result.output
        assert "fp32" in result.output and "wrote" in result.output
    return out


def _meta(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def _run_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    sess = verify.cpu_session(path)
    return sess.run(None, {INPUT_NAME: x})[0]


@pytest.mark.parametrize("arch", list(CONFIGS))
def test_export_checker_parity_and_metadata(arch, checkpoints, exported):
    path, ckpt_path = exported[arch], checkpoints[arch]
    onnx.checker.check_model(str(path), full_check=True)
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == [INPUT_NAME]
    assert [o.name for o in proto.graph.output] == [OUTPUT_NAME]
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 1, "height", "width"]
    assert proto.opset_import[0].version == 17

    # Metadata round trip: the same config, precision and weights hash as the checkpoint.
    config, facts = parse_metadata(_meta(path), str(path))
    ckpt = read_checkpoint(ckpt_path)
    assert config == CONFIGS[arch] == GeneratorConfig.from_dict(dict(ckpt["generator_config"]))
    assert facts["precision"] == "fp32"
    assert facts["weights_sha256"] == weights_sha256(ckpt["generator"])
    assert int(facts["train_size"]) == 64 and int(facts["stride"]) == config.stride
    assert json.loads(facts["normalization"]) == {"L_scale": 50.0, "L_shift": 1.0, "ab_scale": 110.0}

    # Parity at two sizes (default and 1.5x rounded to the stride, one non-square) and batch 1 and 3.
    from colorize_cli.checkpoint import load_generator

    model, _ = load_generator(ckpt_path)
    stride = config.stride
    planes = verify.load_verification_images(None)
    for h, w in ((64, 64), (96, 96), (96, 64)):
        assert h % stride == 0 and w % stride == 0
        for batch in (1, 3):
            x = verify.image_batch(planes, batch, h)
            x = np.ascontiguousarray(x[:, :, :h, :w]) if w != h else x
            with torch.no_grad():
                ref = model(torch.from_numpy(x)).numpy()
            got = _run_onnx(path, x)
            assert got.shape == (batch, 2, h, w) and got.dtype == np.float32
            assert np.abs(got - ref).max() <= 1e-4
    assert np.abs(ref).max() > 0.2, "the test model should predict visible colour"


def test_verification_covers_sizes_batches_and_inputs(checkpoints, tmp_path):
    report = export_checkpoint(checkpoints["unet"], tmp_path / "m.onnx", time_budget_s=0.05)
    assert report.failure is None
    cases = report.variant("fp32").verification.cases
    assert {(c.height, c.batch, c.inputs) for c in cases} == {
        (s, b, k) for s in (64, 96) for b in (1, 3) for k in ("random", "images")
    }
    assert report.variant("fp32").verification.max_abs <= 1e-4
    assert verify.verification_sizes(GeneratorConfig()) == (256, 384)


def test_fp16_and_int8_variants(checkpoints, exported, photos, tmp_path, monkeypatch):
    runner = CliRunner()
    ckpt = checkpoints["mobilenet_unet"]
    fp16 = tmp_path / "m16.onnx"
    result = runner.invoke(
        main, ["export", str(ckpt), "-o", str(fp16), "--fp16", "--verify-images", str(photos)]
    )
    assert result.exit_code == 0, result.output
    assert "fp16" in result.output and "speed" in result.output and "yes" in result.output
    onnx.checker.check_model(str(fp16), full_check=True)
    _, facts = parse_metadata(_meta(fp16), "fp16")
    assert facts["precision"] == "fp16"
    assert facts["weights_sha256"] == weights_sha256(read_checkpoint(ckpt)["generator"])
    proto = onnx.load(str(fp16))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in proto.graph.initializer)

    int8 = tmp_path / "m8.onnx"
    # Relative paths, as users type them (quantization runs in a scratch directory).
    args = ["export", str(ckpt), "-o", "m8.onnx", "--quantize", "int8", "--calibration", os.path.relpath(photos, tmp_path)]
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "static, calibrated on 3 images" in result.output
    _, facts = parse_metadata(_meta(int8), "int8")
    assert facts["precision"] == "int8" and facts["quantization"] == "static"
    ops = {n.op_type for n in onnx.load(str(int8)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    fp32_size = exported["mobilenet_unet"].stat().st_size
    assert fp16.stat().st_size < 0.7 * fp32_size and int8.stat().st_size < 0.7 * fp32_size

    # Without calibration photos: dynamic quantization, verified the same way.
    dyn = tmp_path / "unet8.onnx"
    report = export_checkpoint(checkpoints["unet"], dyn, precision="int8", time_budget_s=0.05)
    assert report.failure is None and dyn.is_file()
    v = report.variant("int8")
    assert "dynamic" in v.note and v.verification.mean_abs <= 0.03
    assert report.variant("fp32").seconds and v.seconds


def _bad_models(tmp_path: Path, exported_model: Path) -> dict[str, Path]:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["L"], ["ab"])],
        "foreign",
        [helper.make_tensor_value_info("L", TensorProto.FLOAT, ["n", 1, "h", "w"])],
        [helper.make_tensor_value_info("ab", TensorProto.FLOAT, ["n", 1, "h", "w"])],
    )
    foreign = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(foreign))
    newer = tmp_path / "newer.onnx"
    proto = onnx.load(str(exported_model))
    set_metadata(proto, {KEY_PREFIX + "format_version": "99"})
    onnx.save(proto, str(newer))
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"this is not protobuf at all")
    return {"foreign": foreign, "newer": newer, "garbage": garbage}


@pytest.mark.parametrize(
    "kind, message",
    [
        ("foreign", "not a colorize-cli generator"),
        ("newer", "format version 99 is newer"),
        ("garbage", "not a loadable ONNX model"),
    ],
)
def test_backend_refuses_foreign_or_newer_onnx(kind, message, exported, photos, tmp_path):
    bad = _bad_models(tmp_path, exported["mobilenet_unet"])[kind]
    result = CliRunner().invoke(
        main, ["--backend", "onnx", "--model", str(bad), str(photos), "-o", str(tmp_path / "out")]
    )
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output


def test_onnx_backend_images_match_torch_backend(checkpoints, exported, photos, tmp_path):
    runner = CliRunner()
    out = {}
    for backend, model in (("onnx", exported["mobilenet_unet"]), ("torch", checkpoints["mobilenet_unet"])):
        out[backend] = tmp_path / backend
        result = runner.invoke(
            main,
            [
                "--backend",
                backend,
                "--model",
                str(model),
                "--device",
                "cpu",
                "--precision",
                "fp32",  # float32 parity (auto is bfloat16 for torch on a CPU with AMX)
                str(photos),
                "-o",
                str(out[backend]),
            ],
        )
        assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out["onnx"].iterdir())
    assert names == sorted(p.name for p in out["torch"].iterdir()) and len(names) == 3
    diffs = []
    for name in names:
        a = np.asarray(Image.open(out["onnx"] / name).convert("RGB"), dtype=np.int16)
        b = np.asarray(Image.open(out["torch"] / name).convert("RGB"), dtype=np.int16)
        diffs.append(int(np.abs(a - b).max()))
        colourful = np.abs(a - a.mean(axis=2, keepdims=True)).max()
    assert max(diffs) <= 2, f"max pixel difference onnx vs torch: {max(diffs)} levels (per image {diffs})"
    assert colourful > 5, "the test model should produce visible colour"


def test_export_cli_failure_modes(checkpoints, tmp_path, monkeypatch):
    runner = CliRunner()
    # A missing checkpoint: exit 2, one line, no traceback.
    result = runner.invoke(main, ["export", str(tmp_path / "missing.pt"), "-o", str(tmp_path / "x.onnx")])
    assert result.exit_code == 2 and "model file not found" in result.output
    assert "Traceback" not in result.output
    # Conflicting or misplaced options.
    ckpt = str(checkpoints["unet"])
    for extra in (["--fp16", "--quantize", "int8"], ["--calibration", str(tmp_path)], ["--opset", "9"]):
        result = runner.invoke(main, ["export", ckpt, "-o", str(tmp_path / "x.onnx"), *extra])
        assert result.exit_code == 2, result.output
    result = runner.invoke(main, ["export", ckpt, "-o", str(tmp_path / "x.txt")])
    assert result.exit_code == 2 and ".onnx" in result.output
    assert not list(tmp_path.glob("x.*"))

    # Verification failure: a tolerance nothing can meet -> exit 1, the table, no file left behind.
    monkeypatch.setitem(verify.TOLERANCES, "fp32", {"max_abs": -1.0, "mean_abs": -1.0})
    out_dir = tmp_path / "out"
    result = runner.invoke(main, ["export", ckpt, "-o", str(out_dir / "m.onnx")])
    assert result.exit_code == 1, result.output
    assert "differs from PyTorch beyond its tolerance" in result.output and "FAILED" in result.output
    assert not (out_dir / "m.onnx").exists()
    assert not out_dir.exists() or not any(out_dir.iterdir())  # no temp files either


def test_weights_hash_is_content_based():
    sd = {"a": torch.arange(6, dtype=torch.float32).reshape(2, 3), "n": torch.tensor(3)}
    h = weights_sha256(sd)
    assert h == weights_sha256({"module." + k: v.clone() for k, v in sd.items()})  # DDP prefix ignored
    changed = dict(sd, a=sd["a"].clone())
    changed["a"][1, 2] += 1e-3
    assert weights_sha256(changed) != h
    assert weights_sha256(dict(sd, n=torch.tensor(4))) != h  # integer buffers count too
    assert weights_sha256(dict(sd, a=sd["a"].to(torch.bfloat16))) not in (h, "")  # non-numpy dtypes hash


def test_python_m_export_help():
    import subprocess

    res = subprocess.run(
        [sys.executable, "-m", "colorize_cli.export", "--help"], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    assert (
        "--fp16" in res.stdout
        and "--quantize" in res.stdout
        and "python -m colorize_cli.export" in res.stdout
    )


def test_int8_ranges_use_the_percentile_only_with_enough_photos():
    from onnxruntime.quantization import CalibrationMethod

    from colorize_cli.export.variants import PERCENTILE_MIN_IMAGES, _calibration_options, calibration_ranges

    few = _calibration_options(PERCENTILE_MIN_IMAGES - 1, CalibrationMethod)
    many = _calibration_options(PERCENTILE_MIN_IMAGES, CalibrationMethod)
    assert few == {"calibrate_method": CalibrationMethod.MinMax}
    assert many["calibrate_method"] == CalibrationMethod.Percentile and many["extra_options"]["CalibPercentile"] > 99
    assert calibration_ranges(3) == "min/max ranges" and "percentile" in calibration_ranges(64)


def test_percentile_calibration_prints_nothing(exported, tmp_path, capsys):
    """ONNX Runtime's histogram calibrator print()s progress; export output stays ours alone."""
    from colorize_cli.export.variants import PERCENTILE_MIN_IMAGES, quantize_int8

    files = []
    for i in range(PERCENTILE_MIN_IMAGES):
        L = verify.photo_like_l(64 + 3 * i, 80 - 2 * i, seed=i)
        files.append(tmp_path / f"c{i}.png")
        Image.fromarray(np.round(L * 2.55).astype(np.uint8), "L").save(files[-1])
    quantize_int8(exported["mobilenet_unet"], tmp_path / "q.onnx", calibration=files, size=64, stride=32)
    assert (tmp_path / "q.onnx").is_file()
    assert capsys.readouterr().out == ""


def test_a_classification_head_exports_and_verifies(tmp_path):
    """The annealed mean runs inside the exported graph: the ONNX file outputs ab, as for regression."""
    cfg = GeneratorConfig(width_mult=0.25, decoder_channels=(16, 16, 8, 8), train_size=64, ab_head="classification",
                          anneal_t=0.5)
    torch.manual_seed(0)
    model = build_generator(cfg).eval()
    with torch.no_grad():
        model.head.weight.mul_(30.0)  # visible colour, so the parity check can fail
        model.class_head.weight.normal_(0.0, 0.5)  # and a learned part beside the anchor
    ckpt = tmp_path / "cls.pt"
    save_checkpoint(ckpt, make_checkpoint(model, cfg))
    out = tmp_path / "cls.onnx"
    result = CliRunner().invoke(main, ["export", str(ckpt), "-o", str(out)])
    assert result.exit_code == 0, result.output
    config, _ = parse_metadata(_meta(out), str(out))
    assert config == cfg
    x = verify.image_batch(verify.load_verification_images(None), 2, 96)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = _run_onnx(out, x)
    assert got.shape == (2, 2, 96, 96) and np.abs(got - ref).max() <= 1e-4
    assert np.abs(ref).max() > 0.1
