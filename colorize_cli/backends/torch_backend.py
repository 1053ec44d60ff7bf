"""PyTorch backend: loads a self-describing checkpoint safely and runs it in inference mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from colorize_cli.checkpoint import load_generator
from colorize_cli.device import resolve_device


class TorchBackend:
    """Runs a ``.pt`` generator checkpoint on cpu, cuda or mps."""

    name = "torch"

    def __init__(self, model_path: Path, *, device: str = "auto", threads: int | None = None) -> None:
        import torch

        self.model_path = Path(model_path)
        self.device = resolve_device(device)
        if threads:
            torch.set_num_threads(threads)
        self.model, self.config = load_generator(self.model_path, self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

    def predict(self, L: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(L, dtype=np.float32)).to(self.device)
            ab = self.model(x)
            return ab.float().cpu().numpy()

    def describe(self) -> str:
        return f"torch ({self.device}) {self.config.arch} model {self.model_path}"
