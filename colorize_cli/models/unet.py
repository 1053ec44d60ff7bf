"""The seed's pix2pix U-Net generator (Isola et al. 2017, as in the seed's colorization notebook).

Eight stride-2 downsamplings (so H and W must be multiples of 256), 64 base filters, dropout in
the three inner 512-filter decoder blocks, Tanh out. With 1 input and 2 output channels it has
exactly 54,409,858 parameters, the seed's figure.
"""

from __future__ import annotations

import torch
from torch import nn

from colorize_cli.models.config import GeneratorConfig


class UnetBlock(nn.Module):
    """One level of the U-Net: down, the inner levels (``submodule``), up, and the skip concat."""

    def __init__(
        self,
        nf: int,
        ni: int,
        submodule: nn.Module | None = None,
        input_c: int | None = None,
        dropout: float = 0.0,
        innermost: bool = False,
        outermost: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        if input_c is None:
            input_c = nf
        downconv = nn.Conv2d(input_c, ni, kernel_size=4, stride=2, padding=1, bias=False)
        downrelu = nn.LeakyReLU(0.2, True)
        downnorm = nn.BatchNorm2d(ni)
        uprelu = nn.ReLU(True)
        upnorm = nn.BatchNorm2d(nf)
        if outermost:
            upconv = nn.ConvTranspose2d(ni * 2, nf, kernel_size=4, stride=2, padding=1)
            layers = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(ni, nf, kernel_size=4, stride=2, padding=1, bias=False)
            layers = [downrelu, downconv, uprelu, upconv, upnorm]
        else:
            upconv = nn.ConvTranspose2d(ni * 2, nf, kernel_size=4, stride=2, padding=1, bias=False)
            layers = [downrelu, downconv, downnorm, submodule, uprelu, upconv, upnorm]
            if dropout:
                layers.append(nn.Dropout(dropout))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UNet(nn.Module):
    """``(N, in_channels, H, W)`` normalized L -> ``(N, out_channels, H, W)`` ab in [-1, 1]."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        nf = config.num_filters
        block = UnetBlock(nf * 8, nf * 8, innermost=True)
        for _ in range(config.n_down - 5):
            block = UnetBlock(nf * 8, nf * 8, submodule=block, dropout=config.dropout)
        out_filters = nf * 8
        for _ in range(3):
            block = UnetBlock(out_filters // 2, out_filters, submodule=block)
            out_filters //= 2
        self.model = UnetBlock(
            config.out_channels, out_filters, input_c=config.in_channels, submodule=block, outermost=True
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
