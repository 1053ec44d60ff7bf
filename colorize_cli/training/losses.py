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
