"""Export a generator to ONNX with its facts in ``metadata_props``.

Opset 17: ONNX Runtime >= 1.14 implements every op the generators use at this opset on its CPU
and CUDA providers, and the TorchScript-based exporter emits it without needing ``onnxscript``.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

from colorize_cli._version import __version__
from colorize_cli.fsutil import atomic_target
from colorize_cli.modelmeta import INPUT_NAME, OUTPUT_NAME, build_metadata
from colorize_cli.models.config import GeneratorConfig

DEFAULT_OPSET = 17


def weights_sha256(state_dict) -> str:
    """A content hash of the weights (names, shapes, dtypes and bytes), independent of file layout.

    Every tensor's raw bytes are hashed whatever its dtype (viewed as ``uint8``, so dtypes numpy
    cannot hold, such as ``bfloat16``, hash too); compiled/DDP key prefixes are ignored, so a
    checkpoint and the module it was loaded into hash the same. The ONNX variants (fp16, int8)
    record the hash of the PyTorch weights they were exported from.
    """
    import torch

    from colorize_cli.checkpoint import clean_state_dict

    h = hashlib.sha256()
    state_dict = clean_state_dict(dict(state_dict))
    for name in sorted(state_dict):
        value = state_dict[name]
        if not isinstance(value, torch.Tensor):
            continue
        t = value.detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(str(t.dtype).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def export_generator(
    model,
    config: GeneratorConfig,
    out_path: str | os.PathLike,
    *,
    opset: int = DEFAULT_OPSET,
    precision: str = "fp32",
    example_size: int | None = None,
) -> Path:
    """Write ``model`` (in eval mode, on CPU) to ``out_path`` as ONNX with dynamic N, H, W axes.

    Input ``L``: ``(N, 1, H, W)`` float32 normalized L; output ``ab``: ``(N, 2, H, W)`` float32
    normalized ab; H and W must be multiples of ``config.stride``. Returns the path.
    """
    import onnx
    import torch

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().to("cpu")
    side = example_size or max(config.stride, 64)
    side = -(-side // config.stride) * config.stride
    example = torch.zeros(1, config.in_channels, side, side)
    dynamic = {0: "batch", 2: "height", 3: "width"}
    with atomic_target(out_path) as tmp:
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated in favour of the dynamo one, which needs the
            # extra onnxscript package; this one is still supported and exports these nets exactly.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (example,),
                str(tmp),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: dynamic, OUTPUT_NAME: dynamic},
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        proto = onnx.load(str(tmp))
        meta = build_metadata(
            config,
            weights_sha256=weights_sha256(model.state_dict()),
            precision=precision,
            package_version=__version__,
            opset=opset,
        )
        set_metadata(proto, meta)
        proto.producer_name = "colorize-cli"
        proto.producer_version = __version__
        onnx.save(proto, str(tmp))
    return out_path


def set_metadata(proto, meta: dict[str, str]) -> None:
    """Replace the model's ``metadata_props`` entries with ``meta`` (other keys are kept)."""
    keep = [p for p in proto.metadata_props if p.key not in meta]
    del proto.metadata_props[:]
    for p in keep:
        proto.metadata_props.add(key=p.key, value=p.value)
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
