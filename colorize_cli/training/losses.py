"""The seed's GANLoss: ``vanilla`` (BCE with logits) or ``lsgan`` (MSE) against constant labels."""

from __future__ import annotations

import torch
from torch import nn


class GANLoss(nn.Module):
    def __init__(self, gan_mode: str = "vanilla", real_label: float = 1.0, fake_label: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("real_label", torch.tensor(real_label))
        self.register_buffer("fake_label", torch.tensor(fake_label))
        if gan_mode == "vanilla":
            self.loss = nn.BCEWithLogitsLoss()
        elif gan_mode == "lsgan":
            self.loss = nn.MSELoss()
        else:
            raise ValueError(f"unknown GAN mode {gan_mode!r}")

    def forward(self, preds: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        label = self.real_label if target_is_real else self.fake_label
        preds = preds.float()
        return self.loss(preds, label.expand_as(preds))


# Zhang et al. 2016 rebalance the loss by how rare each colour is, so the few saturated pixels are
# not drowned by the many dull ones (the usual cause of sepia-everything). Their grid: ab bins of
# 10, the empirical distribution smoothed with a Gaussian of sigma 5, mixed with a uniform one by
# lambda = 0.5, inverted; here normalized so the mean weight over the data is 1 (so lambda_l1
# keeps its meaning against the GAN term).
from colorize_cli.models.ab_classes import AB_BIN, AB_RANGE  # noqa: E402  (the one grid)


class ColourRebalancedL1(nn.Module):
    """Per-pixel L1 on normalized ab ``(N, 2, H, W)``, each pixel weighted by the rarity of its
    true colour (``weights``: a ``(B, B)`` table over the ab grid, expected value 1 on the data)."""

    def __init__(self, weights: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("weights", weights.float())
        self.bins = weights.shape[0]

    def pixel_weights(self, ab_norm: torch.Tensor) -> torch.Tensor:
        idx = ((ab_norm * AB_RANGE + AB_RANGE) / AB_BIN).floor().long().clamp_(0, self.bins - 1)
        return self.weights[idx[:, 0], idx[:, 1]].unsqueeze(1)  # (N, 1, H, W)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (self.pixel_weights(target) * (pred - target).abs()).mean()


def rebalance_weights(ab_samples: torch.Tensor, mix: float = 0.5, sigma: float = 5.0) -> torch.Tensor:
    """The ``(B, B)`` weight table from true ab samples ``(M, 2)`` in Lab units.

    ``mix`` is Zhang et al.'s lambda: 0 weights fully by inverse frequency, 1 gives no rebalancing.
    """
    bins = int(round(2 * AB_RANGE / AB_BIN))
    idx = ((ab_samples + AB_RANGE) / AB_BIN).floor().long().clamp_(0, bins - 1)
    hist = torch.zeros(bins * bins, dtype=torch.float64)
    hist.index_add_(0, idx[:, 0] * bins + idx[:, 1], torch.ones(len(idx), dtype=torch.float64))
    p_data = hist.view(bins, bins) / hist.sum()
    p = p_data
    radius = max(1, int(round(3 * sigma / AB_BIN)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float64) * AB_BIN
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = (k / k.sum()).view(1, 1, -1)
    p = torch.nn.functional.conv1d(p.unsqueeze(1), k, padding=radius).squeeze(1)  # along b
    p = torch.nn.functional.conv1d(p.t().unsqueeze(1), k, padding=radius).squeeze(1).t()  # along a
    p = p / p.sum()
    w = 1.0 / ((1.0 - mix) * p + mix / (bins * bins))
    w = w / (p_data * w).sum()  # mean weight 1 over the data: the loss keeps the plain L1's scale
    return w.float()


class SoftClassLoss(nn.Module):
    """Zhang et al.'s multinomial cross-entropy for the classification ab head.

    Each true ab is encoded softly over its ``k`` nearest class centres (Gaussian weights of
    ``sigma`` Lab units: neighbouring colours are nearly right, not wrong), the true ab first
    brought to the logits' resolution by area averaging; each pixel's cross-entropy is weighted by
    the rarity of its colour (``weights``: a :func:`rebalance_weights` table, or None).
    """

    def __init__(self, centres: torch.Tensor, weights: torch.Tensor | None = None, k: int = 5, sigma: float = 5.0):
        super().__init__()
        self.register_buffer("centres", centres.float() * AB_RANGE)  # (Q, 2) Lab units
        self.rebalance = ColourRebalancedL1(weights) if weights is not None else None
        self.k, self.sigma = k, sigma

    def soft_targets(self, ab_norm: torch.Tensor) -> torch.Tensor:
        """``(N, 2, h, w)`` normalized ab -> ``(N, Q, h, w)`` class probabilities."""
        n, _, h, w = ab_norm.shape
        ab = ab_norm.permute(0, 2, 3, 1).reshape(-1, 2) * AB_RANGE
        d2, idx = torch.cdist(ab, self.centres).topk(self.k, dim=1, largest=False)
        wts = torch.softmax(-(d2**2) / (2 * self.sigma**2), dim=1)
        t = torch.zeros(ab.shape[0], len(self.centres), device=ab.device, dtype=wts.dtype)
        t.scatter_(1, idx, wts)
        return t.view(n, h, w, -1).permute(0, 3, 1, 2)

    def forward(self, logits: torch.Tensor, ab_norm: torch.Tensor) -> torch.Tensor:
        ab_small = nn.functional.adaptive_avg_pool2d(ab_norm, logits.shape[-2:])
        with torch.no_grad():
            target = self.soft_targets(ab_small)
        ce = -(target * torch.log_softmax(logits.float(), dim=1)).sum(1, keepdim=True)
        if self.rebalance is not None:
            ce = ce * self.rebalance.pixel_weights(ab_small)
        return ce.mean()


# A feature ("perceptual") loss through a frozen ImageNet network compares what the colours mean
# (skin, foliage, sky) rather than their per-pixel values, so it does not reward the grey average
# that L1 settles on where the colour is uncertain. The same MobileNetV2 as the encoder, RGB in,
# up to stride 8 (layer 6, 32 channels) and stride 16 (layer 13, 96 channels).
FEATURE_LAYERS = (6, 13)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class FeatureLoss(nn.Module):
    """Mean L1 between ImageNet MobileNetV2 features of two sRGB batches ``(N, 3, H, W)`` in [0, 1]."""

    def __init__(self, features: nn.Sequential) -> None:
        super().__init__()
        self.features = features[: max(FEATURE_LAYERS) + 1].eval()
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))

    def train(self, mode: bool = True) -> FeatureLoss:
        super().train(mode)
        self.features.eval()  # ImageNet's BatchNorm statistics always
        return self

    def _taps(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        x, taps = (rgb - self.mean) / self.std, []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in FEATURE_LAYERS:
                taps.append(x)
        return taps

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            want = self._taps(target)
        return sum((a - b).abs().mean() for a, b in zip(self._taps(pred), want, strict=True)) / len(want)


def imagenet_feature_loss() -> FeatureLoss:
    """:class:`FeatureLoss` with torchvision's ImageNet MobileNetV2 (from the torch hub cache)."""
    from torchvision.models import MobileNet_V2_Weights, mobilenet_v2

    return FeatureLoss(mobilenet_v2(weights=MobileNet_V2_Weights.IMAGENET1K_V1).features)
