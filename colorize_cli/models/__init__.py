"""Generator architectures and the small frozen config that rebuilds them.

The config is plain data (no torch) so the ONNX backend and the CLI can read it without torch;
:func:`build_generator` imports torch only when called.
"""

from __future__ import annotations

from colorize_cli.models.config import ARCHITECTURES, GeneratorConfig

__all__ = ["ARCHITECTURES", "GeneratorConfig", "build_generator", "count_parameters"]


def build_generator(config: GeneratorConfig, *, pretrained_encoder: bool = False):
    """Build the ``torch.nn.Module`` described by ``config`` (maps ``(N,1,H,W)`` to ``(N,2,H,W)``).

    ``pretrained_encoder`` loads torchvision's ImageNet MobileNetV2 weights into the encoder of a
    ``mobilenet_unet`` (training only; checkpoints carry all weights, so inference never needs it).
    """
    if config.arch == "unet":
        from colorize_cli.models.unet import UNet

        if pretrained_encoder:
            raise ValueError("the 'unet' architecture has no pretrained encoder")
        return UNet(config)
    if config.arch == "mobilenet_unet":
        from colorize_cli.models.mobilenet_unet import MobileNetUNet

        return MobileNetUNet(config, pretrained_encoder=pretrained_encoder)
    raise ValueError(f"unknown architecture {config.arch!r}; choose from {', '.join(ARCHITECTURES)}")


def count_parameters(module) -> int:
    """Number of trainable parameters of a torch module."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
