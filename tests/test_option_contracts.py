"""Each option of the colorize command changes what it says it changes (tests that fail when an
option is ignored or fixed): --quality, --size, --files-from with absolute paths."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from colorize_cli.cli import main
from tests.conftest import make_photo


@pytest.fixture()
def onnx_args(tiny_models):
    return ["--backend", "onnx", "--model", str(tiny_models["onnx"])]


def _run(args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _quant_tables_for(quality: int) -> dict:
    buf = io.BytesIO()
    make_photo(64, 64, 1).save(buf, "JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as im:
        return im.quantization


@pytest.mark.parametrize("quality", [30, 75])
def test_quality_sets_the_jpeg_quantization(tmp_path, onnx_args, quality):
    src = tmp_path / "in"
    src.mkdir()
    make_photo(96, 64, 2, "L").save(src / "a.jpg", quality=95)
    res = _run([src, "-o", tmp_path / "out", "--quality", quality, *onnx_args])
    assert res.exit_code == 0, res.output
    with Image.open(tmp_path / "out" / "a.jpg") as im:
        assert im.quantization == _quant_tables_for(quality)


def test_size_changes_what_the_network_sees(tmp_path, onnx_args):
    src = tmp_path / "in"
    src.mkdir()
    make_photo(200, 150, 3, "L").save(src / "a.png")
    outs = {}
    for size, name in ((64, "s64"), (256, "s256"), (64, "s64b")):
        res = _run([src, "-o", tmp_path / name, "--size", size, *onnx_args])
        assert res.exit_code == 0, res.output
        outs[name] = np.asarray(Image.open(tmp_path / name / "a.png"), dtype=int)
    assert np.array_equal(outs["s64"], outs["s64b"])  # the same size: the same pixels
    assert np.abs(outs["s64"] - outs["s256"]).mean() > 1.0  # another size: other colours


def test_files_from_mirrors_absolute_paths_below_the_working_folder(tmp_path, onnx_args, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "archive" / "box1").mkdir(parents=True)
    make_photo(40, 30, 4, "L").save(tmp_path / "archive" / "box1" / "a.jpg")
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    elsewhere.mkdir()
    make_photo(40, 30, 5, "L").save(elsewhere / "b.jpg")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{tmp_path / 'archive' / 'box1' / 'a.jpg'}\n{elsewhere / 'b.jpg'}\n", encoding="utf-8")
    res = _run(["--files-from", listing, "-o", "out", *onnx_args])
    assert res.exit_code == 0, res.output
    found = sorted(os.path.relpath(os.path.join(r, f), tmp_path / "out") for r, _, fs in os.walk("out") for f in fs)
    # below the working folder: its relative path is mirrored; outside it: the file name alone
    assert found == [os.path.join("archive", "box1", "a.jpg"), "b.jpg"]


def test_the_library_leaves_the_host_process_alone(tmp_path, tiny_models):
    """Importing and using the library changes neither Pillow's globals, the environment nor the
    working folder; only the command line configures its own process."""
    import subprocess
    import sys

    make_photo(40, 30, 1, "L").save(tmp_path / "a.png")
    code = f"""
import os, PIL.Image, PIL.ImageFile
before = (PIL.Image.MAX_IMAGE_PIXELS, PIL.ImageFile.LOAD_TRUNCATED_IMAGES, dict(os.environ), os.getcwd())
from colorize_cli import colorize_paths, open_backend
colorize_paths([{str(tmp_path / "a.png")!r}], {str(tmp_path / "out")!r}, backend=open_backend("torch", {str(tiny_models["pt"])!r}))
after = (PIL.Image.MAX_IMAGE_PIXELS, PIL.ImageFile.LOAD_TRUNCATED_IMAGES, dict(os.environ), os.getcwd())
assert before == after, (before[:2], after[:2], set(after[2].items()) ^ set(before[2].items()))
assert os.path.isfile({str(tmp_path / "out" / "a.png")!r})
"""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_int8_quantization_never_changes_the_working_folder(tmp_path, tiny_models, monkeypatch):
    pytest.importorskip("onnxruntime")
    from colorize_cli.export.variants import quantize_int8

    def no_chdir(path):
        raise AssertionError(f"os.chdir({path!r}) in the caller's process")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os, "chdir", no_chdir)
    cal = tmp_path / "cal"
    cal.mkdir()
    for i in range(3):
        make_photo(80, 64, i, "L").save(cal / f"c{i}.png")
    dst, method = quantize_int8(tiny_models["onnx"], tmp_path / "q.onnx", calibration=sorted(cal.iterdir()),
                                size=64, stride=32)
    assert method == "static" and dst.stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cal", "q.onnx"]  # no scratch files left here


def test_one_folder_walk_for_colorizing_evaluating_and_training(tmp_path):
    from colorize_cli.evaluation import find_photos
    from colorize_cli.jobs import plan_jobs

    root = tmp_path / "photos"
    for rel in ("a.jpg", "sub/b.png", "sub/deeper/c.tif", ".thumbnails/t.jpg", "._a.jpg", "sub/.hidden.jpg",
                ".colorize-tmp-host-1-x-d.jpg", "notes.txt"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        make_photo(16, 12, 1, "L").save(root / rel, format="PNG") if rel.endswith(("jpg", "png", "tif")) else (root / rel).write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    make_photo(16, 12, 2, "L").save(outside / "o.jpg", format="PNG")
    os.symlink(outside, root / "linked_dir")  # not entered
    os.symlink(outside / "o.jpg", root / "linked.jpg")  # included
    want = ["a.jpg", "linked.jpg", "sub/b.png", "sub/deeper/c.tif"]

    jobs, _ = plan_jobs([root], tmp_path / "out")
    assert [j.source.relative_to(root).as_posix() for j in jobs] == want
    assert [p.relative_to(root).as_posix() for p in find_photos(root)] == want
    try:
        from colorize_cli.training.data import list_images
    except ImportError:  # the training data module needs torch
        return
    assert sorted(p.name for p in list_images([root])) == sorted(Path(w).name for w in ["a.jpg", "o.jpg", "b.png", "c.tif"])


def test_the_cli_and_the_api_give_the_same_run(tmp_path, tiny_models):
    """colorize-cli and colorize_paths: the same outputs byte for byte, the same report records
    (but for timings), both clean the temporary files of dead runs and resume the same way."""
    import json
    import subprocess
    import sys

    from colorize_cli import colorize_paths
    from colorize_cli.backends import open_backend
    from colorize_cli.fsutil import TMP_PREFIX

    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    make_photo(64, 48, 1, "L").save(src / "a.jpg", quality=90)
    make_photo(50, 70, 2, "L").save(src / "sub" / "b.png")
    (src / "broken.png").write_bytes(b"not a png")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    runs = {}
    for name in ("cli", "api"):
        out = tmp_path / name
        out.mkdir()
        orphan = out / f"{TMP_PREFIX}{os.uname().nodename}-{dead.pid}-deadbeef-a.jpg"
        orphan.write_bytes(b"half")
        if name == "cli":
            res = _run([src, "-o", out, "--backend", "onnx", "--model", tiny_models["onnx"], "--report", tmp_path / "r.jsonl"])
            assert res.exit_code == 1, res.output
            records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
        else:
            seen = []
            summary = colorize_paths([src], out, backend=open_backend("onnx", tiny_models["onnx"]),
                                     report=tmp_path / "api.jsonl", on_result=seen.append)
            assert (summary.done, summary.failed) == (2, 1) and len(seen) == 3
            records = [json.loads(line) for line in (tmp_path / "api.jsonl").read_text().splitlines()]
        assert not orphan.exists()
        runs[name] = (out, sorted(({k: v for k, v in r.items() if k not in ("seconds", "output")}
                                   | {"output": os.path.relpath(r["output"], out)} for r in records),
                                  key=lambda r: r["input"]))
    (cli_out, cli_records), (api_out, api_records) = runs["cli"], runs["api"]
    assert cli_records == api_records
    for rel in ("a.jpg", "sub/b.png"):
        assert (cli_out / rel).read_bytes() == (api_out / rel).read_bytes()
    again = []
    colorize_paths([src], api_out, backend=open_backend("onnx", tiny_models["onnx"]), on_result=lambda r: again.append(r.status))
    assert sorted(again) == ["failed", "skipped", "skipped"]


def _linear_rgb_profile() -> bytes:
    """An RGB ICC profile with sRGB's primaries but a linear tone curve (gamma 1.0), named so.

    Built from the sRGB profile the package embeds, by replacing its three TRC tags and its
    description: what a scanner's linear-light profile looks like to a reader.
    """
    from colorize_cli.imagefile import srgb_icc_bytes

    icc = srgb_icc_bytes()
    count = int.from_bytes(icc[128:132], "big")
    entries = [(icc[132 + 12 * i:136 + 12 * i], int.from_bytes(icc[136 + 12 * i:140 + 12 * i], "big"),
                int.from_bytes(icc[140 + 12 * i:144 + 12 * i], "big")) for i in range(count)]
    name = "Linear RGB test profile".encode("utf-16-be")
    new = {
        b"desc": b"mluc" + bytes(4) + (1).to_bytes(4, "big") + (12).to_bytes(4, "big") + b"enUS"
                 + len(name).to_bytes(4, "big") + (28).to_bytes(4, "big") + name,
        **{sig: b"curv" + bytes(4) + (1).to_bytes(4, "big") + (0x0100).to_bytes(2, "big") + bytes(2)
           for sig in (b"rTRC", b"gTRC", b"bTRC")},
    }
    table_end = 132 + 12 * count
    body, table = bytearray(), bytearray()
    for sig, off, size in entries:
        data = new.get(sig, icc[off:off + size])
        table += sig + (table_end + len(body)).to_bytes(4, "big") + len(data).to_bytes(4, "big")
        body += data + bytes(-len(data) % 4)
    header = bytearray(icc[:128])
    header[0:4] = (128 + 4 + len(table) + len(body)).to_bytes(4, "big")
    header[84:100] = bytes(16)  # no profile ID
    return bytes(header) + count.to_bytes(4, "big") + bytes(table) + bytes(body)


def test_an_icc_tagged_input_is_converted_before_its_lightness_is_taken(tmp_path):
    from PIL import ImageCms

    from colorize_cli import lab
    from colorize_cli.imagefile import decode_image

    icc = _linear_rgb_profile()
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    assert ImageCms.getProfileDescription(profile).strip() == "Linear RGB test profile"
    ramp = np.repeat(np.linspace(0, 255, 64, dtype=np.float32)[None, :], 16, axis=0).round().astype(np.uint8)
    rgb = Image.fromarray(np.stack([ramp] * 3, -1), "RGB")
    rgb.save(tmp_path / "tagged.png", icc_profile=icc)
    rgb.save(tmp_path / "untagged.png")
    want = lab.luminance_to_l(ramp.astype(np.float32) / 255.0)  # linear codes: Y is the code itself
    tagged, untagged = decode_image(tmp_path / "tagged.png").L, decode_image(tmp_path / "untagged.png").L
    assert np.abs(tagged - want).max() < 1.0  # converted through LittleCMS, then L*
    assert np.abs(tagged - untagged).mean() > 5.0  # linear-light codes are much lighter in sRGB
