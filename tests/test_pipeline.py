"""Decoding every mode, full-resolution L preservation, composition, and backend parity."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorize_cli import lab
from colorize_cli.imagefile import decode_image, write_image
from colorize_cli.models.config import GeneratorConfig
from colorize_cli.pipeline import colorize_array, compose, inference_shape, network_input, upsample_ab_rows
from tests.conftest import make_photo


class ConstantBackend:
    """A stand-in model that predicts the same normalized ab everywhere (or zeros)."""

    name = "constant"
    model_path = Path("constant")
    accelerated = False

    def __init__(self, a: float = 0.0, b: float = 0.0, stride: int = 32) -> None:
        self.ab = (a, b)
        self.config = GeneratorConfig(train_size=64)
        self.calls: list[tuple] = []

    def predict(self, L: np.ndarray) -> np.ndarray:
        self.calls.append(L.shape)
        out = np.empty((L.shape[0], 2) + L.shape[2:], np.float32)
        out[:, 0], out[:, 1] = self.ab
        return out

    def describe(self) -> str:
        return "constant"


def skip_unless_compiled():
    from colorize_cli import lab_kernel

    if lab_kernel.library_path() is None:
        pytest.skip("the compiled compose is not built here (no C compiler at install)")


@pytest.fixture(params=[True, False], ids=["compiled", "numpy"])
def compiled(request):
    """The compose to test through: the compiled one, and the numpy path."""
    if request.param:
        skip_unless_compiled()
    return request.param


def l_of(pixels: np.ndarray) -> np.ndarray:
    peak = 65535.0 if pixels.dtype == np.uint16 else 255.0
    return lab.rgb_to_lab(pixels[..., :3].astype(np.float32) / peak)[..., 0]


@pytest.mark.parametrize("hw", [(667, 1001), (31, 17), (48, 300)])
def test_inference_shape_is_stride_aligned_and_keeps_aspect(hw):
    h, w = inference_shape(*hw, size=256, stride=32)
    assert h % 32 == 0 and w % 32 == 0 and 32 <= h <= 1024 and 32 <= w <= 1024
    if hw == (667, 1001):
        assert abs(w / h - 1001 / 667) < 0.2 and abs(h * w - 256 * 256) / (256 * 256) < 0.25


def test_inference_shape_bounds_extreme_strips():
    assert inference_shape(3, 10000, size=256, stride=32) == (32, 1024)
    assert inference_shape(1, 1, size=256, stride=256) == (256, 256)


def test_upsample_matches_torch_bilinear():
    torch = pytest.importorskip("torch")
    small = np.random.default_rng(0).standard_normal((2, 7, 9)).astype(np.float32)
    ours = np.concatenate([blk for _, _, blk in upsample_ab_rows(small, 61, 50)], axis=1)
    ref = torch.nn.functional.interpolate(torch.from_numpy(small)[None], size=(61, 50), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(ours, ref[0].numpy(), atol=1e-5)


def test_full_resolution_lightness_is_preserved_on_odd_non_square_image(compiled):
    photo = make_photo(1001, 667, seed=5, mode="L")
    decoded = decode_image(photo)
    backend = ConstantBackend(0.2, -0.3)
    out = colorize_array(decoded.L, backend, compiled=compiled)
    assert out.shape == (667, 1001, 3) and out.dtype == np.uint8
    assert backend.calls[0][2] % 32 == 0  # the network saw a small, stride-aligned input
    np.testing.assert_allclose(l_of(out), decoded.L, atol=0.6)  # 8-bit rounding only
    assert np.abs(l_of(out) - decoded.L).mean() < 0.2
    assert np.ptp(out.astype(int), axis=-1).max() > 10  # and it really has colour


def test_gray_with_zero_ab_model_comes_back_gray(compiled):
    photo = make_photo(120, 90, seed=6, mode="L")
    out = colorize_array(decode_image(photo).L, ConstantBackend(0.0, 0.0), compiled=compiled)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    np.testing.assert_array_equal(out[..., 0], np.asarray(photo))


def test_rgb_input_is_read_by_its_luminance():
    rgb = make_photo(40, 30, seed=7, mode="RGB")
    decoded = decode_image(rgb)
    np.testing.assert_allclose(decoded.L, lab.rgb_to_lab(np.asarray(rgb) / 255.0)[..., 0], atol=1e-3)


def _modes():
    base = make_photo(37, 23, seed=8, mode="L")
    arr = np.asarray(base)
    la = Image.merge("LA", [base, Image.fromarray((np.arange(37 * 23) % 256).reshape(23, 37).astype(np.uint8))])
    p = base.convert("P")
    p.info["transparency"] = 0
    return {
        "L": (base, False, 8),
        "1": (base.convert("1"), False, 8),
        "LA": (la, True, 8),
        "P+transparency": (p, True, 8),
        "RGB": (base.convert("RGB"), False, 8),
        "RGBA": (base.convert("RGBA"), True, 8),
        "CMYK": (base.convert("RGB").convert("CMYK"), False, 8),
        "I;16": (Image.fromarray(arr.astype(np.uint16) * 257), False, 16),
        "I": (Image.fromarray(arr.astype(np.int32) * 257, "I"), False, 16),
        "F": (Image.fromarray(arr.astype(np.float32) / 255.0, "F"), False, 16),
    }


@pytest.mark.parametrize("mode", list(_modes()))
def test_every_pillow_mode_decodes(mode):
    image, has_alpha, depth = _modes()[mode]
    decoded = decode_image(image)
    assert decoded.L.shape == (23, 37) and decoded.L.dtype == np.float32
    assert 0 <= decoded.L.min() and decoded.L.max() <= 100
    assert (decoded.alpha is not None) == has_alpha
    assert decoded.bit_depth == depth
    if mode in ("L", "RGB", "I;16", "I", "F", "LA", "RGBA", "CMYK"):  # the same lightness, whatever the mode
        ref = decode_image(_modes()["L"][0]).L
        np.testing.assert_allclose(decoded.L, ref, atol=0.05)


def test_alpha_is_carried_through(tmp_path):
    image, _, _ = _modes()["LA"]
    decoded = decode_image(image)
    out = colorize_array(decoded.L, ConstantBackend(0.1, 0.1), alpha=decoded.alpha)
    write_image(tmp_path / "o.png", out)
    back = Image.open(tmp_path / "o.png")
    assert back.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(back)[..., 3], np.asarray(image)[..., 1])


def _png_bit_depth(path: Path) -> int:
    data = path.read_bytes()
    return data[24]  # IHDR: 8 signature + 8 chunk header + 4 width + 4 height


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_sixteen_bit_input_writes_sixteen_bit_output(tmp_path, suffix):
    gray16 = (np.linspace(0, 65535, 40 * 25).reshape(25, 40)).astype(np.uint16)
    src = tmp_path / f"in{suffix}"
    Image.fromarray(gray16).save(src)
    decoded = decode_image(src)
    assert decoded.bit_depth == 16
    out = colorize_array(decoded.L, ConstantBackend(0.0, 0.0), bit_depth=16)
    assert out.dtype == np.uint16
    dst = tmp_path / f"out{suffix}"
    write_image(dst, out)
    if suffix == ".png":
        assert _png_bit_depth(dst) == 16
    else:
        with Image.open(dst) as im:
            assert tuple(im.tag_v2[258]) == (16, 16, 16)
    # Gray stays gray at 16-bit precision: channel 0 tracks the input codes closely.
    np.testing.assert_allclose(out[..., 0].astype(int), gray16.astype(int), atol=40)


@pytest.mark.parametrize("channels", [3, 4])
def test_sixteen_bit_png_is_a_well_formed_png_with_its_profile(tmp_path, channels):
    """Colour type (RGB or RGBA), the chunk sequence, and a profile any PNG reader finds."""
    from colorize_cli import imagefile

    pixels = np.random.default_rng(1).integers(0, 65535, (5, 6, channels), dtype=np.uint16)
    write_image(tmp_path / "x.png", pixels, xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    data = (tmp_path / "x.png").read_bytes()
    assert data[25] == (6 if channels == 4 else 2)  # IHDR colour type
    tags, pos = [], 8
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        tags.append(data[pos + 4 : pos + 8])
        pos += 12 + n
    assert tags[0] == b"IHDR" and tags[-1] == b"IEND" and b"iCCP" in tags and b"iTXt" in tags
    with Image.open(tmp_path / "x.png") as im:
        assert im.info.get("icc_profile") == imagefile.srgb_icc_bytes()
        assert len(im.getbands()) == channels


def test_sixteen_bit_png_round_trips_through_a_png_decoder(tmp_path):
    pixels = np.random.default_rng(3).integers(0, 65535, (9, 7, 4), dtype=np.uint16)
    write_image(tmp_path / "x.png", pixels)
    import zlib

    data = (tmp_path / "x.png").read_bytes()
    pos, idat = 8, b""
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        tag = data[pos + 4 : pos + 8]
        if tag == b"IDAT":
            idat += data[pos + 8 : pos + 8 + n]
        pos += 12 + n
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(9, 1 + 7 * 4 * 2)
    assert (raw[:, 0] == 0).all()
    decoded = raw[:, 1:].copy().view(">u2").reshape(9, 7, 4)
    np.testing.assert_array_equal(decoded, pixels)


def test_sixteen_bit_tiff_keeps_every_value_alpha_and_the_srgb_profile(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    from colorize_cli import imagefile

    pixels = np.random.default_rng(4).integers(0, 65535, (700, 333, 4), dtype=np.uint16)  # several strips
    write_image(tmp_path / "x.tif", pixels)
    with tifffile.TiffFile(tmp_path / "x.tif") as tif:
        page = tif.pages[0]
        np.testing.assert_array_equal(page.asarray(), pixels)
        assert page.tags[34675].value == imagefile.srgb_icc_bytes()
        assert tuple(page.tags["ExtraSamples"].value) == (2,)  # unassociated alpha
        assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE


def test_exif_orientation_is_applied(tmp_path):
    photo = make_photo(60, 20, seed=9, mode="L")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW when displayed
    exif[0x0132] = "2001:02:03 04:05:06"
    src = tmp_path / "rot.jpg"
    photo.save(src, exif=exif.tobytes())
    decoded = decode_image(src)
    assert decoded.L.shape == (60, 20)  # displayed as portrait
    out = colorize_array(decoded.L, ConstantBackend())
    dst = tmp_path / "o.jpg"
    write_image(dst, out, exif=decoded.exif)
    with Image.open(dst) as im:
        assert im.size == (20, 60)
        assert im.getexif().get(0x0112, 1) == 1  # orientation reset: pixels are upright
        assert im.getexif().get(0x0132) == "2001:02:03 04:05:06"  # the date is kept
        assert im.info.get("icc_profile")  # tagged sRGB


def test_outputs_are_the_same_bytes_in_a_later_run(tmp_path):
    """The embedded sRGB profile carries a fixed date, not the time of the run (LittleCMS stamps
    the current second into a profile it creates), so rerunning gives identical files."""
    import time

    from PIL import ImageCms

    from colorize_cli import imagefile

    pixels = np.asarray(make_photo(40, 30, seed=2).convert("RGB"))
    names = ["a.jpg", "b.png", "c.webp", "d.tif"]

    def write_all(folder: Path) -> list[bytes]:
        folder.mkdir()
        for name in names:
            write_image(folder / name, pixels)
        return [(folder / name).read_bytes() for name in names]

    first = write_all(tmp_path / "one")
    time.sleep(1.05)  # a later second on the clock LittleCMS reads
    # A new process makes the profile again.
    code = (
        "import sys, numpy as np; from PIL import Image; from colorize_cli.imagefile import write_image; "
        "pixels = np.asarray(Image.open(sys.argv[1])); "
        "[write_image(f'{sys.argv[2]}/{n}', pixels) for n in sys.argv[3:]]"
    )
    Image.fromarray(pixels).save(tmp_path / "pixels.png")
    (tmp_path / "two").mkdir()
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "pixels.png"), str(tmp_path / "two"), *names], check=True)
    assert [(tmp_path / "two" / n).read_bytes() for n in names] == first
    profile = ImageCms.ImageCmsProfile(io.BytesIO(imagefile.srgb_icc_bytes()))
    assert "sRGB" in ImageCms.getProfileDescription(profile)


def test_compose_row_blocks_equal_the_reference_join(compiled):
    rng = np.random.default_rng(4)
    L = rng.uniform(0, 100, (3000, 400)).astype(np.float32)  # many row blocks
    ab_small = rng.uniform(-0.5, 0.5, (2, 96, 32)).astype(np.float32)
    out = compose(L, ab_small, compiled=compiled)
    assert out.shape == (3000, 400, 3) and out.dtype == np.uint8
    # The reference: the whole ab plane at once, the generic (N, 3) Lab code, pow() for sRGB.
    ab = np.concatenate([blk for _, _, blk in upsample_ab_rows(lab.denormalize_ab(ab_small), 3000, 400)], axis=1)
    ref = lab.lab_to_rgb_preserving_l(L, np.moveaxis(ab, 0, -1))
    ref = np.floor(ref * 255 + 0.5).astype(int)
    assert np.abs(out.astype(int) - ref).max() <= 1  # the LUT encoder: within one 8-bit level
    assert np.abs(out.astype(int) - ref).mean() < 0.05
    np.testing.assert_allclose(l_of(out), L, atol=0.6)


@pytest.mark.parametrize("bit_depth, alpha", [(8, False), (8, True), (16, False)])
def test_compose_of_gray_codes_equals_compose_of_their_l_star(compiled, bit_depth, alpha):
    """An 8-bit gray photo is joined from its codes (no full-size L* plane), with the same pixels."""
    rng = np.random.default_rng(12)
    gray = rng.integers(0, 256, (301, 257), dtype=np.uint8)
    gray[:2] = 0
    gray[2:4] = 255
    gray.setflags(write=False)  # as decode_image keeps them
    ab_small = rng.uniform(-1, 1, (2, 13, 9)).astype(np.float32)  # many colours outside the gamut
    a = rng.integers(0, 256, gray.shape, dtype=np.uint8) if alpha else None
    want = compose(lab.gray_l_lut(255)[gray], ab_small, alpha=a, bit_depth=bit_depth, compiled=compiled)
    got = compose(gray, ab_small, alpha=a, bit_depth=bit_depth, compiled=compiled)
    np.testing.assert_array_equal(got, want)


def test_an_eight_bit_gray_photo_is_kept_as_codes_and_l_star_made_on_demand(tmp_path):
    gray = make_photo(40, 30, seed=3, mode="L")
    gray.save(tmp_path / "g.png")
    decoded = decode_image(tmp_path / "g.png")
    codes = np.asarray(gray)
    assert decoded.gray8 is not None and decoded.lightness is decoded.gray8
    np.testing.assert_array_equal(decoded.gray8, codes)
    assert decoded.size == (40, 30)
    np.testing.assert_allclose(decoded.L, lab.rgb_to_lab(np.repeat(codes[..., None], 3, -1) / 255.0)[..., 0], atol=1e-3)
    make_photo(40, 30, seed=3, mode="RGB").save(tmp_path / "c.png")
    rgb = decode_image(tmp_path / "c.png")
    assert rgb.gray8 is None and rgb.lightness is rgb.L


def test_network_input_from_gray_codes_is_close_to_the_one_from_l_star():
    """Resizing codes, then looking up L*, differs from resizing L* only by the curve's bend in each average."""
    gray = np.asarray(make_photo(600, 400, seed=5, mode="L"))
    from_codes = network_input(gray, 64, 32)
    from_l = network_input(lab.gray_l_lut(255)[gray], 64, 32)
    assert from_codes.shape == from_l.shape and from_codes.dtype == np.float32
    diff = np.abs(from_codes - from_l)
    assert diff.mean() < 0.005 and diff.max() < 0.02  # in normalized L: 0.25 and 1 L* units
    assert -1.0 <= from_codes.min() and from_codes.max() <= 1.0


def test_network_input_range_and_shape():
    L = np.full((100, 150), 50.0, np.float32)
    x = network_input(L, 64, 32)
    assert x.shape[0] == 1 and x.shape[1] % 32 == 0 and x.shape[2] % 32 == 0
    np.testing.assert_allclose(x, 0.0, atol=1e-6)


def test_torch_and_onnx_backends_agree(tiny_models):
    from colorize_cli.backends import open_backend

    tb = open_backend("torch", tiny_models["pt"], device="cpu", precision="fp32")  # float32 parity
    ob = open_backend("onnx", tiny_models["onnx"], device="cpu")
    x = np.random.default_rng(0).uniform(-1, 1, (3, 1, 64, 96)).astype(np.float32)
    a, b = tb.predict(x), ob.predict(x)
    assert a.shape == (3, 2, 64, 96)
    assert np.abs(a - b).max() < 1e-3
    assert np.abs(a).max() > 0.05  # the tiny model is not trivially zero


def test_compose_with_alpha_and_sixteen_bits_agree_with_eight_bit_rgb(compiled):
    rng = np.random.default_rng(9)
    L = rng.uniform(0, 100, (700, 333)).astype(np.float32)  # a width that does not divide the block
    ab_small = rng.uniform(-0.6, 0.6, (2, 20, 11)).astype(np.float32)
    rgb = compose(L, ab_small, compiled=compiled)
    alpha = (np.arange(700 * 333) % 256).astype(np.uint8).reshape(700, 333)
    rgba = compose(L, ab_small, alpha=alpha, compiled=compiled)
    np.testing.assert_array_equal(rgba[..., :3], rgb)
    np.testing.assert_array_equal(rgba[..., 3], alpha)
    deep = compose(L, ab_small, bit_depth=16, compiled=compiled)
    assert deep.dtype == np.uint16
    assert np.abs(deep.astype(int) / 257.0 - rgb).max() <= 1.0


@pytest.mark.parametrize(
    "accelerated, engine_batch, batch_size, want",
    [(False, None, None, "cpu"), (True, None, None, "gpu"), (False, None, 3, 3), (False, 4, None, 4), (False, 4, 2, 2)],
)
def test_runner_batches_as_the_engine_says(tmp_path, accelerated, engine_batch, batch_size, want):
    """Batch size by default: the engine's own (``backend.batch_size``); for an engine that does
    not say, one photo at a time on a CPU and several on a GPU; an explicit one wins."""
    import time

    from colorize_cli.jobs import plan_jobs
    from colorize_cli.runner import RunOptions, run_jobs

    src = tmp_path / "in"
    src.mkdir()
    for i in range(20):  # however many the first batch takes, 8 or more are left for the next
        make_photo(64, 48, seed=i, mode="L").save(src / f"p{i}.png")
    backend = ConstantBackend()
    backend.accelerated = accelerated
    if engine_batch is not None:
        backend.batch_size = engine_batch
    jobs, _ = plan_jobs([src], tmp_path / "out")
    # Let every photo decode before the first model call, so batches fill up to their limit.
    real_predict = backend.predict
    backend.predict = lambda L: (time.sleep(0.2 if not backend.calls else 0), real_predict(L))[1]
    summary = run_jobs(jobs, backend, RunOptions(batch_size=batch_size))
    assert summary.done == 20
    biggest = max(shape[0] for shape in backend.calls)
    if want == "cpu":
        assert biggest == 1
    elif want == "gpu":
        assert biggest > 1
    else:
        assert biggest == want


def test_compiled_compose_equals_the_numpy_path():
    """The C loop computes what the numpy path does (same float32 operations, same order)."""
    skip_unless_compiled()
    rng = np.random.default_rng(11)
    L = rng.uniform(0, 100, (257, 301)).astype(np.float32)
    L[:3] = 0.0  # black, white and the dark toe of the L* curve
    L[3:6] = 100.0
    L[6:9] = rng.uniform(0, 8, (3, 301))
    ab_small = rng.uniform(-1, 1, (2, 17, 23)).astype(np.float32)  # ab up to +-110: mostly out of gamut
    alpha = rng.integers(0, 256, L.shape, dtype=np.uint8)
    want = compose(L, ab_small, alpha=alpha, compiled=False)
    got = compose(L, ab_small, alpha=alpha, compiled=True)
    np.testing.assert_array_equal(got, want)
    gray = rng.integers(0, 256, (65, 1003), dtype=np.uint8)  # codes, a width no vector length divides
    np.testing.assert_array_equal(compose(gray, ab_small, compiled=True), compose(gray, ab_small, compiled=False))


def test_compose_uses_the_compiled_loop_unless_it_is_switched_off(monkeypatch):
    from colorize_cli import lab_kernel

    skip_unless_compiled()
    calls = []
    real = lab_kernel.compose8
    monkeypatch.setattr(lab_kernel, "compose8", lambda *a: (calls.append(a[0].shape), real(*a))[1])
    L, ab_small = np.full((20, 30), 50.0, np.float32), np.full((2, 3, 4), 0.3, np.float32)
    compose(L, ab_small)
    assert calls == [(20, 30)]
    monkeypatch.setenv("COLORIZE_CLI_NO_KERNEL", "1")
    assert not lab_kernel.available() and "COLORIZE_CLI_NO_KERNEL" in lab_kernel.describe()
    assert (compose(L, ab_small) == compose(L, ab_small, compiled=False)).all()
    assert calls == [(20, 30)]  # not called again
    compose(L, ab_small, bit_depth=16)  # 16-bit output never takes it
    assert calls == [(20, 30)]


def test_without_the_built_library_compose_takes_the_numpy_path(monkeypatch):
    from colorize_cli import lab_kernel

    monkeypatch.setattr(lab_kernel, "library_path", lambda: None)
    assert not lab_kernel.available() and "not built" in lab_kernel.describe()
    L = np.full((40, 30), 60.0, np.float32)
    out = compose(L, np.full((2, 4, 3), 0.2, np.float32))
    assert out.shape == (40, 30, 3) and np.ptp(out.astype(int), axis=-1).min() > 0
    with pytest.raises(RuntimeError, match="not built"):
        compose(L, np.full((2, 4, 3), 0.2, np.float32), compiled=True)


@pytest.mark.parametrize("broken", ["wide width", "step shape", "row index", "weights", "out shape", "out dtype",
                                    "out layout", "out read-only"])
def test_the_compiled_loop_refuses_arguments_it_would_read_or_write_past(broken):
    """The C loop trusts its arguments, so the wrapper checks every index it would follow."""
    from colorize_cli import lab_kernel

    skip_unless_compiled()
    L = np.full((6, 5), 50.0, np.float32)
    wide, step = np.zeros((2, 3, 5), np.float32), np.zeros((2, 3, 5), np.float32)
    y0, wy = np.array([0, 0, 1, 1, 2, 2], np.intp), np.zeros(6, np.float32)
    out = np.zeros((6, 5, 3), np.uint8)
    if broken == "wide width":
        wide = step = np.zeros((2, 3, 4), np.float32)
    elif broken == "step shape":
        step = np.zeros((2, 2, 5), np.float32)
    elif broken == "row index":
        y0[-1] = 3
    elif broken == "weights":
        wy = np.zeros(5, np.float32)
    elif broken == "out shape":
        out = np.zeros((6, 4, 3), np.uint8)
    elif broken == "out dtype":
        out = np.zeros((6, 5, 3), np.uint16)
    elif broken == "out layout":
        out = np.zeros((6, 5, 6), np.uint8)[..., ::2]
    else:
        out.setflags(write=False)
    with pytest.raises(ValueError):
        lab_kernel.compose8(L, wide, step, y0, wy, out)
    lab_kernel.compose8(L, np.zeros((2, 3, 5), np.float32), np.zeros((2, 3, 5), np.float32),
                        np.array([0, 0, 1, 1, 2, 2], np.intp), np.zeros(6, np.float32), np.zeros((6, 5, 3), np.uint8))


def test_photos_compose_side_by_side_in_threads():
    """The compiled loop runs without the GIL: threads composing different photos give each its own
    right pixels (no shared buffers)."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(3)
    Ls = [rng.uniform(0, 100, (120 + i, 90)).astype(np.float32) for i in range(6)]
    abs_ = [rng.uniform(-1, 1, (2, 5, 4)).astype(np.float32) for _ in range(6)]
    want = [compose(L, ab, compiled=False) for L, ab in zip(Ls, abs_, strict=True)]
    with ThreadPoolExecutor(3) as pool:
        got = list(pool.map(lambda i: compose(Ls[i], abs_[i]), range(6)))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("accelerated, want", [(False, 2), (True, 1)])
def test_runner_overlaps_two_model_calls_on_a_cpu(tmp_path, accelerated, want):
    """On a CPU two single-threaded model calls run side by side; a GPU gets one batch at a time."""
    import threading
    import time

    from colorize_cli.jobs import plan_jobs
    from colorize_cli.runner import RunOptions, run_jobs

    src = tmp_path / "in"
    src.mkdir()
    for i in range(8):
        make_photo(48, 32, seed=i, mode="L").save(src / f"p{i}.png")
    backend = ConstantBackend()
    backend.accelerated = accelerated
    state = {"now": 0, "max": 0}
    lock = threading.Lock()
    real_predict = backend.predict

    def slow_predict(L):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return real_predict(L)

    backend.predict = slow_predict
    jobs, _ = plan_jobs([src], tmp_path / "out")
    summary = run_jobs(jobs, backend, RunOptions(batch_size=1, workers=2))
    assert summary.done == 8 and len(list((tmp_path / "out").iterdir())) == 8
    assert state["max"] == want


def test_a_failing_model_call_fails_its_photos_not_the_run(tmp_path):
    from colorize_cli.jobs import plan_jobs
    from colorize_cli.runner import RunOptions, run_jobs

    src = tmp_path / "in"
    src.mkdir()
    for i in range(6):
        make_photo(40 + 32 * (i % 2), 32, seed=i, mode="L").save(src / f"p{i}.png")  # two input shapes
    backend = ConstantBackend()
    real_predict = backend.predict

    def predict(L):
        if L.shape[-1] == 64:  # the wider photos' network shape
            raise RuntimeError("out of memory in the engine")
        return real_predict(L)

    backend.predict = predict
    results = []
    jobs, _ = plan_jobs([src], tmp_path / "out")
    summary = run_jobs(jobs, backend, RunOptions(batch_size=1), on_result=results.append)
    assert (summary.done, summary.failed) == (3, 3)
    assert all("out of memory in the engine" in r.error for r in results if r.status == "failed")
    wide_ones = {f"p{i}.png" for i in range(6) if inference_shape(32, 40 + 32 * (i % 2), 64, 32)[1] == 64}
    assert len(wide_ones) == 3
    assert {p.name for p in (tmp_path / "out").iterdir()} == {f"p{i}.png" for i in range(6)} - wide_ones


@pytest.mark.parametrize("workers, model_calls", [(1, 2), (2, 2), (2, 1), (3, 2)])
def test_photos_bigger_than_half_the_pixel_budget_never_hang(tmp_path, workers, model_calls):
    """Budget for one photo at a time: decoders are served in job order, and finished model calls
    reach the writers (who give the budget back) while the runner waits for the next decode."""
    import faulthandler
    import time

    from colorize_cli.jobs import plan_jobs
    from colorize_cli.runner import RunOptions, run_jobs

    src = tmp_path / "in"
    src.mkdir()
    for i in range(6):
        make_photo(100, 100, seed=i, mode="L").save(src / f"p{i}.png")  # 10,000 pixels each
    backend = ConstantBackend()
    real_predict = backend.predict
    backend.predict = lambda L: (time.sleep(0.05), real_predict(L))[1]  # slow model: calls overlap
    jobs, _ = plan_jobs([src], tmp_path / "out")
    faulthandler.dump_traceback_later(60, exit=True)  # a hang fails loudly instead of stalling CI
    try:
        options = RunOptions(workers=workers, model_calls=model_calls, pixel_budget=15_000, batch_size=1)
        summary = run_jobs(jobs, backend, options)
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert (summary.done, summary.failed) == (6, 0)


def test_a_resumed_run_counts_only_the_photos_left_to_do(tmp_path):
    from colorize_cli.batch import plan_batch
    from colorize_cli.runner import RunOptions

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for i in range(16):
        Image.new("L", (64, 64), 128).save(src / f"p{i}.png")
        if i >= 2:
            (out / f"p{i}.png").write_bytes(b"done before")
    assert plan_batch([src], out).todo == 2
    assert plan_batch([src], out, options=RunOptions(overwrite=True)).todo == 16


def test_a_model_failure_fails_its_photos_with_the_exception_named(tmp_path):
    from colorize_cli.jobs import plan_jobs
    from colorize_cli.runner import run_jobs

    make_photo(40, 30, 1, "L").save(tmp_path / "p.png")
    backend = ConstantBackend()

    def broken(L):
        raise RuntimeError("the engine fell over")

    backend.predict = broken
    results = []
    jobs, _ = plan_jobs([tmp_path / "p.png"], tmp_path / "out")
    summary = run_jobs(jobs, backend, on_result=results.append)
    assert summary.failed == 1 and results[0].error == "RuntimeError: the engine fell over"
