"""What a batch promises its user, through the command and the library: the log lines, the report
file, the library's defaults, colour inputs copied, 16-bit outputs (mutation survivors, issue 14)."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from colorize_cli.cli import main
from tests.conftest import make_photo


def run(args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def outputs_at(src: Path, tmp_path: Path, fmt: str, qualities, *args) -> dict[int, Path]:
    """Run ``src`` once per ``--quality`` into ``tmp_path/qN``; the one file each run wrote."""
    written = {}
    for q in qualities:
        out = tmp_path / f"q{q}"
        result = run([src, "-o", out, "--format", fmt, "--quality", q, *args])
        assert result.exit_code == 0, result.output
        (written[q],) = out.iterdir()
    return written


@pytest.fixture()
def onnx_args(tiny_models):
    return ["--backend", "onnx", "--model", tiny_models["onnx"]]


@pytest.fixture()
def three(tmp_path):
    """ok.png (to colorize), done.png (its output exists), bad.jpg (not an image)."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    make_photo(40, 32, 1, "L").save(src / "ok.png")
    make_photo(40, 32, 2, "L").save(src / "done.png")
    (out / "done.png").write_bytes((src / "done.png").read_bytes())
    (src / "bad.jpg").write_bytes(b"<html>not a photo</html>")
    return src, out


def test_the_log_says_what_happened_to_each_file_on_stderr(three, onnx_args):
    src, out = three
    result = run([src, "-o", out, *onnx_args])
    assert result.exit_code == 1
    assert result.stdout == ""  # stdout stays free for scripts; the log is on stderr
    lines = result.stderr.splitlines()
    assert any(line.startswith(f"ok      {src / 'ok.png'} -> {out / 'ok.png'} (") and line.endswith(" s)")
               for line in lines)
    assert f"skipped {src / 'done.png'} (output exists)" in lines
    assert f"FAILED  {src / 'bad.jpg'}: not an image Pillow can read (unknown or corrupt format)" in lines


def test_quiet_keeps_the_failures_and_drops_the_rest(three, onnx_args):
    src, out = three
    result = run([src, "-o", out, "--quiet", *onnx_args])
    assert result.exit_code == 1
    assert [line for line in result.stderr.splitlines() if line.startswith(f"FAILED  {src / 'bad.jpg'}: ")]
    assert not [line for line in result.stderr.splitlines() if line.startswith(("ok ", "skipped "))]
    assert "photos ->" not in result.stderr


def test_notes_follow_the_ok_line_and_verbose_names_engine_and_compose(tmp_path, onnx_args):
    from colorize_cli import lab_kernel

    src = tmp_path / "in"
    src.mkdir()
    make_photo(40, 32, 5, "RGB").save(src / "colour.png")
    result = run([src, "-o", tmp_path / "out", "--color-inputs", "copy", "-v", *onnx_args])
    assert result.exit_code == 0, result.output
    assert "(a colour input: copied as it is (--color-inputs copy))" in result.stderr
    assert f"compose: {lab_kernel.describe()}" in result.stderr.splitlines()
    assert "1 photos -> " in result.stderr and "[onnx" in result.stderr


def test_the_report_goes_into_new_folders_and_keeps_names_as_they_are(tmp_path, onnx_args):
    src = tmp_path / "in"
    src.mkdir()
    make_photo(40, 32, 1, "L").save(src / "фото 1.png")
    undecodable = os.fsdecode(b"scan-\xff.png")  # a name that is not UTF-8 (a surrogate escape)
    make_photo(40, 32, 2, "L").save(src / undecodable)
    report = tmp_path / "reports" / "night 1" / "run.jsonl"
    result = run([src, "-o", tmp_path / "out", "--report", report, *onnx_args])
    assert result.exit_code == 0, result.output
    text = report.read_text(encoding="utf-8")
    assert "фото 1.png" in text  # UTF-8 as it is, not \u escapes
    assert "scan-\\udcff.png" in text  # the undecodable byte, escaped instead of stopping the run
    recs = records(report)
    assert len(recs) == 2 and all(r["status"] == "ok" for r in recs)
    # Each colorized record says how its output looks (the flags the review page filters on).
    assert all(set(r["flags"]) >= {"colorfulness", "gamut_reduced"} for r in recs)


def test_the_library_defaults_are_the_commands(tmp_path, tiny_models, photo_dir):
    """plan_batch walks subfolders, open_engine picks the backend, device and precision itself,
    run_batch makes a nested output folder and announces each job."""
    from colorize_cli.batch import open_engine, plan_batch, run_batch

    out = tmp_path / "a" / "b" / "out"
    plan = plan_batch([photo_dir], out)
    assert {j.output.relative_to(out).as_posix() for j in plan.jobs} == {"a.jpg", "b.png", "sub/c.jpg",
                                                                          "sub/deeper/d.tif"}
    engine = open_engine(plan, model=tiny_models["onnx"])
    assert "onnx" in engine.describe()
    started = []
    summary = run_batch(plan, engine, on_start=lambda job: started.append(job.display))
    assert summary.done == 4 and sorted(started) == sorted(j.display for j in plan.jobs)
    assert (out / "sub" / "deeper" / "d.tif").is_file()
    torch_engine = open_engine(plan, "torch", tiny_models["pt"])
    assert "torch" in torch_engine.describe() and "cpu" in torch_engine.describe()


def test_a_copied_colour_input_is_re_encoded_at_the_quality_asked(tmp_path, onnx_args):
    src = tmp_path / "in"
    src.mkdir()
    make_photo(160, 120, 5, "RGB").save(src / "colour.png")
    written = outputs_at(src, tmp_path, "jpg", (30, 95), "--color-inputs", "copy", *onnx_args)
    assert written[30].stat().st_size < 0.7 * written[95].stat().st_size


def test_a_copied_colour_input_with_a_wide_gamut_profile_is_converted_to_srgb(tmp_path, onnx_args):
    from PIL import ImageCms

    from tests.icc_profiles import ADOBE_RGB, build_profile

    src = tmp_path / "in"
    src.mkdir()
    # A colourful photo in Adobe RGB: its saturated greens lie outside sRGB, so the numbers change.
    pixels = np.asarray(make_photo(32, 24, 6, "RGB")).copy()
    pixels[:8, :, 1] = 230
    pixels[:8, :, 0] = pixels[:8, :, 2] = 10
    icc = build_profile("Adobe RGB (1998)", trc=2.2, colorants=ADOBE_RGB)
    Image.fromarray(pixels).save(src / "green.png", icc_profile=icc)
    out = tmp_path / "out"
    result = run([src, "-o", out, "--color-inputs", "copy", "--format", "tiff", *onnx_args])
    assert result.exit_code == 0, result.output
    want = ImageCms.profileToProfile(Image.fromarray(pixels), ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                     ImageCms.createProfile("sRGB"), outputMode="RGB")
    with Image.open(out / "green.tif") as got:
        got_px = np.asarray(got.convert("RGB")).astype(int)
    np.testing.assert_allclose(got_px, np.asarray(want).astype(int), atol=2)
    assert np.abs(got_px - pixels.astype(int)).max() > 20  # converted, not copied


@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_a_16_bit_input_gives_a_16_bit_output_with_its_provenance(tmp_path, onnx_args, fmt):
    src = tmp_path / "in"
    src.mkdir()
    gray = np.asarray(make_photo(48, 32, 3, "L")).astype(np.uint16) * 257
    Image.fromarray(gray).save(src / "deep.png")
    out = tmp_path / "out"
    result = run([src, "-o", out, "--format", fmt, *onnx_args])
    assert result.exit_code == 0, result.output
    (written,) = out.iterdir()
    if fmt == "tiff":
        tifffile = pytest.importorskip("tifffile")
        with tifffile.TiffFile(written) as tif:
            page = tif.pages[0]
            assert page.dtype == np.uint16 and page.shape == (32, 48, 3)
            xmp = page.tags[700].value  # XMP
    else:
        with Image.open(written) as im:
            assert im.mode in ("RGB;16", "I;16", "RGBA;16") or im.info.get("bitdepth", 16) == 16
            xmp = im.info.get("XML:com.adobe.xmp", "").encode()
        raw = written.read_bytes()
        assert raw[24] == 16  # IHDR bit depth
    assert b"colorize-cli" in bytes(xmp)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file names")
def test_plan_warns_of_a_folder_with_no_photos(tmp_path, onnx_args):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no photos here")
    result = run([empty, "-o", tmp_path / "out", *onnx_args])
    assert f"warning: {empty}: no images found (jpg, jpeg, png, tif, tiff, bmp, webp)" in result.stderr


@pytest.mark.parametrize("display", [None, "sub/p.png"])
def test_a_result_survives_its_report_record(display):
    """Results travel between processes (Ray) as report records: nothing may be lost on the way."""
    from colorize_cli.jobs import Job
    from colorize_cli.runner import FileResult

    job = Job(Path("/in/sub/p.png"), Path("/out/sub/p.png"), "sub/p.png")
    full = FileResult(job, "ok", seconds=1.23456, notes=["a", "b"], input_kind="toned",
                      fixity={"input_sha256": "i" * 64, "output_sha256": "o" * 64, "model_sha256": "m" * 64},
                      flags={"colorfulness": 12.5, "gamut_reduced": 0.01})
    back = FileResult.from_record(json.loads(json.dumps(full.record())), display)
    assert back.record() == full.record()
    assert back.job.source == job.source and back.job.output == job.output
    assert back.job.display == (display if display is not None else "/in/sub/p.png")
    assert (back.status, back.seconds, back.notes, back.input_kind) == ("ok", 1.2346, ["a", "b"], "toned")
    assert back.fixity == full.fixity and back.flags == full.flags
    failed = FileResult(job, "failed", error="not an image")
    back = FileResult.from_record(failed.record())
    assert (back.status, back.error, back.notes, back.fixity, back.flags, back.input_kind) == (
        "failed", "not an image", [], {}, {}, None)
    assert "flags" not in failed.record() and "notes" not in failed.record()


def _reference_l(rgb8: np.ndarray) -> np.ndarray:
    from colorize_cli import lab

    y = lab.srgb_to_linear(rgb8.astype(np.float64) / 255.0) @ lab.Y_FROM_RGB
    return lab.luminance_to_l(y)


def test_a_wide_photo_is_read_whole_row_block_after_row_block(tmp_path):
    """8192 px wide: the decoder works in blocks of rows, and every row of every block is read."""
    from colorize_cli.imagefile import decode_image

    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (600, 8192, 3), dtype=np.uint8)
    rgb[-1] = 255  # the last row white: L* 100 there
    Image.fromarray(rgb).save(tmp_path / "wide.png", compress_level=1)
    d = decode_image(tmp_path / "wide.png")
    np.testing.assert_allclose(d.lightness, _reference_l(rgb), atol=2e-3)


def test_float_gray_is_clipped_to_black_and_white_in_every_row_block(tmp_path):
    from colorize_cli import lab
    from colorize_cli.imagefile import decode_image

    rng = np.random.default_rng(8)
    g = rng.uniform(-0.3, 1.0, (600, 8192)).astype(np.float32)  # negative values: below black
    Image.fromarray(g, "F").save(tmp_path / "float.tif")
    d = decode_image(tmp_path / "float.tif")
    want = lab.luminance_to_l(lab.srgb_to_linear(np.clip(g, 0.0, 1.0).astype(np.float64)))
    np.testing.assert_allclose(d.lightness, want, atol=2e-3)
    assert d.lightness.min() >= 0.0 and d.bit_depth == 16


def test_messages_name_what_went_wrong_exactly(tmp_path, monkeypatch):
    from colorize_cli import lab_kernel
    from colorize_cli.errors import InputError
    from colorize_cli.imagefile import decode_image

    (tmp_path / "zero.png").write_bytes(b"")
    with pytest.raises(InputError, match=r"^empty file \(0 bytes\)$"):
        decode_image(tmp_path / "zero.png")
    (tmp_path / "page.jpg").write_bytes(b"<html></html>")
    with pytest.raises(InputError, match=r"^not an image Pillow can read \(unknown or corrupt format\)$"):
        decode_image(tmp_path / "page.jpg")
    good = tmp_path / "good.png"
    make_photo(64, 64, 1, "L").save(good)
    (tmp_path / "cut.png").write_bytes(good.read_bytes()[:-40])
    with pytest.raises(InputError, match=r"^truncated or corrupt image data \("):
        decode_image(tmp_path / "cut.png")
    assert lab_kernel.describe() in ("compiled", "numpy (the compiled compose is not built: no C compiler at install)")
    assert (lab_kernel.describe() == "compiled") == lab_kernel.available()
    monkeypatch.setenv("COLORIZE_CLI_NO_KERNEL", "1")
    assert lab_kernel.describe() == "numpy (COLORIZE_CLI_NO_KERNEL is set)"


def test_the_header_names_the_model_given(tmp_path, tiny_models, onnx_args):
    src = tmp_path / "in"
    src.mkdir()
    make_photo(40, 32, 1, "L").save(src / "p.png")
    result = run([src, "-o", tmp_path / "out", *onnx_args])
    header = next(line for line in result.stderr.splitlines() if " photos -> " in line)
    assert Path(tiny_models["onnx"]).name in header


def test_one_shard_of_one_is_the_whole_list(photo_dir, tmp_path, onnx_args):
    result = run([photo_dir, "-o", tmp_path / "out", "--shard", "1/1", *onnx_args])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").rglob("*.*"))) == 4


def test_the_api_defaults_to_the_models_colours_and_allows_saturation_two(tiny_models):
    from colorize_cli import open_backend
    from colorize_cli.pipeline import colorize_array

    L = np.asarray(make_photo(48, 32, 2, "L"))
    engine = open_backend("onnx", tiny_models["onnx"])
    default = colorize_array(L, engine)
    np.testing.assert_array_equal(default, colorize_array(L, engine, saturation=1.0))
    assert default.dtype == np.uint8 and default.shape == (32, 48, 3)
    double = colorize_array(L, engine, saturation=2.0)  # the documented maximum is allowed
    assert not np.array_equal(double, default)


@pytest.mark.parametrize("mode", ["PA", "La", "RGBa", "YCbCr"])
def test_rarer_pillow_modes_decode_with_their_lightness_and_alpha(mode):
    from colorize_cli.imagefile import decode_image

    base = make_photo(37, 23, 8, "RGB")
    ref = decode_image(base).L
    if mode == "PA":
        im = base.convert("P").convert("PA")
        ref = decode_image(base.convert("P").convert("RGB")).L
    elif mode == "La":
        im = base.convert("L").convert("LA").convert("La")
        ref = decode_image(base.convert("L")).L
    elif mode == "RGBa":
        im = base.convert("RGBA").convert("RGBa")
    else:
        im = base.convert("YCbCr")
        ref = decode_image(im.convert("RGB")).L
    d = decode_image(im)
    np.testing.assert_allclose(d.L if d.L is not None else d.lightness, ref, atol=0.6)
    assert (d.alpha is not None) == (mode in ("PA", "La", "RGBa"))


def test_a_32_bit_integer_photo_is_clipped_to_sixteen_bits():
    from colorize_cli.imagefile import decode_image

    arr = np.full((8, 8), 70000, np.int32)  # beyond 16-bit white: read as white, not wrapped to black
    arr[:, :4] = 0
    d = decode_image(Image.fromarray(arr, "I"))
    assert d.bit_depth == 16
    np.testing.assert_allclose(d.L[:, 4:], 100.0, atol=1e-3)
    np.testing.assert_allclose(d.L[:, :4], 0.0, atol=1e-3)


def test_colour_inputs_copied_into_another_format_keep_alpha_and_exif(tmp_path, onnx_args):
    src = tmp_path / "in"
    src.mkdir()
    rgb = make_photo(40, 32, 5, "RGB")
    exif = Image.Exif()
    exif[0x010F] = "Test Camera"  # Make
    rgb.save(src / "plain.jpg", quality=95, exif=exif.tobytes())
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.fromarray((np.arange(40 * 32) % 256).reshape(32, 40).astype(np.uint8)))
    rgba.save(src / "cutout.png")
    out = tmp_path / "out"
    result = run([src, "-o", out, "--color-inputs", "copy", "--format", "tiff", *onnx_args])
    assert result.exit_code == 0, result.output
    with Image.open(out / "plain.tif") as im:
        assert im.mode == "RGB" and im.getexif().get(0x010F) == "Test Camera"
    with Image.open(out / "cutout.tif") as im:
        assert im.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(im)[..., 3], np.asarray(rgba)[..., 3])


@pytest.mark.parametrize("fmt", ["webp", "tiff", "jpg"])
def test_a_colorized_output_keeps_the_inputs_exif(tmp_path, onnx_args, fmt):
    src = tmp_path / "in"
    src.mkdir()
    exif = Image.Exif()
    exif[0x010F] = "Old Camera"
    make_photo(40, 32, 1, "L").save(src / "p.jpg", quality=95, exif=exif.tobytes())
    out = tmp_path / "out"
    assert run([src, "-o", out, "--format", fmt, *onnx_args]).exit_code == 0
    (written,) = out.iterdir()
    with Image.open(written) as im:
        assert im.getexif().get(0x010F) == "Old Camera"


def test_jpeg_outputs_keep_full_colour_resolution_at_high_quality(tmp_path, onnx_args):
    from PIL import JpegImagePlugin

    src = tmp_path / "in"
    src.mkdir()
    make_photo(64, 48, 1, "L").save(src / "p.png")
    sampling = {}
    for q, path in outputs_at(src, tmp_path, "jpg", (95, 80), *onnx_args).items():
        with Image.open(path) as im:
            sampling[q] = JpegImagePlugin.get_sampling(im)
    assert sampling == {95: 0, 80: 2}  # 4:4:4 from quality 90 up, else 4:2:0


def test_webp_outputs_follow_the_quality_asked(tmp_path, onnx_args):
    src = tmp_path / "in"
    src.mkdir()
    make_photo(160, 120, 1, "L").save(src / "p.png")
    written = outputs_at(src, tmp_path, "webp", (20, 95), *onnx_args)
    assert written[20].stat().st_size < 0.7 * written[95].stat().st_size


def test_report_flags_measure_a_16_bit_output_like_its_8_bit_twin(tmp_path, onnx_args):
    src8, src16 = tmp_path / "in8", tmp_path / "in16"
    src8.mkdir()
    src16.mkdir()
    gray = np.asarray(make_photo(64, 48, 3, "L"))
    Image.fromarray(gray).save(src8 / "p.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(src16 / "p.png")
    flags = {}
    for name, src in (("8", src8), ("16", src16)):
        report = tmp_path / f"r{name}.jsonl"
        assert run([src, "-o", tmp_path / f"out{name}", "--report", report, *onnx_args]).exit_code == 0
        flags[name] = records(report)[0]["flags"]
    assert flags["8"]["colorfulness"] > 1.0
    assert abs(flags["16"]["colorfulness"] - flags["8"]["colorfulness"]) < 0.5
    assert flags["16"]["gamut_reduced"] == pytest.approx(flags["8"]["gamut_reduced"], abs=0.01)
