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
AB_BIN = 10.0
AB_RANGE = 110.0


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
