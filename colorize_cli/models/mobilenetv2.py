"""MobileNetV2's feature extractor, built module for module as torchvision builds it.

Same layers, same state-dict keys (``0.0.weight``, ``1.conv.0.0.weight``, ...), same default
initialization, so torchvision's ImageNet weights load into it unchanged (tests pin the equality).
It lives here so that *running* a model needs no torchvision: importing torchvision pulls in
``torch._dynamo`` (about 1 s of every torch-backend start on a 2-core CPU). Training still takes
the weights through torchvision's weights API (:func:`imagenet_features_state`).
"""

from __future__ import annotations

from torch import nn

# (expansion t, output channels c, repeats n, first stride s), as in the paper and torchvision.
_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's rounding of channel counts: nearest multiple of 8, never below 90% of ``v``."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvBNReLU6(nn.Sequential):
    """Conv (no bias) + BatchNorm + ReLU6: torchvision's ``Conv2dNormActivation`` (keys 0, 1, 2)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )
        self.out_channels = cout


class InvertedResidual(nn.Module):
    """1x1 expand, 3x3 depthwise (stride), 1x1 linear projection; residual when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = int(round(cin * expand_ratio))
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU6(cin, hidden, kernel=1))
        layers += [
            ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, 1, 0, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = cout

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


def mobilenet_v2_features(width_mult: float = 1.0, in_channels: int = 3) -> nn.Sequential:
    """``mobilenet_v2(width_mult=...).features``: ``(N, in_channels, H, W)`` -> ``(N, 1280, H/32, W/32)``."""
    channels = _make_divisible(32 * width_mult)
    last = _make_divisible(1280 * max(1.0, width_mult))
    layers: list[nn.Module] = [ConvBNReLU6(in_channels, channels, stride=2)]
    for t, c, n, s in _SETTINGS:
        out = _make_divisible(c * width_mult)
        for i in range(n):
            layers.append(InvertedResidual(channels, out, s if i == 0 else 1, t))
            channels = out
    layers.append(ConvBNReLU6(channels, last, kernel=1))
    features = nn.Sequential(*layers)
    for m in features.modules():  # torchvision's initialization
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return features


def imagenet_features_state() -> dict:
    """torchvision's ImageNet MobileNetV2 ``features`` weights (torch hub cache, else a download)."""
    from torchvision.models import MobileNet_V2_Weights, mobilenet_v2

    return mobilenet_v2(weights=MobileNet_V2_Weights.IMAGENET1K_V1).features.state_dict()


def imagenet_last_layer_state() -> dict:
    """The ImageNet weights of ``features``' last layer alone (the 1x1 convolution to 1280 features)."""
    state = imagenet_features_state()
    last = str(max(int(k.split(".", 1)[0]) for k in state))
    return {k.split(".", 1)[1]: v for k, v in state.items() if k.split(".", 1)[0] == last}
