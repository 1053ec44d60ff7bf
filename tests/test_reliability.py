"""Reliability (issue 6): hostile inputs, interrupts and resume, disk faults, sharding, safety.

Every test drives the real CLI (a subprocess, or Click's runner where a fault must be injected)
and checks what a batch user relies on: each bad file fails alone with a one-line reason, good
files are all colorized, exit codes are right, the report lists every file, no temporary or
partial file is left, and input files are never modified. The slow ones (100 MP, 10,000 files)
live in test_reliability_slow.py.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorize_cli.fsutil import TMP_PREFIX, temp_path_for
from tests.conftest import make_photo

# --- helpers ---------------------------------------------------------------------------------------


def cli_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "colorize_cli", *map(str, args)]


def run_cli(*args, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_COLOR="1", COLUMNS="200")
    return subprocess.run(
        cli_cmd(*args), cwd=cwd, capture_output=True, timeout=timeout, env=env,
        stdin=subprocess.DEVNULL,
    )


def text(b: bytes) -> str:
    return b.decode("utf-8", errors="replace")


def read_report(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root``: sha256 of regular files, the target of symlinks."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_file():
                out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest())
            else:
                out[rel] = ("dir",)
    return out


def leftover_temps(root: Path) -> list[Path]:
    return [Path(d, n) for d, _, names in os.walk(root) for n in names if n.startswith(TMP_PREFIX)]


def decodes_fully(path: Path) -> bool:
    with Image.open(path) as im:
        im.load()
    return True


def png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width x height`` 8-bit gray pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def png_bit_depth(path: Path) -> int:
    return path.read_bytes()[24]


# --- the hostile corpus ----------------------------------------------------------------------------

ODD_NAMES = ["with space.png", "ünïcødé 写真.png", "-dash.png", "quo'te\"s.png", "new\nline.png", "caf\udce9.png"]


def build_corpus(root: Path) -> tuple[set[str], dict[str, str]]:
    """Write the corpus; return (names expected ok, {name expected to fail: word in its reason})."""
    root.mkdir(parents=True)
    good: set[str] = set()
    bad: dict[str, str] = {}

    def save(name: str, im: Image.Image, **kw) -> None:
        im.save(root / name, **kw)
        good.add(name)

    buf = io.BytesIO()
    make_photo(64, 48, 1, "L").save(buf, "JPEG", quality=90)
    jpg = buf.getvalue()
    buf = io.BytesIO()
    make_photo(64, 48, 2, "L").save(buf, "PNG")
    png = buf.getvalue()
    (root / "zero.jpg").write_bytes(b"")
    bad["zero.jpg"] = "empty"
    (root / "truncated.jpg").write_bytes(jpg[: len(jpg) // 2])
    bad["truncated.jpg"] = "truncated"
    (root / "truncated.png").write_bytes(png[: len(png) // 2])
    bad["truncated.png"] = "truncated"
    (root / "random.jpg").write_bytes(np.random.default_rng(0).bytes(5000))
    bad["random.jpg"] = "not an image"
    (root / "text.png").write_text("hello, I am not a PNG\n")
    bad["text.png"] = "not an image"
    (root / "bomb.png").write_bytes(bomb_png(60000, 60000))
    bad["bomb.png"] = "max-pixels"

    save("plain.jpg", make_photo(64, 48, 3, "L"), quality=90)
    save("cmyk.jpg", make_photo(40, 30, 4, "CMYK"), quality=90)
    g16 = np.linspace(0, 65535, 48 * 64).reshape(48, 64).astype(np.uint16)
    save("gray16.png", Image.fromarray(g16))
    save("gray16.tif", Image.fromarray(g16))
    save("la.png", make_photo(40, 30, 5, "LA"))
    save("p_trans.png", make_photo(40, 30, 6, "L").convert("P"), transparency=0)
    frames = [make_photo(32, 24, 10 + i, "L") for i in range(3)]
    save("multi.tif", frames[0], save_all=True, append_images=frames[1:])
    save("one_pixel.png", Image.new("L", (1, 1), 128))
    save("thin.png", make_photo(10000, 3, 7, "L"))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display: stored 60x40, shown 40x60
    save("rotated.jpg", make_photo(60, 40, 8, "L"), exif=exif.tobytes(), quality=90)
    save("bad_exif.jpg", make_photo(30, 20, 9, "L"), exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7f" + b"\x01" * 40)
    for name in ODD_NAMES:
        save(name, make_photo(20, 16, 11, "L"))
    os.symlink("plain.jpg", root / "link.jpg")
    good.add("link.jpg")
    os.symlink("loop.png", root / "loop.png")
    bad["loop.png"] = "symbolic links"
    os.symlink("missing.png", root / "dangling.png")
    bad["dangling.png"] = "not found"
    (root / "empty_dir").mkdir()
    os.symlink(".", root / "dir_loop")  # a folder symlink loop: never followed
    return good, bad


def test_hostile_corpus_in_one_batch(tiny_models, tmp_path):
    src = tmp_path / "in"
    good, bad = build_corpus(src)
    before = snapshot(src)
    out, report = tmp_path / "out", tmp_path / "run.jsonl"

    proc = run_cli(src, "-o", out, "--backend", "onnx", "--model", tiny_models["onnx"], "--report", report,
                   cwd=tmp_path)
    err = text(proc.stderr)

    assert proc.returncode == 1, err
    assert "Traceback" not in err
    assert "Warning" not in err  # Pillow's warnings about odd EXIF stay out of the log
    # the report lists every file exactly once, with the right status
    records = {Path(r["input"]).name: r for r in read_report(report)}
    assert set(records) == good | set(bad)
    assert len(read_report(report)) == len(good) + len(bad)
    for name in good:
        assert records[name]["status"] == "ok", records[name]
    for name, word in bad.items():
        rec = records[name]
        assert rec["status"] == "failed" and word in rec["error"], rec
        assert "\n" not in rec["error"]
        # one log line per failure, naming the file
        assert any(line.startswith("FAILED") and name in line and word in line for line in err.splitlines()), name
    # every good file has a complete output under -o, and none is a symlink
    for name in good:
        o = out / name
        assert o.is_file() and not o.is_symlink(), name
        assert decodes_fully(o)
    for name in bad:
        assert not os.path.lexists(out / name)
    # what the odd cases must look like
    with Image.open(out / "rotated.jpg") as im:
        assert im.size == (40, 60)  # orientation applied to the pixels...
        assert im.getexif().get(0x0112, 1) == 1  # ...and reset in the EXIF
    with Image.open(out / "thin.png") as im:
        assert im.size == (10000, 3) and im.mode == "RGB"
    with Image.open(out / "one_pixel.png") as im:
        assert im.size == (1, 1)
    with Image.open(out / "la.png") as im:
        assert im.mode == "RGBA"
    with Image.open(out / "p_trans.png") as im:
        assert im.mode == "RGBA"
    with Image.open(out / "cmyk.jpg") as im:
        assert im.mode == "RGB" and im.size == (40, 30)
    assert png_bit_depth(out / "gray16.png") == 16
    assert "multi-frame" in " ".join(records["multi.tif"].get("notes", []))
    assert "new\\nline.png" in err  # the newline is escaped: the log stays one line per file
    # nothing temporary anywhere, inputs byte-for-byte unchanged
    assert leftover_temps(tmp_path) == []
    assert snapshot(src) == before


def test_max_pixels_is_configurable(tiny_models, tmp_path):
    from colorize_cli.imagefile import DEFAULT_MAX_PIXELS

    assert DEFAULT_MAX_PIXELS >= 100_000_000  # a 100 MP scan passes by default
    src = tmp_path / "in"
    src.mkdir()
    make_photo(64, 48, 1, "L").save(src / "big.png")  # 3072 px
    make_photo(30, 30, 2, "L").save(src / "small.png")  # 900 px
    out = tmp_path / "out"
    proc = run_cli(src, "-o", out, "--backend", "onnx", "--model", tiny_models["onnx"], "--max-pixels", 1000,
                   cwd=tmp_path)
    err = text(proc.stderr)
    assert proc.returncode == 1
    assert "FAILED" in err and "big.png" in err and "max-pixels" in err
    assert (out / "small.png").is_file() and not (out / "big.png").exists()


def test_explicit_gif_is_a_clear_per_file_error_or_converted(tiny_models, tmp_path):
    frames = [make_photo(30, 20, i, "L").convert("P") for i in range(3)]
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    good = tmp_path / "good.png"
    make_photo(30, 20, 5, "L").save(good)
    model = tiny_models["onnx"]

    proc = run_cli(gif, good, "-o", tmp_path / "out", "--backend", "onnx", "--model", model, cwd=tmp_path)
    err = text(proc.stderr)
    assert proc.returncode == 1 and "Traceback" not in err
    assert any(line.startswith("FAILED") and "anim.gif" in line for line in err.splitlines())
    assert (tmp_path / "out" / "good.png").is_file()

    proc = run_cli(gif, "-o", tmp_path / "out2", "--format", "png", "--backend", "onnx", "--model", model,
                   cwd=tmp_path)
    assert proc.returncode == 0, text(proc.stderr)
    assert "frame 1 of 3" in text(proc.stderr)
    with Image.open(tmp_path / "out2" / "anim.png") as im:
        assert im.size == (30, 20)


def test_empty_folder_is_a_warning_not_an_error(tiny_models, tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_cli(tmp_path / "empty", "-o", tmp_path / "out", "--backend", "onnx", "--model", tiny_models["onnx"],
                   cwd=tmp_path)
    assert proc.returncode == 0
    assert "no images found" in text(proc.stderr)


def test_output_nested_in_input_is_never_colorized_again(tiny_models, tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    for i in range(3):
        make_photo(32, 24, i, "L").save(src / f"p{i}.jpg")
    make_photo(32, 24, 9, "L").save(src / "sub" / "q.png")
    out = src / "colored"
    args = (src, "-o", out, "--backend", "onnx", "--model", tiny_models["onnx"])
    first = run_cli(*args, "--report", tmp_path / "r1.jsonl", cwd=tmp_path)
    assert first.returncode == 0, text(first.stderr)
    second = run_cli(*args, "--report", tmp_path / "r2.jsonl", cwd=tmp_path)
    assert second.returncode == 0
    r1, r2 = read_report(tmp_path / "r1.jsonl"), read_report(tmp_path / "r2.jsonl")
    assert len(r1) == len(r2) == 4
    assert all("colored" not in Path(r["input"]).parts for r in r1 + r2)
    assert [r["status"] for r in r2] == ["skipped"] * 4
    assert not (out / "colored").exists()


def test_same_output_from_two_inputs_is_refused_before_any_work(tiny_models, tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        make_photo(20, 20, ord(d), "L").save(tmp_path / d / "x.png")
    out = tmp_path / "out"
    model = tiny_models["onnx"]
    proc = run_cli(tmp_path / "a" / "x.png", tmp_path / "b" / "x.png", "-o", out, "--backend", "onnx",
                   "--model", model, cwd=tmp_path)
    assert proc.returncode == 2
    assert "same output" in text(proc.stderr)
    assert not out.exists() or not any(out.iterdir())

    # photo.jpg and photo.png both become photo.png with --format png
    make_photo(20, 20, 1, "L").save(tmp_path / "a" / "x.jpg")
    proc = run_cli(tmp_path / "a", "-o", out, "--format", "png", "--backend", "onnx", "--model", model,
                   cwd=tmp_path)
    assert proc.returncode == 2 and "same output" in text(proc.stderr)
    assert not out.exists() or not any(out.iterdir())

    # -o equal to the input folder would overwrite the inputs
    proc = run_cli(tmp_path / "a", "-o", tmp_path / "a", "--backend", "onnx", "--model", model, cwd=tmp_path)
    assert proc.returncode == 2


def test_symlinks_never_cause_writes_outside_the_output_folder(tiny_models, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    make_photo(24, 24, 1, "L").save(outside / "victim.png")
    (outside / "deep").mkdir()
    make_photo(24, 24, 2, "L").save(outside / "deep" / "other.png")
    src = tmp_path / "in"
    src.mkdir()
    make_photo(24, 24, 3, "L").save(src / "own.png")
    os.symlink(outside / "victim.png", src / "victim.png")  # a symlinked file: read, output is a new file
    os.symlink(outside, src / "linked_dir")  # a symlinked folder: not walked
    os.symlink("../../outside", src / "up")
    out = tmp_path / "out"
    out.mkdir()
    # a symlink already in -o pointing outside: skipped by default, replaced (not followed) on --overwrite
    os.symlink(outside / "deep" / "other.png", out / "own.png")
    before_outside = snapshot(outside)

    model = tiny_models["onnx"]
    proc = run_cli(src, "-o", out, "--backend", "onnx", "--model", model, "--report", tmp_path / "r.jsonl",
                   cwd=tmp_path)
    assert proc.returncode == 0, text(proc.stderr)
    proc = run_cli(src, "-o", out, "--backend", "onnx", "--model", model, "--overwrite", cwd=tmp_path)
    assert proc.returncode == 0, text(proc.stderr)

    assert snapshot(outside) == before_outside
    out_real = os.path.realpath(out)
    for dirpath, _, names in os.walk(out):
        for n in names:
            p = Path(dirpath, n)
            assert not p.is_symlink() and os.path.realpath(p).startswith(out_real + os.sep)
    assert {p.name for p in out.iterdir()} == {"own.png", "victim.png"}


# --- interrupts and resume -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder_200(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("two_hundred")
    for i in range(200):
        make_photo(320, 240, i, "L").save(root / f"p{i:03d}.jpg", quality=85)
    return root


@pytest.mark.parametrize(("sig", "code", "word"), [(signal.SIGINT, 130, "Interrupted"),
                                                   (signal.SIGTERM, 143, "Terminated")])
def test_interrupt_then_resume(tiny_models, folder_200, tmp_path, sig, code, word):
    out = tmp_path / "out"
    args = (folder_200, "-o", out, "--backend", "onnx", "--model", tiny_models["onnx"], "--batch-size", 1)
    env = dict(os.environ, NO_COLOR="1")
    proc = subprocess.Popen(cli_cmd(*args), cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, env=env)
    oks = 0
    lines = []
    deadline = time.monotonic() + 60
    for raw in proc.stderr:
        lines.append(text(raw))
        oks += raw.startswith(b"ok ")
        if oks >= 5 or time.monotonic() > deadline:
            break
    proc.send_signal(sig)
    rest = proc.stderr.read()
    rc = proc.wait(timeout=60)
    err = "".join(lines) + text(rest)
    assert rc == code, err
    assert word in err and "Traceback" not in err
    assert leftover_temps(tmp_path) == []
    done = sorted(p.name for p in out.iterdir())
    assert 5 <= len(done) < 200, "the run should have been stopped mid-way"
    for name in done:
        assert decodes_fully(out / name)

    report = tmp_path / "resume.jsonl"
    proc2 = run_cli(*args, "--report", report, cwd=tmp_path)
    assert proc2.returncode == 0, text(proc2.stderr)
    statuses = [r["status"] for r in read_report(report)]
    assert statuses.count("skipped") == len(done)
    assert statuses.count("ok") == 200 - len(done)
    assert len(list(out.iterdir())) == 200
    assert leftover_temps(tmp_path) == []


def test_orphan_temps_of_dead_writers_are_cleaned_at_start(tiny_models, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    make_photo(24, 24, 1, "L").save(src / "a.png")
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    # a pid that is certainly dead: a child that has exited and been reaped
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live_tmp = temp_path_for(out / "live.png")  # this (living) process's name pattern
    host_and_rest = live_tmp.name[len(TMP_PREFIX):].split("-", 3)
    host = host_and_rest[0]
    orphan = out / "sub" / f"{TMP_PREFIX}{host}-{dead.pid}-deadbeef-a.png"
    foreign = out / f"{TMP_PREFIX}otherhost-{dead.pid}-deadbeef-b.png"  # another machine's: not ours
    for p in (orphan, foreign, live_tmp):
        p.write_bytes(b"half an image")
    proc = run_cli(src, "-o", out, "--backend", "onnx", "--model", tiny_models["onnx"], cwd=tmp_path)
    assert proc.returncode == 0, text(proc.stderr)
    assert not orphan.exists()
    assert foreign.exists() and live_tmp.exists()
    assert (out / "a.png").is_file()


def test_sigkill_leaves_at_most_recognizable_temps_which_the_next_run_cleans(tiny_models, folder_200, tmp_path):
    out = tmp_path / "out"
    args = (folder_200, "-o", out, "--backend", "onnx", "--model", tiny_models["onnx"])
    proc = subprocess.Popen(cli_cmd(*args), cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    oks = 0
    for raw in proc.stderr:
        oks += raw.startswith(b"ok ")
        if oks >= 3:
            break
    proc.kill()
    proc.wait(timeout=30)
    proc.stderr.close()
    for p in out.iterdir():  # complete outputs, or temporaries with the recognizable prefix
        if p.name.startswith(TMP_PREFIX):
            assert f"-{proc.pid}-" in p.name
        else:
            assert decodes_fully(p)
    rerun = run_cli(*args, cwd=tmp_path)
    assert rerun.returncode == 0, text(rerun.stderr)
    assert leftover_temps(out) == []
    assert len(list(out.iterdir())) == 200


# --- disk and permission faults --------------------------------------------------------------------


def test_disk_full_mid_run(tiny_models, tmp_path, monkeypatch):
    import threading

    from click.testing import CliRunner

    from colorize_cli.cli import main

    src = tmp_path / "in"
    src.mkdir()
    for i in range(8):
        make_photo(40, 30, i, "L").save(src / f"p{i}.png")
    real_save = Image.Image.save
    calls = {"n": 0}
    lock = threading.Lock()

    def full_disk(self, fp, *a, **kw):
        with lock:
            calls["n"] += 1
            n = calls["n"]
        if n <= 3:
            return real_save(self, fp, *a, **kw)
        fp.write(b"\x89PNG partial")  # the disk fills up half-way through this file
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Image.Image, "save", full_disk)
    out, report = tmp_path / "out", tmp_path / "r.jsonl"
    args = [str(src), "-o", str(out), "--backend", "onnx", "--model", str(tiny_models["onnx"]), "--report", str(report)]
    result = CliRunner().invoke(main, args)
    output = result.output  # Click >= 8.2: stdout and stderr interleaved
    assert result.exit_code == 1, output
    assert "No space left on device" in output
    # The run stops at a full disk instead of failing every remaining photo in turn.
    assert "the output disk is full" in output and "run the same command again" in output
    records = read_report(report)
    assert sum(r["status"] == "ok" for r in records) == 3
    failed = [r for r in records if r["status"] == "failed"]
    assert any("No space left" in r["error"] for r in failed)
    assert all("No space left" in r["error"] or "the run was stopped" in r["error"] for r in failed)
    assert calls["n"] < 8  # not every photo was tried against the full disk
    written = sorted(out.iterdir())
    assert len(written) == 3 and all(decodes_fully(p) for p in written)
    assert leftover_temps(tmp_path) == []
    # Space freed: the same command finishes the job, keeping the 3 good outputs.
    monkeypatch.setattr(Image.Image, "save", real_save)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    statuses = [r["status"] for r in read_report(report)]
    assert statuses.count("skipped") == 3 and statuses.count("ok") == 5


def test_unwritable_output_paths(tiny_models, tmp_path):
    """Running as root, chmod does not bite: make the output's parent a regular file instead."""
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    make_photo(24, 24, 1, "L").save(src / "a.png")
    make_photo(24, 24, 2, "L").save(src / "sub" / "b.png")
    model = tiny_models["onnx"]
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")

    proc = run_cli(src, "-o", blocker / "out", "--backend", "onnx", "--model", model, cwd=tmp_path)
    err = text(proc.stderr)
    assert proc.returncode == 2 and "cannot create the output folder" in err and "Traceback" not in err

    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").write_text("a file where the sub-folder should go")
    proc = run_cli(src, "-o", out, "--backend", "onnx", "--model", model, "--report", tmp_path / "r.jsonl",
                   cwd=tmp_path)
    err = text(proc.stderr)
    assert proc.returncode == 1 and "Traceback" not in err
    statuses = {Path(r["input"]).name: r["status"] for r in read_report(tmp_path / "r.jsonl")}
    assert statuses == {"a.png": "ok", "b.png": "failed"}
    assert any(line.startswith("FAILED") and "b.png" in line for line in err.splitlines())
    assert (out / "sub").read_text() == "a file where the sub-folder should go"
    assert leftover_temps(tmp_path) == []


# --- sharding --------------------------------------------------------------------------------------


def test_shards_cover_every_file_exactly_once(tiny_models, tmp_path):
    src = tmp_path / "in"
    for i in range(31):
        d = src / f"d{i % 4}"
        d.mkdir(parents=True, exist_ok=True)
        Image.new("L", (8, 8), i * 8).save(d / f"f{i:02d}.png")
    seen: list[str] = []
    for k in range(1, 4):
        report = tmp_path / f"shard{k}.jsonl"
        proc = run_cli(src, "-o", tmp_path / "out", "--shard", f"{k}/3", "--report", report, "--backend", "onnx",
                       "--model", tiny_models["onnx"], cwd=tmp_path)
        assert proc.returncode == 0, text(proc.stderr)
        recs = read_report(report)
        assert all(r["status"] == "ok" for r in recs)
        seen += [r["input"] for r in recs]
    assert len(seen) == len(set(seen)) == 31
    assert len([p for p in (tmp_path / "out").rglob("*.png")]) == 31


# --- safety ----------------------------------------------------------------------------------------


class _Payload:
    """Pickles to ``open(marker, "w")``: loading it with full pickle would create the marker."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_payload_checkpoint_is_refused_and_never_runs(tmp_path):
    torch = pytest.importorskip("torch")
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "colorize-cli-checkpoint", "format_version": 1, "generator": _Payload(str(marker))},
               evil)
    src = tmp_path / "a.png"
    make_photo(24, 24, 1, "L").save(src)

    proc = run_cli(src, "-o", tmp_path / "out", "--backend", "torch", "--model", evil, cwd=tmp_path)
    err = text(proc.stderr)
    assert proc.returncode == 2, err
    assert "refused" in err and "Traceback" not in err
    assert not marker.exists()
    assert not (tmp_path / "out" / "a.png").exists()

    # the payload is real: an unsafe load would have run it
    torch.load(evil, weights_only=False)
    assert marker.exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
def test_a_fifo_among_the_photos_fails_alone_and_never_blocks(tiny_models, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    make_photo(40, 30, 1, "L").save(src / "a.jpg")
    os.mkfifo(src / "b.jpg")  # opening it would block until a writer appears: none will
    make_photo(40, 30, 2, "L").save(src / "c.jpg")
    os.symlink(src / "b.jpg", src / "d.jpg")  # a symlink to it is no better
    out, report = tmp_path / "out", tmp_path / "r.jsonl"
    proc = run_cli(src, "-o", out, "--backend", "onnx", "--model", tiny_models["onnx"], "--report", report,
                   cwd=tmp_path, timeout=60)
    assert proc.returncode == 1, text(proc.stderr)
    by_name = {Path(r["input"]).name: r for r in read_report(report)}
    assert [by_name[n]["status"] for n in ("a.jpg", "b.jpg", "c.jpg", "d.jpg")] == ["ok", "failed", "ok", "failed"]
    assert by_name["b.jpg"]["error"] == by_name["d.jpg"]["error"] == "not a regular file (a FIFO)"
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg", "c.jpg"]


def test_decode_refuses_special_files(tmp_path):
    from colorize_cli.errors import InputError
    from colorize_cli.evaluation import load_rgb
    from colorize_cli.imagefile import decode_image

    with pytest.raises(InputError, match=r"^not a regular file \(a character device\)$"):
        decode_image("/dev/null")
    with pytest.raises(InputError, match=r"^not a regular file \(a folder\)$"):
        decode_image(tmp_path)
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "f.png")
        with pytest.raises(InputError, match=r"a FIFO"):
            load_rgb(tmp_path / "f.png")


_STUCK_READ_DRIVER = """
import sys, time
import colorize_cli.runner as runner
real_decode = runner.decode_image
def decode(path, **kw):
    if str(path).endswith("stuck.jpg"):
        sys.stderr.write("STUCK\\n")
        sys.stderr.flush()
        time.sleep(3600)  # a read that never returns, as on a hung network mount
    return real_decode(path, **kw)
runner.decode_image = decode
from colorize_cli.cli import entry
sys.argv = ["colorize-cli", *sys.argv[1:]]
entry()
"""


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_one_signal_ends_a_run_stuck_in_a_read_within_seconds(tiny_models, tmp_path, sig, code):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a", "b", "c", "stuck"):
        make_photo(40, 30, len(name), "L").save(src / f"{name}.jpg")
    out, report = tmp_path / "out", tmp_path / "r.jsonl"
    args = [src, "-o", out, "--backend", "onnx", "--model", tiny_models["onnx"], "--report", report]
    proc = subprocess.Popen([sys.executable, "-c", _STUCK_READ_DRIVER, *map(str, args)], cwd=tmp_path,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            env=dict(os.environ, NO_COLOR="1"))
    import threading

    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(text(raw) for raw in proc.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60  # until the three good photos are reported and the fourth is stuck
    while not (sum(line.startswith("ok ") for line in seen) == 3 and any("STUCK" in line for line in seen)):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("the good photos were not all reported while a read was stuck:\n" + "".join(seen))
        time.sleep(0.05)
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        rc = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("one signal did not end a run stuck in a read")
    assert time.monotonic() - t0 < 5.0
    reader.join(5)
    err = "".join(seen)
    assert rc == code, err
    assert "Traceback" not in err
    records = read_report(report)
    assert sorted(Path(r["input"]).name for r in records if r["status"] == "ok") == ["a.jpg", "b.jpg", "c.jpg"]
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg", "b.jpg", "c.jpg"]
    assert leftover_temps(tmp_path) == []
