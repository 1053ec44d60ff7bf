"""The seed's PatchGAN discriminator (pix2pix 70x70 PatchGAN; 2,765,633 parameters at 3 in, 64 filters)."""

from __future__ import annotations

from torch import nn


def get_layers(ni: int, nf: int, k: int = 4, s: int = 2, p: int = 1, norm: bool = True, act: bool = True):
    layers = [nn.Conv2d(ni, nf, k, s, p, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(nf))
    if act:
        layers.append(nn.LeakyReLU(0.2, True))
    return nn.Sequential(*layers)


class PatchDiscriminator(nn.Module):
    """``(N, input_c, H, W)`` (L and ab, normalized) -> ``(N, 1, H/8 - 2, W/8 - 2)`` real/fake logits."""

    def __init__(self, input_c: int = 3, num_filters: int = 64, n_down: int = 3) -> None:
        super().__init__()
        nf = num_filters
        model = [get_layers(input_c, nf, norm=False)]
        model += [
            get_layers(nf * 2**i, nf * 2 ** (i + 1), s=1 if i == (n_down - 1) else 2) for i in range(n_down)
        ]
        model += [get_layers(nf * 2**n_down, 1, s=1, norm=False, act=False)]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x)


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """The seed's init: conv weights ~ N(0, gain), biases 0; BatchNorm weights ~ N(1, gain), biases 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight.data, mean=0.0, std=gain)
            if m.bias is not None:
                nn.init.constant_(m.bias.data, 0.0)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight.data, 1.0, gain)
            nn.init.constant_(m.bias.data, 0.0)
    return net
