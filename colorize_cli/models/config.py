"""The generator's config: a frozen dataclass that checkpoints and ONNX files carry as JSON."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

ARCHITECTURES = ("mobilenet_unet", "unet")
AB_HEADS = ("regression", "classification")


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything needed to rebuild a generator's graph (not its weights).

    Attributes:
        arch: ``"mobilenet_unet"`` (default, fast) or ``"unet"`` (the seed's pix2pix U-Net).
        in_channels / out_channels: 1 (L) in, 2 (ab) out.
        train_size: the square crop size the model was trained at.
        infer_size: the default inference size (0: ``train_size``); chosen on validation figures.
        num_filters / n_down / dropout: ``unet`` only (the seed: 64 filters, 8 downsamplings).
        width_mult: ``mobilenet_unet`` encoder width (torchvision MobileNetV2's ``width_mult``).
        decoder_channels: ``mobilenet_unet`` decoder widths, from the 1/16 level up to full size
            (5 levels), or up to 1/2 (4 levels: ab predicted at half size, upsampled x2 in the network).
        chroma_gain: the factor the pipeline scales the predicted a*b* by before the join (1: as
            predicted). A regression model hedges towards gray where it is unsure; like
            ``infer_size`` this is chosen on validation figures when a model is bundled.
        ab_head: ``mobilenet_unet`` only: ``"regression"`` (a Tanh predicts ab) or
            ``"classification"`` (a 1x1 convolution predicts a distribution over the quantized
            in-gamut ab colours of :mod:`colorize_cli.models.ab_classes`, decoded inside the network
            by its annealed mean, so the output is ab as for regression).
        global_context: ``mobilenet_unet`` only: add the photo's global ImageNet features
            (MobileNetV2's last layer, averaged over the image) to the bottleneck.
        anneal_t: the classification head's temperature (1: the distribution's mean; towards 0: its
            mode). Like ``chroma_gain``, chosen on validation figures when a model is bundled.
    """

    arch: str = "mobilenet_unet"
    in_channels: int = 1
    out_channels: int = 2
    train_size: int = 256
    infer_size: int = 0
    num_filters: int = 64
    n_down: int = 8
    dropout: float = 0.5
    width_mult: float = 1.0
    decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 32)
    chroma_gain: float = 1.0
    ab_head: str = "regression"
    anneal_t: float = 0.38
    global_context: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.chroma_gain <= 4.0:
            raise ValueError(f"chroma_gain must be in (0, 4], not {self.chroma_gain}")
        if self.ab_head not in AB_HEADS:
            raise ValueError(f"unknown ab head {self.ab_head!r}; choose from {', '.join(AB_HEADS)}")
        if self.ab_head == "classification" and self.arch != "mobilenet_unet":
            raise ValueError("the classification ab head exists for mobilenet_unet only")
        if not 0.0 < self.anneal_t <= 4.0:
            raise ValueError(f"anneal_t must be in (0, 4], not {self.anneal_t}")
        if self.global_context and self.arch != "mobilenet_unet":
            raise ValueError("global_context exists for mobilenet_unet only")
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.arch!r}; choose from {', '.join(ARCHITECTURES)}")
        if self.arch == "mobilenet_unet" and len(self.decoder_channels) not in (4, 5):
            raise ValueError(
                "mobilenet_unet needs 5 decoder_channels (1/16, 1/8, 1/4, 1/2, 1/1) "
                "or 4 (up to 1/2, ab upsampled x2)"
            )
        # JSON turns tuples into lists; keep the dataclass hashable and comparable.
        object.__setattr__(self, "decoder_channels", tuple(int(c) for c in self.decoder_channels))

    def network_shape(self) -> dict[str, Any]:
        """The fields that decide this architecture's layers and weights (not how it is trained or run)."""
        per_arch = {"unet": ("num_filters", "n_down", "dropout"), "mobilenet_unet": ("width_mult", "decoder_channels", "ab_head", "global_context")}
        d = self.to_dict()
        return {k: d[k] for k in ("arch", "in_channels", "out_channels") + per_arch.get(self.arch, ())}

    @property
    def default_size(self) -> int:
        """The inference size used when the user gives no ``--size``."""
        return self.infer_size or self.train_size

    @property
    def stride(self) -> int:
        """Input height and width must be multiples of this."""
        return 2**self.n_down if self.arch == "unet" else 32

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["decoder_channels"] = list(self.decoder_channels)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown generator config keys: {', '.join(sorted(unknown))}")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> GeneratorConfig:
        return cls.from_dict(json.loads(text))
