"""The facts an exported ONNX generator carries in its ``metadata_props`` (written by the export,
read by the ONNX backend), and the bundled default model's location.

Plain Python: the ONNX backend reads these without torch.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from colorize_cli import lab
from colorize_cli.errors import ModelError
from colorize_cli.models.config import GeneratorConfig

ONNX_FORMAT = "colorize-cli-generator"
ONNX_FORMAT_VERSION = 1
KEY_PREFIX = "colorize_cli."
INPUT_NAME = "L"
OUTPUT_NAME = "ab"

BUNDLED_ONNX = "default.onnx"
BUNDLED_ONNX_INT8 = "default_int8.onnx"
BUNDLED_CHECKPOINT = "default.pt"


def normalization() -> dict[str, float]:
    """The normalization constants, as exported (the backend checks they match its own)."""
    return {"L_scale": lab.L_SCALE, "L_shift": lab.L_SHIFT, "ab_scale": lab.AB_SCALE}


def build_metadata(
    config: GeneratorConfig, *, weights_sha256: str, precision: str, package_version: str, opset: int
) -> dict[str, str]:
    """The key/value strings written into an exported model's ``metadata_props``."""
    facts = {
        "format": ONNX_FORMAT,
        "format_version": str(ONNX_FORMAT_VERSION),
        "arch": config.arch,
        "generator_config": config.to_json(),
        "train_size": str(config.train_size),
        "default_size": str(config.default_size),
        "stride": str(config.stride),
        "normalization": json.dumps(normalization(), sort_keys=True),
        "package_version": package_version,
        "weights_sha256": weights_sha256,
        "precision": precision,
        "opset": str(opset),
    }
    return {KEY_PREFIX + k: v for k, v in facts.items()}


def parse_metadata(props: dict[str, str], source: str) -> tuple[GeneratorConfig, dict[str, str]]:
    """Validate an ONNX model's metadata; return its generator config and the facts (unprefixed).

    Raises :class:`ModelError` for a foreign model, a newer format, or other normalization.
    """
    facts = {k[len(KEY_PREFIX) :]: v for k, v in props.items() if k.startswith(KEY_PREFIX)}
    if facts.get("format") != ONNX_FORMAT:
        raise ModelError(
            f"{source}: not a colorize-cli generator (no '{KEY_PREFIX}format' metadata); "
            "export one with 'colorize-cli export CHECKPOINT -o MODEL.onnx'"
        )
    try:
        version = int(facts.get("format_version", ""))
    except ValueError:
        raise ModelError(f"{source}: unreadable format version {facts.get('format_version')!r}") from None
    if version > ONNX_FORMAT_VERSION:
        raise ModelError(
            f"{source}: model format version {version} is newer than this colorize-cli "
            f"understands ({ONNX_FORMAT_VERSION}); upgrade colorize-cli"
        )
    try:
        norm = json.loads(facts.get("normalization", "{}"))
        config = GeneratorConfig.from_json(facts["generator_config"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelError(f"{source}: damaged colorize-cli metadata ({exc})") from None
    if norm and any(abs(float(norm.get(k, v)) - v) > 1e-9 for k, v in normalization().items()):
        raise ModelError(f"{source}: model uses a different normalization {norm}; not supported")
    return config, facts


def bundled_model_path(filename: str) -> Path:
    """Path of a model file shipped in ``colorize_cli/assets`` (may not exist)."""
    return Path(str(resources.files("colorize_cli") / "assets" / filename))
