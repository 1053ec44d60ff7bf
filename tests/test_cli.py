"""The CLI end to end on temporary folder trees: files, paths, reports and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from colorize_cli.cli import main
from tests.conftest import make_photo


def run(args, **kwargs):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, **kwargs)


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture()
def onnx_args(tiny_models):
    return ["--backend", "onnx", "--model", tiny_models["onnx"]]


def test_folder_is_mirrored_and_non_images_ignored(photo_dir, tmp_path, onnx_args):
    out = tmp_path / "out"
    result = run([photo_dir, "-o", out, *onnx_args])
    assert result.exit_code == 0, result.output
    assert files_under(out) == ["a.jpg", "b.png", "sub/c.jpg", "sub/deeper/d.tif"]
    for rel in files_under(out):
        with Image.open(out / rel) as im, Image.open(photo_dir / rel) as src:
            assert im.size == src.size and im.mode == "RGB"
    assert "done 4, skipped 0, failed 0" in result.output


def test_no_recursive(photo_dir, tmp_path, onnx_args):
    out = tmp_path / "out"
    assert run([photo_dir, "-o", out, "--no-recursive", *onnx_args]).exit_code == 0
    assert files_under(out) == ["a.jpg", "b.png"]


def test_torch_backend_with_checkpoint(photo_dir, tmp_path, tiny_models):
    out = tmp_path / "out"
    result = run([photo_dir / "a.jpg", "-o", out, "--backend", "torch", "--model", tiny_models["pt"]])
    assert result.exit_code == 0, result.output
    assert files_under(out) == ["a.jpg"]


def test_engines_say_which_batch_suits_them_on_a_cpu(tiny_models):
    """Eager torch shares each op's fixed cost over a batch; ONNX Runtime gains nothing from one."""
    from colorize_cli.backends import open_backend

    onnx = open_backend("onnx", tiny_models["onnx"], device="cpu").batch_size
    torch = open_backend("torch", tiny_models["pt"], device="cpu").batch_size
    assert onnx == 1 < torch  # ONNX Runtime: one photo at a time (a batch only holds more in memory)


def test_explicit_files_and_format_change(photo_dir, tmp_path, onnx_args):
    out = tmp_path / "out"
    result = run([photo_dir / "a.jpg", photo_dir / "sub" / "deeper" / "d.tif", "-o", out, "--format", "png", *onnx_args])
    assert result.exit_code == 0, result.output
    assert files_under(out) == ["a.png", "d.png"]


def test_files_from_with_nul_separators(photo_dir, tmp_path, onnx_args, monkeypatch):
    monkeypatch.chdir(photo_dir.parent)
    listing = "\0".join(["photos/a.jpg", "photos/sub/c.jpg"]) + "\0"
    out = tmp_path / "out"
    result = run(["--files-from", "-", "-0", "-o", out, *onnx_args], input=listing)
    assert result.exit_code == 0, result.output
    assert files_under(out) == ["photos/a.jpg", "photos/sub/c.jpg"]


def test_files_from_newline_list(photo_dir, tmp_path, onnx_args):
    listing = tmp_path / "list.txt"
    listing.write_text(f"{photo_dir / 'b.png'}\n{photo_dir / 'sub' / 'c.jpg'}\n")
    out = tmp_path / "out"
    result = run(["--files-from", listing, "-o", out, *onnx_args])
    assert result.exit_code == 0, result.output
    assert len(files_under(out)) == 2


def test_existing_outputs_are_skipped_then_overwritten(photo_dir, tmp_path, onnx_args):
    out = tmp_path / "out"
    report = tmp_path / "r.jsonl"
    assert run([photo_dir, "-o", out, *onnx_args]).exit_code == 0
    (out / "a.jpg").write_bytes(b"sentinel")
    result = run([photo_dir, "-o", out, "--report", report, *onnx_args])
    assert result.exit_code == 0
    assert (out / "a.jpg").read_bytes() == b"sentinel"
    statuses = {json.loads(line)["status"] for line in report.read_text().splitlines()}
    assert statuses == {"skipped"}
    result = run([photo_dir, "-o", out, "--overwrite", *onnx_args])
    assert result.exit_code == 0
    assert (out / "a.jpg").read_bytes() != b"sentinel"


def test_shards_partition_the_job_list_exactly(tmp_path, onnx_args):
    src = tmp_path / "many"
    src.mkdir()
    for i in range(11):
        make_photo(32, 32, i, "L").save(src / f"p{i:02d}.png")
    seen: list[str] = []
    for k in (1, 2, 3):
        report = tmp_path / f"r{k}.jsonl"
        assert run([src, "-o", tmp_path / "out", "--shard", f"{k}/3", "--report", report, *onnx_args]).exit_code == 0
        seen += [json.loads(line)["input"] for line in report.read_text().splitlines()]
    assert sorted(seen) == sorted(str(p) for p in src.iterdir())
    assert len(seen) == len(set(seen)) == 11


def test_bad_shard_is_a_usage_error(photo_dir, tmp_path, onnx_args):
    result = run([photo_dir, "-o", tmp_path / "o", "--shard", "4/3", *onnx_args])
    assert result.exit_code == 2 and "--shard" in result.output


def test_report_and_bad_files(photo_dir, tmp_path, onnx_args):
    (photo_dir / "zero.jpg").write_bytes(b"")
    good = photo_dir / "a.jpg"
    (photo_dir / "corrupt.png").write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    out, report = tmp_path / "out", tmp_path / "report.jsonl"
    result = run([photo_dir, "-o", out, "--report", report, *onnx_args])
    assert result.exit_code == 1
    records = {Path(r["input"]).name: r for r in map(json.loads, report.read_text().splitlines())}
    assert set(records) == {"a.jpg", "b.png", "c.jpg", "d.tif", "zero.jpg", "corrupt.png"}
    assert records["zero.jpg"]["status"] == "failed" and "empty" in records["zero.jpg"]["error"]
    assert records["corrupt.png"]["status"] == "failed" and records["corrupt.png"]["error"]
    for name in ("a.jpg", "b.png", "c.jpg", "d.tif"):
        rec = records[name]
        assert rec["status"] == "ok" and rec["error"] is None and rec["seconds"] >= 0
        assert Path(rec["output"]).is_file()
    assert "zero.jpg" in result.output and "Traceback" not in result.output
    assert not [p for p in out.rglob("*") if p.name.startswith(".colorize-tmp")]


def test_explicit_non_image_is_a_per_file_error(photo_dir, tmp_path, onnx_args):
    result = run([photo_dir / "notes.txt", photo_dir / "a.jpg", "-o", tmp_path / "out", *onnx_args])
    assert result.exit_code == 1
    assert "notes.txt" in result.output and (tmp_path / "out" / "a.jpg").is_file()


def test_fail_fast_stops_early(tmp_path, onnx_args):
    src = tmp_path / "src"
    src.mkdir()
    (src / "0bad.jpg").write_bytes(b"nope")
    for i in range(6):
        make_photo(32, 32, i, "L").save(src / f"p{i}.png")
    result = run([src, "-o", tmp_path / "out", "--fail-fast", "--batch-size", "1", *onnx_args])
    assert result.exit_code == 1
    assert len(files_under(tmp_path / "out")) < 6


def test_refuses_to_overwrite_inputs(photo_dir, onnx_args):
    result = run([photo_dir, "-o", photo_dir, *onnx_args])
    assert result.exit_code == 2 and "input folder" in result.output


def test_refuses_two_inputs_with_one_output(photo_dir, tmp_path, onnx_args):
    (photo_dir / "a.png").write_bytes((photo_dir / "b.png").read_bytes())
    result = run([photo_dir, "-o", tmp_path / "out", "--format", "png", *onnx_args])
    assert result.exit_code == 2 and "same output" in result.output
    assert not (tmp_path / "out").exists()


def test_folder_named_like_a_subcommand(tmp_path, onnx_args, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train").mkdir()
    make_photo(32, 32).save(tmp_path / "train" / "x.jpg")
    result = run(["./train", "-o", "out", *onnx_args])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "x.jpg").is_file()


def test_missing_input_and_no_input(tmp_path, onnx_args):
    assert run([tmp_path / "nope", "-o", tmp_path / "o", *onnx_args]).exit_code == 2
    result = run(["-o", tmp_path / "o", *onnx_args])
    assert result.exit_code == 2 and "no INPUTS" in result.output


def test_missing_bundled_model_is_a_clean_error(photo_dir, tmp_path, monkeypatch):
    import colorize_cli.backends as backends

    monkeypatch.setattr(backends, "bundled_model_path", lambda name: tmp_path / "absent" / name)
    result = run([photo_dir, "-o", tmp_path / "o", "--backend", "onnx"])
    assert result.exit_code == 2
    assert "no bundled default model" in result.output and "Traceback" not in result.output


def test_missing_backend_package_names_the_extra(photo_dir, tmp_path, monkeypatch, tiny_models):
    import colorize_cli.backends as backends

    monkeypatch.setattr(backends, "has_package", lambda name: name != "torch")
    result = run([photo_dir, "-o", tmp_path / "o", "--backend", "torch", "--model", tiny_models["pt"]])
    assert result.exit_code == 2 and "colorize-cli[torch]" in result.output


@pytest.mark.parametrize(
    "installed, gpu, device, want",
    [
        ({"torch", "onnxruntime"}, False, "auto", "onnx"),  # CPU: ONNX Runtime is faster and leaner
        ({"torch", "onnxruntime"}, True, "auto", "torch"),  # a GPU is there: torch uses it
        ({"torch", "onnxruntime"}, False, "cuda", "torch"),
        ({"torch", "onnxruntime"}, True, "cpu", "onnx"),
        ({"torch"}, False, "auto", "torch"),
        ({"onnxruntime"}, True, "auto", "onnx"),
    ],
)
def test_auto_backend_for_the_bundled_model(monkeypatch, installed, gpu, device, want):
    import colorize_cli.backends as backends

    monkeypatch.setattr(backends, "has_package", lambda name: name in installed)
    monkeypatch.setattr(backends, "accelerator_likely", lambda: gpu)
    assert backends.engine_for("auto", None, device=device) == want
    # A model file decides by its suffix, whatever the machine.
    assert backends.engine_for("auto", Path("m.onnx"), device=device) == "onnx"
    assert backends.engine_for("auto", Path("m.pt"), device=device) == "torch"


def test_wrong_model_kind_for_backend(photo_dir, tmp_path, tiny_models):
    result = run([photo_dir, "-o", tmp_path / "o", "--backend", "onnx", "--model", tiny_models["pt"]])
    assert result.exit_code == 2 and "export" in result.output


def test_help_and_version():
    result = run(["--help"])
    assert result.exit_code == 0 and "Examples" in result.output and "train" in result.output
    sub = run(["colorize", "--help"])
    for option in ("--files-from", "--shard", "--report", "--overwrite", "--format", "--backend", "--size"):
        assert option in sub.output
        assert option in result.output  # the bare form's job is colorizing: its options come first
    assert result.output.index("--shard") < result.output.index("Commands:") < result.output.index("evaluate")
    assert "--version" in result.output
    assert run(["--version"]).output.startswith("colorize-cli ")


def test_version_does_not_import_torch_or_onnxruntime():
    code = (
        "import sys\n"
        "from colorize_cli.cli import main\n"
        "for args in (['--version'], ['--help']):\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
        "heavy = {'torch', 'onnxruntime'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("colorize-cli ")


def test_python_dash_m_runs_the_cli():
    proc = subprocess.run([sys.executable, "-m", "colorize_cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and "colorize-cli" in proc.stdout


@pytest.mark.parametrize("model", ["pt", "onnx"])
def test_the_console_script_exits_with_the_runs_status_and_complete_output(photo_dir, tmp_path, tiny_models, model):
    """A finished run ends the process without the interpreter's teardown
    (colorize_cli.cli.entry): the exit status, the log and every output must still be right."""
    if model == "pt":
        pytest.importorskip("torch")
    (photo_dir / "broken.jpg").write_bytes(b"not a jpeg")
    cmd = [sys.executable, "-m", "colorize_cli", str(photo_dir), "-o", str(tmp_path / "out"), "--model", str(tiny_models[model])]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr  # one photo failed
    assert "done 4, skipped 0, failed 1" in proc.stdout + proc.stderr
    assert sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file()) == ["a.jpg", "b.png", "c.jpg", "d.tif"]
    (photo_dir / "broken.jpg").unlink()
    proc = subprocess.run(cmd + ["--overwrite", "--report", str(tmp_path / "r.jsonl")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 4  # the report was flushed and closed


@pytest.mark.parametrize("finished, code, want", [(True, None, ("_exit", 0)), (True, 1, ("_exit", 1)), (False, 0, ("exit", 0)), (True, "bad", ("exit", "bad"))])
def test_exit_process_ends_at_once_only_after_a_finished_run(monkeypatch, finished, code, want):
    from colorize_cli import cli

    ended = []
    monkeypatch.setattr(cli.os, "_exit", lambda c: ended.append(("_exit", c)))
    monkeypatch.setattr(sys, "stdout", None)  # closed stdout (>&-) must not break the ending
    try:
        cli.exit_process(code, run_complete=finished)
    except SystemExit as exc:
        ended.append(("exit", exc.code))
    assert ended[0] == want


def test_only_a_completed_colorize_run_ends_with_run_complete(photo_dir, tmp_path, tiny_models):
    from colorize_cli.cli import main
    from colorize_cli.commands import RunComplete

    with pytest.raises(RunComplete) as done:
        main([str(photo_dir), "-o", str(tmp_path / "o"), "--model", str(tiny_models["onnx"]), "-q"], prog_name="c")
    assert done.value.code == 0
    with pytest.raises(SystemExit) as refused:
        main([str(photo_dir), "-o", str(tmp_path / "o"), "--shard", "3/2"], prog_name="c")
    assert refused.value.code == 2 and not isinstance(refused.value, RunComplete)


def test_python_api(photo_dir, tmp_path, tiny_models):
    from colorize_cli import colorize_image, colorize_paths, open_backend

    backend = open_backend("onnx", tiny_models["onnx"])
    image = colorize_image(Image.open(photo_dir / "a.jpg"), backend=backend)
    assert image.mode == "RGB" and image.size == (64, 48)
    summary = colorize_paths([photo_dir], tmp_path / "api_out", backend=backend)
    assert (summary.done, summary.failed) == (4, 0)


def test_precision_int8_rules(photo_dir, tmp_path, tiny_models):
    result = run([photo_dir, "-o", tmp_path / "o", "--precision", "int8", "--model", tiny_models["onnx"]])
    assert result.exit_code == 2 and "--precision int8" in result.output
    result = run([photo_dir, "-o", tmp_path / "o", "--precision", "int8", "--backend", "torch"])
    assert result.exit_code == 2 and "ONNX Runtime" in result.output


def test_precision_bf16_rules(photo_dir, tmp_path, tiny_models):
    result = run([photo_dir, "-o", tmp_path / "o", "--precision", "bf16", "--model", tiny_models["onnx"]])
    assert result.exit_code == 2 and "runs on torch" in result.output
    result = run([photo_dir, "-o", tmp_path / "o", "--precision", "bf16", "--backend", "onnx"])
    assert result.exit_code == 2 and "runs on torch" in result.output
    # A .pt model with no --backend: bf16 picks torch.
    result = run([photo_dir / "a.jpg", "-o", tmp_path / "o", "--precision", "bf16", "--model", tiny_models["pt"]])
    assert result.exit_code == 0, result.output
    assert "bf16" in result.output and files_under(tmp_path / "o") == ["a.jpg"]


def test_bf16_runs_all_but_the_first_stage_and_stays_close_to_fp32(tiny_models):
    """The blocks that read L stay float32; the rest runs in bfloat16; predict still returns float32."""
    import numpy as np
    import torch

    from colorize_cli.backends import open_backend

    fp32 = open_backend("torch", tiny_models["pt"], device="cpu", precision="fp32")
    bf16 = open_backend("torch", tiny_models["pt"], device="cpu", precision="bf16")
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16") and "bf16" in bf16.describe()
    model = bf16.model
    assert {p.dtype for p in model.stages[0].parameters()} == {torch.float32}
    for part in (model.stages[1], model.stages[4], model.up1, model.head):
        assert {p.dtype for p in part.parameters()} == {torch.bfloat16}
    L = np.random.default_rng(0).uniform(-1, 1, (2, 1, 64, 96)).astype(np.float32)
    want, got = fp32.predict(L), bf16.predict(L)
    assert got.dtype == np.float32 and got.shape == want.shape == (2, 2, 64, 96)
    assert np.abs(want).mean() > 0.05  # the tiny model's colours are strong enough to compare
    assert np.abs(got - want).mean() < 0.01 and np.abs(got - want).max() < 0.1


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_only_where_it_is_native(tiny_models, tmp_path, monkeypatch, native):
    """auto: bf16 on a CPU with AMX and a model that has bfloat16 parts; fp32 otherwise."""
    import torch

    from colorize_cli.backends import open_backend, torch_backend
    from colorize_cli.checkpoint import make_checkpoint, save_checkpoint
    from colorize_cli.errors import UsageError
    from colorize_cli.models import GeneratorConfig, build_generator

    assert not torch_backend.native_bfloat16(torch.device("meta"))  # not a CPU
    monkeypatch.setattr(torch_backend, "native_bfloat16", lambda device: native)
    assert open_backend("torch", tiny_models["pt"], device="cpu").precision == ("bf16" if native else "fp32")
    cfg = GeneratorConfig(arch="unet", num_filters=4, n_down=5, train_size=64)
    seed_unet = tmp_path / "unet.pt"
    save_checkpoint(seed_unet, make_checkpoint(build_generator(cfg), cfg))
    assert open_backend("torch", seed_unet, device="cpu").precision == "fp32"
    with pytest.raises(UsageError, match="mobilenet_unet"):
        open_backend("torch", seed_unet, device="cpu", precision="bf16")


@pytest.mark.parametrize(
    "capabilities, env, cpuinfo, want",
    [
        ({"amx_bf16": True}, None, False, True),
        ({"amx_bf16": False, "avx512_bf16": True}, None, True, False),  # bf16 without AMX: slower
        ("raises", None, True, False),
        ("missing", None, True, True),  # torch < 2.10: Linux's CPU flags decide
        ("missing", None, False, False),
        ({"amx_bf16": True}, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, True, False),  # capped below AMX
        ({"amx_bf16": True}, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}, True, True),
        ({"amx_bf16": True}, {"DNNL_MAX_CPU_ISA": "AVX2"}, True, False),
        ({"amx_bf16": True}, {"ONEDNN_MAX_CPU_ISA": "default"}, True, True),  # oneDNN's "no cap"
        ({"amx_bf16": True}, {"ONEDNN_MAX_CPU_ISA": "ALL", "DNNL_MAX_CPU_ISA": "AVX2"}, True, True),  # ONEDNN_ first
    ],
)
def test_native_bfloat16_means_amx(monkeypatch, capabilities, env, cpuinfo, want):
    torch = pytest.importorskip("torch")
    from colorize_cli.backends import torch_backend

    if capabilities == "missing":
        monkeypatch.delattr(torch.cpu, "get_capabilities", raising=False)
    elif capabilities == "raises":
        monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: 1 / 0)
    else:
        monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    monkeypatch.setattr(torch_backend, "_cpuinfo_has", lambda flag: cpuinfo)
    for var in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        monkeypatch.delenv(var, raising=False)
    for var, value in (env or {}).items():
        monkeypatch.setenv(var, value)
    assert torch_backend.native_bfloat16(torch.device("cpu")) is want


@pytest.mark.parametrize("capability, ok", [((7, 5), False), ((8, 0), True), ((9, 0), True)])
def test_bf16_on_a_gpu_needs_native_bfloat16(tiny_models, monkeypatch, capability, ok):
    """A T4 or V100 (7.x) only emulates bfloat16; the check asks about the device in use."""
    torch = pytest.importorskip("torch")
    from colorize_cli.backends import torch_backend
    from colorize_cli.checkpoint import load_generator
    from colorize_cli.errors import UsageError

    asked = []
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (asked.append(device), capability)[1])
    model, _ = load_generator(tiny_models["pt"])
    gpu = torch.device("cuda", 1)
    if ok:
        assert torch_backend.choose_precision("bf16", gpu, model, tiny_models["pt"]) == "bf16"
    else:
        with pytest.raises(UsageError, match="compute capability"):
            torch_backend.choose_precision("bf16", gpu, model, tiny_models["pt"])
    assert asked == [gpu]
    assert torch_backend.choose_precision("auto", gpu, model, tiny_models["pt"]) == "fp32"  # GPUs: fp32 unless asked


@pytest.mark.parametrize(
    "args, want",
    [
        ([], "onnx"),
        (["--precision", "bf16"], "torch"),
        (["--model", "m.pt"], "torch"),
        (["--model", "m.onnx"], "onnx"),
        (["--backend", "torch"], "torch"),
    ],
)
def test_engine_for_names_the_engine_open_backend_opens(args, want, monkeypatch):
    """The CLI asks before opening (to load the compiled compose beside ONNX Runtime only)."""
    from colorize_cli import backends

    monkeypatch.setattr(backends, "accelerator_likely", lambda: False)
    monkeypatch.setattr(backends, "has_package", lambda name: True)
    kwargs = {"backend": "auto", "model": None, "precision": "auto"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        kwargs[flag.lstrip("-")] = value
    assert backends.engine_for(kwargs["backend"], kwargs["model"], precision=kwargs["precision"]) == want


@pytest.mark.parametrize("args", [[], ["--threads", "3"]])
def test_engine_threads_leave_cores_to_the_photo_threads(photo_dir, tmp_path, monkeypatch, tiny_models, args):
    """Several photos: the model calls in flight at once share the cores with the photo threads
    (each gets a part); one photo: the engine takes all cores; --threads always wins."""
    import colorize_cli.backends as backends

    seen = []
    real = backends.open_backend
    monkeypatch.setattr(backends, "cpu_threads", lambda: 8)
    monkeypatch.setattr(backends, "open_backend", lambda *a, **k: (seen.append(k["threads"]), real(*a, **k))[1])
    result = run([photo_dir, "-o", tmp_path / "o", "--model", tiny_models["onnx"], *args])
    assert result.exit_code == 0, result.output
    if args:
        assert seen == [3]
    else:
        assert len(seen) == 1 and 1 <= seen[0] and 2 * seen[0] <= 8 // 2  # two calls, half the cores at most
    seen.clear()
    result = run([photo_dir / "a.jpg", "-o", tmp_path / "o1", "--model", tiny_models["onnx"], *args])
    assert result.exit_code == 0 and seen == [None if not args else 3]  # one photo: all cores


def test_accelerator_guess_needs_a_visible_device_and_a_gpu_torch_build(tmp_path, monkeypatch):
    import importlib.machinery
    import os

    import colorize_cli.backends as backends

    monkeypatch.setattr(backends.sys, "platform", "linux")
    torch_dir = tmp_path / "torch"
    (torch_dir / "lib").mkdir(parents=True)
    spec = importlib.machinery.ModuleSpec("torch", None, is_package=True)
    spec.submodule_search_locations = [str(torch_dir)]
    monkeypatch.setattr(backends.importlib.util, "find_spec", lambda name: spec if name == "torch" else None)
    real_exists = os.path.exists
    nodes: set[str] = set()
    monkeypatch.setattr(backends.os.path, "exists", lambda p: p in nodes or (p not in ("/dev/nvidiactl", "/dev/kfd") and real_exists(p)))
    (torch_dir / "lib" / "libtorch_cuda.so").write_bytes(b"")
    assert not backends.accelerator_likely()  # a GPU build, but no device visible (a plain container)
    nodes.add("/dev/nvidiactl")
    assert backends.accelerator_likely()
    (torch_dir / "lib" / "libtorch_cuda.so").unlink()
    assert not backends.accelerator_likely()  # a device, but CPU-only torch: ONNX Runtime is faster
