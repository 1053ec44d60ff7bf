"""Reduced-precision variants of an exported fp32 generator: fp16 and int8.

Both keep the graph's interface (input ``L`` and output ``ab`` stay float32) and its
``metadata_props``, with ``precision`` set to ``fp16`` or ``int8``; ``weights_sha256`` stays the
hash of the PyTorch weights the fp32 model was exported from.

* fp16: ONNX Runtime's own converter (``onnxruntime.transformers.float16``) with
  ``keep_io_types=True``: weights and compute in float16, a Cast at each end. The CUDA provider
  runs it natively; the CPU provider runs the ops it has fp16 kernels for and inserts casts around
  the others (so on CPU it halves the file, not the time).
* int8: ``onnxruntime.quantization``, QDQ format, per-channel int8 weights. Static (uint8
  activations with ranges calibrated on photos from a folder) when calibration images are given,
  else dynamic (weights only; activation ranges computed at run time).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from colorize_cli.errors import UsageError
from colorize_cli.modelmeta import INPUT_NAME, KEY_PREFIX

PRECISIONS = ("fp32", "fp16", "int8")
MAX_CALIBRATION_IMAGES = 64


def _metadata(proto) -> dict[str, str]:
    return {p.key: p.value for p in proto.metadata_props}


def _restore_metadata(proto, meta: dict[str, str], precision: str) -> None:
    from colorize_cli.export.onnx_export import set_metadata

    meta = dict(meta)
    meta[KEY_PREFIX + "precision"] = precision
    set_metadata(proto, meta)


def convert_fp16(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Write an fp16 copy of the fp32 model ``src`` to ``dst`` (float32 input and output)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    proto = onnx.load(str(src))
    meta = _metadata(proto)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "values truncated to fp16 range" for tiny weights
        half = convert_float_to_float16(proto, keep_io_types=True, disable_shape_infer=False)
    _toposort(half.graph)  # the converter appends the input Casts after their consumers
    _restore_metadata(half, meta, "fp16")
    onnx.save(half, str(dst))
    return Path(dst)


def _toposort(graph) -> None:
    """Reorder ``graph.node`` so every node comes after the producers of its inputs (stable)."""
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        progressed = False
        rest = []
        for node in pending:
            if all(name in available for name in node.input):
                ordered.append(node)
                available.update(node.output)
                progressed = True
            else:
                rest.append(node)
        if not progressed:  # a cycle or a dangling input: leave the checker to report it
            ordered.extend(rest)
            break
        pending = rest
    copies = [type(n)() for n in ordered]
    for copy, node in zip(copies, ordered, strict=False):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


def calibration_images(folder: str | os.PathLike, limit: int = MAX_CALIBRATION_IMAGES) -> list[Path]:
    """Up to ``limit`` image files in ``folder`` (recursive, sorted). Raises UsageError when none."""
    from colorize_cli.jobs import walk_folder

    root = Path(folder)
    if not root.is_dir():
        raise UsageError(f"calibration folder not found: {root}")
    files = list(walk_folder(root, recursive=True))
    if not files:
        raise UsageError(f"no images in calibration folder {root}")
    return files[:limit]


class ImageCalibrationReader:
    """A ``CalibrationDataReader``: one network input per photo, as the colorize pipeline makes it.

    Each photo is decoded to full-resolution L* (:func:`colorize_cli.imagefile.decode_image`),
    center-cropped to a square and turned into the input the model sees at ``size``
    (:func:`colorize_cli.pipeline.network_input`): one shape for all photos, because ONNX Runtime's
    histogram calibrators (percentile) stack the activations of all inputs.
    """

    def __init__(self, files: list[Path], size: int, stride: int) -> None:
        self.files = list(files)
        self.size = size
        self.stride = stride
        self._iter: Iterator[dict[str, np.ndarray]] | None = None

    def _inputs(self) -> Iterator[dict[str, np.ndarray]]:
        from colorize_cli.errors import InputError
        from colorize_cli.imagefile import decode_image
        from colorize_cli.pipeline import network_input

        for path in self.files:
            try:
                L = decode_image(path).L
            except InputError:
                continue
            h, w = L.shape
            n = min(h, w)
            square = L[(h - n) // 2 : (h - n) // 2 + n, (w - n) // 2 : (w - n) // 2 + n]
            x = network_input(square, self.size, self.stride)  # the same (1, side, side) for every photo
            yield {INPUT_NAME: np.ascontiguousarray(x[None], dtype=np.float32)}

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._iter is None:
            self._iter = self._inputs()
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = None


# Activation ranges from the 99.99th percentile rather than min/max once there are enough photos
# to estimate the tail: a few extreme activations then no longer stretch the 256 steps. On the 31
# validation photos the bundled model's int8 ab moved 30-35% closer to fp32 (mean |d ab| 1.7 -> 1.2
# and 2.3 -> 1.5 on two calibration sets of 64 photos; benchmarks/RESULTS.md), at the same speed.
# With a handful of photos the percentile clips real activations (3 photos: mean error 0.037 vs
# 0.02 with min/max on the test model), so min/max is kept there.
PERCENTILE = 99.99
PERCENTILE_MIN_IMAGES = 16


def calibration_ranges(n_images: int) -> str:
    """How activation ranges are set for ``n_images`` calibration photos (for reports)."""
    return f"{PERCENTILE}th-percentile ranges" if n_images >= PERCENTILE_MIN_IMAGES else "min/max ranges"


def _calibration_options(n_images: int, methods) -> dict:
    if n_images >= PERCENTILE_MIN_IMAGES:
        return {"calibrate_method": methods.Percentile, "extra_options": {"CalibPercentile": PERCENTILE}}
    return {"calibrate_method": methods.MinMax}


def quantize_int8(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    calibration: list[Path] | None,
    size: int,
    stride: int,
) -> tuple[Path, str]:
    """Write an int8 (QDQ, per-channel) copy of the fp32 model ``src`` to ``dst``.

    Static quantization calibrated on ``calibration`` photos when given, else dynamic.
    Returns ``(dst, method)`` with method ``"static"`` or ``"dynamic"``.

    onnxruntime's shape inference and calibration drop scratch files (``sym_shape_infer_temp.onnx``,
    ``<uuid>.data``) into the current working folder and print progress to stdout, so the work runs
    in a child process whose working folder is a temporary one: the caller's process, folder and
    output stay untouched.
    """
    import json
    import subprocess
    import sys

    import onnx

    meta = _metadata(onnx.load(str(src), load_external_data=False))
    src, dst = Path(src).resolve(), Path(dst).resolve()
    job = {
        "src": str(src), "dst": str(dst), "size": size, "stride": stride,
        "calibration": [str(Path(p).resolve()) for p in calibration] if calibration else [],
    }
    package_root = str(Path(__file__).resolve().parents[2])  # importable from the scratch folder too
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
    with tempfile.TemporaryDirectory(prefix="colorize-quant-") as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", "colorize_cli.export.variants", json.dumps(job)],
            cwd=tmp, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env,
        )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines or lines[-1] not in ("static", "dynamic"):
        detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"int8 quantization failed: {detail}")
    method = lines[-1]
    proto = onnx.load(str(dst))
    _restore_metadata(proto, meta, "int8")
    proto.metadata_props.add(key=KEY_PREFIX + "quantization", value=method)
    onnx.save(proto, str(dst))
    return Path(dst), method


def _quantize_in_this_process(job: dict) -> str:
    """The child process's work for :func:`quantize_int8` (its working folder is a scratch one)."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, dst, calibration = Path(job["src"]), Path(job["dst"]), [Path(p) for p in job["calibration"]]
    prepped = Path.cwd() / "prepped.onnx"
    try:
        # Shape inference and ORT's graph optimizations first, as onnxruntime recommends
        # (quantization then sees the fused graph). Harmless to skip if it fails.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quant_pre_process(str(src), str(prepped), skip_symbolic_shape=False)
    except Exception:  # noqa: BLE001 - optional step
        prepped = src
    # Weights that run right on any x86 CPU: on ones without VNNI (AVX2 only), ONNX Runtime's u8s8
    # kernels add pairs of products in 16 bits, which saturate with full-range int8 weights, so
    # a model verified on the exporting machine ran wrong on another (a tiny test model: mean
    # |dab| 0.103 on an AVX2-only CPU, within 0.03 on an AMX one). Static: uint8 weights (u8u8,
    # no saturation); dynamic: 7-bit int8 weights (reduce_range), as onnxruntime advises.
    if not calibration:
        quantize_dynamic(str(prepped), str(dst), per_channel=True, reduce_range=True, weight_type=QuantType.QInt8)
        return "dynamic"
    reader = ImageCalibrationReader(calibration, job["size"], job["stride"])
    # The histogram calibrator print()s its progress: keep it out of the method line on stdout.
    with contextlib.redirect_stdout(io.StringIO()):
        quantize_static(
            str(prepped), str(dst), reader, quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QUInt8,
            **_calibration_options(len(calibration), CalibrationMethod),
        )
    return "static"


if __name__ == "__main__":  # the child of quantize_int8
    import json
    import sys

    print(_quantize_in_this_process(json.loads(sys.argv[1])))
