"""Archive-grade outputs: input triage (gray / toned / colour), --color-inputs, --saturation and
the fixity hashes of the report."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from colorize_cli import lab
from colorize_cli.cli import main
from colorize_cli.imagefile import decode_image
from colorize_cli.triage import classify_rgb
from tests.conftest import make_photo


def _gray(seed: int = 1, size: tuple[int, int] = (96, 72)) -> np.ndarray:
    """L* in [5, 98] of a photo-like gray image."""
    g = np.asarray(make_photo(*size, seed=seed, mode="L"), np.float32) / 255.0
    return lab.luminance_to_l(lab.srgb_to_linear(g)) * 0.93 + 5.0


def _from_lab(L: np.ndarray, a: np.ndarray, b: np.ndarray) -> Image.Image:
    rgb = lab.lab_to_rgb(np.stack([L, a, b], -1).astype(np.float32))
    return Image.fromarray((rgb * 255 + 0.5).astype(np.uint8), "RGB")


def _toned(hue_deg: float, chroma: float) -> Image.Image:
    """A one-hue print: chroma peaking in the midtones, as toning does."""
    L = _gray(2)
    c = chroma * np.sin(np.pi * L / 100.0)
    h = np.radians(hue_deg)
    return _from_lab(L, c * np.cos(h), c * np.sin(h))


def _hand_tinted() -> Image.Image:
    """A gray print with a red, a green and a blue area painted on."""
    L = _gray(3)
    a, b = np.zeros_like(L), np.zeros_like(L)
    a[:24, :32], b[:24, :32] = 35.0, 20.0  # cheeks
    a[24:48, 32:64], b[24:48, 32:64] = -30.0, 25.0  # foliage
    a[48:, 64:], b[48:, 64:] = 5.0, -35.0  # sky
    return _from_lab(L, a, b)


SAMPLES = {
    "gray": lambda: Image.fromarray(np.asarray(make_photo(96, 72, 1, "L"))).convert("RGB"),
    "sepia": lambda: _toned(70.0, 18.0),
    "selenium": lambda: _toned(10.0, 8.0),
    "cyanotype": lambda: _toned(-95.0, 35.0),
    "hand-tinted": _hand_tinted,
    "colour photo": lambda: make_photo(96, 72, 5, "RGB"),
}
WANT = {"gray": "gray", "sepia": "toned", "selenium": "toned", "cyanotype": "toned",
        "hand-tinted": "color", "colour photo": "color"}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_triage_tells_gray_toned_and_colour_apart(tmp_path, name):
    image = SAMPLES[name]()
    assert classify_rgb(np.asarray(image)) == WANT[name]
    image.save(tmp_path / "x.jpg", quality=85)  # JPEG's chroma noise and subsampling must not change it
    assert decode_image(tmp_path / "x.jpg").kind == WANT[name]


def test_gray_files_are_gray_without_looking_at_chroma(tmp_path):
    make_photo(40, 30, 1, "L").save(tmp_path / "g.png")
    Image.fromarray((np.arange(1200).reshape(30, 40) * 50).astype(np.uint16)).save(tmp_path / "g16.png")
    assert decode_image(tmp_path / "g.png").kind == "gray" and decode_image(tmp_path / "g16.png").kind == "gray"


@pytest.fixture()
def mixed_dir(tmp_path) -> Path:
    root = tmp_path / "mixed"
    root.mkdir()
    SAMPLES["gray"]().save(root / "gray.jpg", quality=95)
    SAMPLES["sepia"]().save(root / "sepia.jpg", quality=95)
    SAMPLES["colour photo"]().save(root / "colour.jpg", quality=95)
    SAMPLES["hand-tinted"]().save(root / "tinted.png")
    return root


def _run(args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _records(path: Path) -> dict[str, dict]:
    return {Path(r["input"]).name: r for r in map(json.loads, path.read_text().splitlines())}


@pytest.mark.parametrize("policy", ["colorize", "skip", "copy"])
def test_color_inputs_policy(mixed_dir, tmp_path, tiny_models, policy):
    out, report = tmp_path / "out", tmp_path / "r.jsonl"
    result = _run([mixed_dir, "-o", out, "--model", tiny_models["onnx"], "--color-inputs", policy, "--report", report])
    assert result.exit_code == 0, result.output
    records = _records(report)
    assert {n: r["input_kind"] for n, r in records.items()} == {
        "gray.jpg": "gray", "sepia.jpg": "toned", "colour.jpg": "color", "tinted.png": "color"}
    assert "inputs: 1 gray, 1 toned, 2 color" in result.output
    for name in ("gray.jpg", "sepia.jpg"):  # black-and-white prints are always colorized
        assert records[name]["status"] == "ok" and (out / name).is_file()
    for name in ("colour.jpg", "tinted.png"):
        if policy == "skip":
            assert records[name]["status"] == "skipped" and not (out / name).exists()
            assert "colour input" in records[name]["notes"][0]
        elif policy == "copy":
            assert records[name]["status"] == "ok"
            assert (out / name).read_bytes() == (mixed_dir / name).read_bytes()  # the original, as it is
        else:
            assert records[name]["status"] == "ok"
            assert (out / name).read_bytes() != (mixed_dir / name).read_bytes()


def test_color_inputs_copy_into_another_format_keeps_the_pixels(mixed_dir, tmp_path, tiny_models):
    out = tmp_path / "out"
    result = _run([mixed_dir / "tinted.png", "-o", out, "--model", tiny_models["onnx"], "--color-inputs", "copy",
                   "--format", "tiff"])
    assert result.exit_code == 0, result.output
    with Image.open(out / "tinted.tif") as got, Image.open(mixed_dir / "tinted.png") as want:
        np.testing.assert_array_equal(np.asarray(got.convert("RGB")), np.asarray(want.convert("RGB")))


def test_saturation_zero_is_gray_and_one_is_todays_bytes(photo_dir, tmp_path, tiny_models):
    model = ["--model", tiny_models["onnx"]]
    assert _run([photo_dir, "-o", tmp_path / "default", *model]).exit_code == 0
    assert _run([photo_dir, "-o", tmp_path / "one", *model, "--saturation", "1"]).exit_code == 0
    assert _run([photo_dir, "-o", tmp_path / "zero", *model, "--saturation", "0"]).exit_code == 0
    assert _run([photo_dir, "-o", tmp_path / "more", *model, "--saturation", "1.8"]).exit_code == 0
    assert _run([photo_dir, "-o", tmp_path / "half", *model, "--saturation", "0.5"]).exit_code == 0
    for name in ("b.png", "sub/deeper/d.tif"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "default" / name).read_bytes()
        gray = np.asarray(Image.open(tmp_path / "zero" / name).convert("RGB")).astype(int)
        assert (gray.max(-1) - gray.min(-1)).max() == 0  # R = G = B everywhere
        chroma = {}
        for run in ("default", "more", "half"):
            rgb = np.asarray(Image.open(tmp_path / run / name).convert("RGB"), np.float32) / 255.0
            chroma[run] = np.hypot(*np.moveaxis(lab.rgb_to_lab(rgb)[..., 1:], -1, 0)).mean()
        # Half the a*b* is half the chroma; more is more, up to what the gamut holds at each L*.
        assert chroma["half"] == pytest.approx(0.5 * chroma["default"], rel=0.15)
        assert chroma["more"] > 1.05 * chroma["default"] > 0
    assert _run([photo_dir, "-o", tmp_path / "bad", *model, "--saturation", "2.5"]).exit_code == 2


def test_saturation_in_the_api(photo_dir, tiny_models):
    from colorize_cli import colorize_image, open_backend

    backend = open_backend("onnx", tiny_models["onnx"])
    gray = np.asarray(colorize_image(photo_dir / "a.jpg", backend=backend, saturation=0.0)).astype(int)
    assert (gray.max(-1) - gray.min(-1)).max() == 0
    with pytest.raises(ValueError, match="saturation"):
        colorize_image(photo_dir / "a.jpg", backend=backend, saturation=3.0)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_report_records_carry_fixity_hashes(mixed_dir, tmp_path, tiny_models):
    out, report = tmp_path / "out", tmp_path / "r.jsonl"
    result = _run([mixed_dir, "-o", out, "--model", tiny_models["onnx"], "--color-inputs", "copy", "--report", report])
    assert result.exit_code == 0, result.output
    for name, rec in _records(report).items():
        assert rec["input_sha256"] == _sha(mixed_dir / name)
        assert rec["output_sha256"] == _sha(out / name)
        if rec["input_kind"] != "color":  # colorized: the model is part of the provenance
            assert rec["model_sha256"] == _sha(Path(tiny_models["onnx"]))
    # The API with a report: the same fields.
    from colorize_cli import colorize_paths, open_backend

    api_report = tmp_path / "api.jsonl"
    colorize_paths([mixed_dir], tmp_path / "api", backend=open_backend("onnx", tiny_models["onnx"]), report=api_report)
    assert all("output_sha256" in r and "input_sha256" in r for r in _records(api_report).values())


def _exiftool(paths: list[Path]) -> list[dict]:
    import shutil
    import subprocess

    exiftool = shutil.which("exiftool")
    if exiftool is None:
        pytest.skip("exiftool (Debian: libimage-exiftool-perl) is not installed; .ci/run installs it")
    tags = ["-XMP-iptcExt:DigitalSourceType", "-XMP-xmp:CreatorTool", "-XMP-xmpMM:HistoryParameters",
            "-XMP-xmpMM:HistorySoftwareAgent"]
    out = subprocess.run([exiftool, "-j", *tags, *map(str, paths)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


@pytest.mark.parametrize("fmt", ["jpg", "png", "tiff", "webp"])
@pytest.mark.parametrize("depth", [8, 16])
def test_every_output_says_it_was_colorized_and_how(tmp_path, tiny_models, fmt, depth):
    """An independent reader (exiftool) finds IPTC's digital source type, the tool, and the model
    with its weights' hash, the inference size and the saturation."""
    if depth == 16 and fmt in ("jpg", "webp"):
        pytest.skip("8-bit formats")
    from colorize_cli import __version__
    from colorize_cli.provenance import DIGITAL_SOURCE_TYPE

    src = tmp_path / "in"
    src.mkdir()
    gray = np.asarray(make_photo(48, 32, 3, "L"))
    Image.fromarray(gray.astype(np.uint16) * 257 if depth == 16 else gray).save(src / "p.png")
    out = tmp_path / "out"
    args = [src, "-o", out, "--model", tiny_models["onnx"], "--format", fmt, "--saturation", "0.8", "--size", "64"]
    assert _run(args).exit_code == 0
    (written,) = [p for p in out.iterdir()]
    tags = _exiftool([written])[0]
    assert tags["DigitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert tags["CreatorTool"] == tags["HistorySoftwareAgent"] == f"colorize-cli {__version__}"
    params = tags["HistoryParameters"]
    assert _sha(Path(tiny_models["onnx"])) in params and "tiny.onnx" in params
    assert "inference size 64" in params and "saturation 0.8" in params
    assert _run([*args, "--overwrite", "--no-provenance"]).exit_code == 0
    assert "DigitalSourceType" not in _exiftool([written])[0]


def test_no_provenance_is_flagged_in_the_help():
    result = _run(["colorize", "--help"])
    assert "--no-provenance" in result.output and "looks like an original" in result.output


@pytest.mark.parametrize("fmt", ["jpg", "png", "tiff", "webp"])
def test_the_inputs_caption_creator_rights_and_date_reach_every_format(tmp_path, tiny_models, fmt):
    """The cataloguer's XMP and IPTC, written into the input by exiftool, are read back from the
    output by exiftool, beside the provenance."""
    import shutil
    import subprocess

    pytest.importorskip("pyexiv2", exc_type=ImportError)
    if shutil.which("exiftool") is None:
        pytest.skip("exiftool (Debian: libimage-exiftool-perl) is not installed; .ci/run installs it")
    src = tmp_path / "in"
    src.mkdir()
    make_photo(48, 32, 2, "L").save(src / "p.jpg", quality=90)
    fields = {"XMP-dc:Description": "Picnic at the river, 1921", "XMP-dc:Creator": "Jane Doe",
              "XMP-dc:Rights": "(c) 1921 J. Doe", "XMP-photoshop:DateCreated": "1921:05:04",
              "IPTC:City": "Lyon", "IPTC:Keywords": "family"}
    subprocess.run(["exiftool", "-q", "-overwrite_original", *(f"-{k}={v}" for k, v in fields.items()),
                    str(src / "p.jpg")], check=True)
    out = tmp_path / "out"
    assert _run([src, "-o", out, "--model", tiny_models["onnx"], "--format", fmt]).exit_code == 0
    (written,) = list(out.iterdir())
    got = json.loads(subprocess.run(["exiftool", "-j", "-G1", "-a", str(written)], capture_output=True, text=True,
                                    check=True).stdout)[0]
    assert got["XMP-dc:Description"] == fields["XMP-dc:Description"]
    assert got["XMP-dc:Creator"] == fields["XMP-dc:Creator"]
    assert got["XMP-dc:Rights"] == fields["XMP-dc:Rights"]
    assert str(got["XMP-photoshop:DateCreated"]).startswith("1921:05:04")
    assert got["XMP-photoshop:City"] == "Lyon"  # an IPTC-only field, kept in XMP for every format
    assert got["XMP-iptcExt:DigitalSourceType"].endswith("compositeWithTrainedAlgorithmicMedia")
    if fmt in ("jpg", "tiff"):
        assert got["IPTC:City"] == "Lyon" and got["IPTC:Keywords"] == "family"


@pytest.mark.parametrize("fmt", ["jpg", "png", "tiff", "webp"])
def test_c2pa_sign_embeds_a_manifest_a_reader_validates(tmp_path, tiny_models, fmt):
    c2pa = pytest.importorskip("c2pa", exc_type=ImportError)
    pytest.importorskip("cryptography", exc_type=ImportError)
    from colorize_cli.provenance import DIGITAL_SOURCE_TYPE
    from tests.c2pa_certs import make_signing_chain

    certs, key = make_signing_chain(tmp_path)
    src = tmp_path / "in"
    src.mkdir()
    make_photo(64, 48, 4, "L").save(src / "p.jpg", quality=90)
    out = tmp_path / "out"
    args = [src, "-o", out, "--model", tiny_models["onnx"], "--format", fmt, "--c2pa-sign", certs, key]
    result = _run(args)
    assert result.exit_code == 0, result.output
    (written,) = list(out.iterdir())
    mime = {"jpg": "image/jpeg", "png": "image/png", "tiff": "image/tiff", "webp": "image/webp"}[fmt]
    with open(written, "rb") as fh:
        store = json.loads(c2pa.Reader(mime, fh).json())
    assert store["validation_state"] in ("Valid", "Trusted")
    # The only complaint allowed: our test root is in nobody's trust list.
    assert {s["code"] for s in store.get("validation_status", [])} <= {"signingCredential.untrusted"}
    manifest = store["manifests"][store["active_manifest"]]
    actions = next(a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.edited"]
    assert actions[1]["digitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert actions[1]["parameters"]["ingredient_sha256"] == _sha(src / "p.jpg")
    assert actions[1]["parameters"]["model_sha256"] == _sha(Path(tiny_models["onnx"]))
    assert [i["title"] for i in manifest["ingredients"]] == ["p.jpg"]
    assert _exiftool([written])[0]["DigitalSourceType"] == DIGITAL_SOURCE_TYPE  # the XMP survives signing


def test_c2pa_sign_without_the_bindings_names_the_extra(tmp_path, tiny_models, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "c2pa", None)
    (tmp_path / "c.pem").write_text("x")
    (tmp_path / "k.pem").write_text("x")
    make_photo(32, 32, 1, "L").save(tmp_path / "p.png")
    result = _run([tmp_path / "p.png", "-o", tmp_path / "o", "--model", tiny_models["onnx"],
                   "--c2pa-sign", tmp_path / "c.pem", tmp_path / "k.pem"])
    assert result.exit_code == 2 and "colorize-cli[c2pa]" in result.output


def test_output_flags_measure_colourfulness_and_the_out_of_gamut_share():
    from colorize_cli.triage import output_flags

    L = np.full((10, 20), 50.0, np.float32)
    ab = np.zeros((10, 20, 2), np.float32)
    ab[:, :10, 0] = 100.0  # a* = 100 at L* 50: far outside sRGB, for half of the pixels
    gray = np.full((10, 20, 3), 119, np.uint8)
    flags = output_flags(gray, L, ab)
    assert flags["gamut_reduced"] == pytest.approx(0.5) and flags["colorfulness"] == 0.0
    vivid = np.zeros((10, 20, 3), np.uint8)
    vivid[:, :10] = (220, 30, 30)
    vivid[:, 10:] = (30, 30, 220)
    assert output_flags(vivid, L, np.zeros_like(ab)) == {"colorfulness": pytest.approx(output_flags(vivid, L, ab)["colorfulness"]),
                                                          "gamut_reduced": 0.0}
    assert output_flags(vivid, L, ab)["colorfulness"] > 50


def test_color_inputs_copy_mirrors_nested_folders_and_keeps_exif_across_formats(tmp_path, tiny_models):
    src = tmp_path / "in" / "a" / "b"
    src.mkdir(parents=True)
    exif = Image.Exif()
    exif[0x0132] = "1921:05:04 10:00:00"
    SAMPLES["colour photo"]().save(src / "c.jpg", quality=95, exif=exif.tobytes())
    out = tmp_path / "out"
    result = _run([tmp_path / "in", "-o", out, "--model", tiny_models["onnx"], "--color-inputs", "copy",
                   "--format", "png"])
    assert result.exit_code == 0, result.output
    with Image.open(out / "a" / "b" / "c.png") as im:
        assert im.getexif().get(0x0132) == "1921:05:04 10:00:00"


def test_the_xmp_packet_is_well_formed_xml_whatever_the_names_hold():
    """Tool and model names with XML's special characters reach the packet escaped, and read back."""
    import xml.etree.ElementTree as ET

    from colorize_cli.provenance import DIGITAL_SOURCE_TYPE, Provenance

    tool, model = 'colorize-cli "1.0" <dev> & co', "a&b <c>\n\"d\".onnx"
    packet = Provenance(tool=tool, model=model, model_sha256="ab" * 32, inference_size=192, saturation=1.0).xmp()
    root = ET.fromstring(packet.decode("utf-8").split("?>", 1)[1].rsplit("<?xpacket", 1)[0])
    ns = {"rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "stEvt": "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"}
    desc = root.find(".//rdf:Description", ns)
    assert desc.get("{http://ns.adobe.com/xap/1.0/}CreatorTool") == tool
    assert desc.get("{http://iptc.org/std/Iptc4xmpExt/2008-02-29/}DigitalSourceType") == DIGITAL_SOURCE_TYPE
    assert root.find(".//stEvt:softwareAgent", ns).text == tool
    assert f"model {model} " in root.find(".//stEvt:parameters", ns).text
