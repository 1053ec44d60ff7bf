"""ONNX Runtime backend: needs onnxruntime and numpy only (never imports torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from colorize_cli.errors import ModelError, UsageError
from colorize_cli.modelmeta import INPUT_NAME, parse_metadata


def session_options(threads: int | None = None):
    """ONNX Runtime session options for this tool: full graph optimization, ``threads`` intra-op
    threads (default: all usable cores), no spinning (idle ORT threads give their core back to the
    decode/encode threads, or to PyTorch, running alongside), quiet logs."""
    import onnxruntime as ort

    from colorize_cli.backends import cpu_threads

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or cpu_threads()
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


class OnnxBackend:
    """Runs an exported generator with ONNX Runtime (CUDA provider when available, else CPU)."""

    name = "onnx"

    def __init__(self, model_path: Path, *, device: str = "auto", threads: int | None = None) -> None:
        import onnxruntime as ort

        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise ModelError(f"model file not found: {self.model_path}")
        available = ort.get_available_providers()
        if device in ("cuda",) and "CUDAExecutionProvider" not in available:
            raise UsageError("--device cuda was asked for, but onnxruntime has no CUDA provider here")
        if device == "mps":
            raise UsageError("--device mps is not available with the onnx backend (use --backend torch)")
        providers = ["CPUExecutionProvider"]
        if device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
            providers.insert(0, "CUDAExecutionProvider")
        opts = session_options(threads)
        try:
            self.session = ort.InferenceSession(str(self.model_path), sess_options=opts, providers=providers)
        except Exception as exc:  # noqa: BLE001 - any load failure is a bad model file
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{self.model_path}: not a loadable ONNX model ({first})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        self.config, self.facts = parse_metadata(meta, str(self.model_path))
        self.precision = self.facts.get("precision", "fp32")  # as exported: the file decides
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
            raise ModelError(f"{self.model_path}: expected one input named '{INPUT_NAME}'")
        self.provider = self.session.get_providers()[0]
        self.accelerated = self.provider != "CPUExecutionProvider"
        # On a CPU, ONNX Runtime runs batch 1 as fast per photo as batch 4 (10.3 vs 10.4 ms, two
        # calls side by side): a batch would only hold more photos in memory (benchmarks/RESULTS.md).
        self.batch_size = 8 if self.accelerated else 1

    def predict(self, L: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(L, dtype=np.float32)
        (ab,) = self.session.run(None, {INPUT_NAME: x})
        return np.asarray(ab, dtype=np.float32)

    def describe(self) -> str:
        return f"onnx ({self.provider}, {self.precision}) {self.config.arch} model {self.model_path}"
