"""The default generator: a U-Net whose encoder is MobileNetV2 (torchvision's, layer for layer).

The encoder's first convolution takes the single L channel (initialized, when pretrained, with the
sum of the ImageNet RGB filters, so a gray image gives the same activations as its RGB copy). The
decoder upsamples bilinearly (no checkerboard artifacts, and a plain ONNX ``Resize``) and fuses
the encoder's features at 1/16, 1/8, 1/4 and 1/2 resolution, then the input L itself at full
resolution, and ends in a Tanh. Input height and width must be multiples of 32.

With four ``decoder_channels`` instead of five the decoder stops at 1/2 resolution: the head
predicts ab there and a bilinear x2 upsampling brings it to the input's size. The full-resolution
level is a third of the network's work (two 3x3 convolutions at the input's size), and the ab map
is upsampled several times more by the pipeline anyway (Zhang et al. predict ab at 1/4).

With ``ab_head="classification"`` the network predicts Q logits per pixel (Q quantized in-gamut
ab colours, :mod:`colorize_cli.models.ab_classes`) and decodes them itself by their annealed mean,
so callers (pipeline, ONNX export) see the same ab output either way. The logits are *anchored* on
the regression head's estimate: a Gaussian around it (``ANCHOR_SIGMA``) plus what a 1x1
convolution adds, which starts at zero. So a classification model fine-tuned from a regression one
starts exactly where that one was, and the cross-entropy only has to learn where a second colour is
likely (a few hundred photos are far too few to learn the whole distribution from a flat start)::

    features (d[-1], H/2, W/2) --3x3 conv, Tanh--> ab_reg (2, H/2, W/2)
    logits_q = -|centre_q - ab_reg|^2 / (2 ANCHOR_SIGMA^2) + (1x1 conv of the features)_q   (Q, H/2, W/2)
        --softmax(logits / T)--> p --sum_q p_q * centre_q--> ab (2, H/2, W/2)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from colorize_cli.models.config import GeneratorConfig
from colorize_cli.models.mobilenetv2 import imagenet_features_state, mobilenet_v2_features

# Indices into MobileNetV2's ``features`` after which the feature map is taken as a
# skip connection, and its channel count at width_mult=1. Stage ends: 1/2, 1/4, 1/8, 1/16, 1/32.
_STAGE_ENDS = (1, 3, 6, 13, 17)
# The anchor's width in a*b* units: one grid cell, so the anchor alone is a sharp copy of the
# regression estimate and the learned part decides how far the distribution spreads.
ANCHOR_SIGMA = 10.0


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class _UpBlock(nn.Module):
    """Upsample x2, concatenate the skip, two 3x3 conv-BN-ReLU."""

    def __init__(self, cin: int, cskip: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(_conv_bn_relu(cin + cskip, cout), _conv_bn_relu(cout, cout))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv(torch.cat([x, skip], dim=1))


class MobileNetUNet(nn.Module):
    """``(N, 1, H, W)`` normalized L -> ``(N, 2, H, W)`` ab in [-1, 1]; H, W multiples of 32.

    Whatever the decoder's depth, the output has the input's height and width.
    """

    def __init__(self, config: GeneratorConfig, *, pretrained_encoder: bool = False) -> None:
        super().__init__()
        self.config = config
        if pretrained_encoder and config.width_mult != 1.0:
            raise ValueError("pretrained MobileNetV2 weights exist only for width_mult=1.0")
        features = mobilenet_v2_features(config.width_mult)
        if pretrained_encoder:
            features.load_state_dict(imagenet_features_state())
        first = features[0][0]
        conv1 = nn.Conv2d(
            config.in_channels, first.out_channels, 3, stride=2, padding=1, bias=False
        )
        with torch.no_grad():
            # Summing the RGB filters keeps ImageNet features meaningful for a gray input.
            conv1.weight.copy_(first.weight.sum(dim=1, keepdim=True).repeat(1, config.in_channels, 1, 1))
        features[0][0] = conv1
        # Global context (Iizuka et al. 2016's global fusion): the last ImageNet layer (1280
        # features), averaged over the image, says what the whole photo shows; a 1x1 convolution
        # that starts at zero adds it to the bottleneck, so a model fine-tuned from one without it
        # starts exactly where that one was.
        self.global_conv = features[-1] if config.global_context else None
        bounds = (0,) + tuple(e + 1 for e in _STAGE_ENDS)
        self.stages = nn.ModuleList(
            nn.Sequential(*features[bounds[i] : bounds[i + 1]]) for i in range(len(_STAGE_ENDS))
        )
        skip_channels = [self._out_channels(stage) for stage in self.stages]
        d = config.decoder_channels
        self.global_fuse = None
        if self.global_conv is not None:
            self.global_fuse = nn.Conv2d(self._out_channels(self.global_conv), skip_channels[4], 1)
            nn.init.zeros_(self.global_fuse.weight)
            nn.init.zeros_(self.global_fuse.bias)
        self.up4 = _UpBlock(skip_channels[4], skip_channels[3], d[0])  # -> 1/16
        self.up3 = _UpBlock(d[0], skip_channels[2], d[1])  # -> 1/8
        self.up2 = _UpBlock(d[1], skip_channels[1], d[2])  # -> 1/4
        self.up1 = _UpBlock(d[2], skip_channels[0], d[3])  # -> 1/2
        # -> 1/1, fused with L itself; without it (4 widths) the head works at 1/2.
        self.up0 = _UpBlock(d[3], config.in_channels, d[4]) if len(d) == 5 else None
        self.head = nn.Conv2d(d[-1], config.out_channels, 3, padding=1)
        self.out = nn.Tanh()
        self.classify = config.ab_head == "classification"
        if self.classify:
            from colorize_cli.models import ab_classes

            centres = torch.from_numpy(ab_classes.bin_centres()) / ab_classes.AB_RANGE  # normalized ab
            self.register_buffer("ab_centres", centres)  # (Q, 2): the checkpoint says what its classes mean
            self.anchor_scale = (ab_classes.AB_RANGE / ANCHOR_SIGMA) ** 2 / 2
            # 1x1: a 3x3 convolution to Q channels at half size would cost ~2/3 of the whole network.
            self.class_head = nn.Conv2d(d[-1], len(centres), 1)
            nn.init.zeros_(self.class_head.weight)
            nn.init.zeros_(self.class_head.bias)

    @staticmethod
    def _out_channels(stage: nn.Sequential) -> int:
        convs = [m for m in stage.modules() if isinstance(m, nn.Conv2d)]
        return convs[-1].out_channels

    def encoder_modules(self) -> list[nn.Module]:
        """The MobileNetV2 parts (ImageNet's when pretrained): frozen, or at their own learning rate."""
        return [self.stages] + ([self.global_conv] if self.global_conv is not None else [])

    def encoder_parameters(self):
        """The MobileNetV2 parameters (for a separate learning rate when fine-tuning)."""
        return [p for m in self.encoder_modules() for p in m.parameters()]

    def bfloat16_parts(self) -> list[nn.Module]:
        """The blocks that may run in bfloat16 at inference: all but those that read L itself.

        The first stage (L -> 16 features at 1/2, two convolutions) and a full-size ``up0`` stay
        float32. In bfloat16, the first stage alone moved the held-out photos' ab by 0.62 on
        average and took 2.3% of their chroma. Every other block together moved it by 0.15, with
        chroma within 0.1%. The first stage costs little to keep: the network runs 2.2-2.8x faster
        either way (AMX, benchmarks/RESULTS.md).
        """
        glob = [self.global_conv, self.global_fuse] if self.global_conv is not None else []
        return [*self.stages[1:], *glob, self.up4, self.up3, self.up2, self.up1, self.head] + (
            [self.class_head] if self.classify else []
        )

    def class_logits(self, features: torch.Tensor, ab_reg: torch.Tensor) -> torch.Tensor:
        """``(N, Q, h, w)`` logits: the Gaussian anchor around ``ab_reg`` ``(N, 2, h, w)`` plus the
        1x1 convolution of ``features``."""
        c = self.ab_centres.to(ab_reg.dtype)
        d2 = (ab_reg.unsqueeze(1) - c.view(1, -1, 2, 1, 1)).square().sum(2)  # (N, Q, h, w)
        return self.class_head(features).float() - d2.float() * self.anchor_scale

    def annealed_mean(self, logits: torch.Tensor) -> torch.Tensor:
        """``(N, Q, h, w)`` logits -> ``(N, 2, h, w)`` normalized ab, the mean of softmax(logits / T).

        In float32 whatever the logits' type: a bfloat16 softmax over Q classes loses the small
        probabilities whose sum moves the mean.
        """
        p = torch.softmax(logits.float() / self.config.anneal_t, dim=1)
        return torch.einsum("nqhw,qc->nchw", p, self.ab_centres)

    def forward(self, x: torch.Tensor, return_logits: bool = False):
        """Normalized ab ``(N, 2, H, W)`` for normalized L ``(N, 1, H, W)``.

        ``return_logits`` (classification head, training): ``(ab, logits)``, the logits
        ``(N, Q, h, w)`` at the head's resolution (H/2 x W/2 with four decoder levels).
        """
        if return_logits and not self.classify:
            raise ValueError("return_logits needs the classification ab head")
        skips = []
        h = x
        for stage in self.stages:
            h = stage(h)
            skips.append(h)
        s1, s2, s3, s4, s5 = skips
        if self.global_conv is not None:  # (N, 1280, 1, 1) -> (N, 320, 1, 1), broadcast over s5
            s5 = s5 + self.global_fuse(self.global_conv(s5).mean(dim=(2, 3), keepdim=True))
        h = self.up4(s5, s4)
        h = self.up3(h, s3)
        h = self.up2(h, s2)
        h = self.up1(h, s1)
        if self.up0 is not None:
            h = self.up0(h, x)
        ab = self.out(self.head(h))
        logits = self.class_logits(h, ab) if self.classify else None
        # Tanh or the annealed mean before any upsampling: the bilinear mix of values in [-1, 1]
        # stays in [-1, 1], and upsampling 2 channels is the cheap place to do it (not 32 or Q).
        if logits is not None:
            ab = self.annealed_mean(logits)
        if ab.shape[-2:] != x.shape[-2:]:
            ab = F.interpolate(ab, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return (ab, logits) if return_logits else ab
