"""A MobileNetV2 (Sandler et al. 2018) for small images, width multiplier `width`/100.

The paper's inverted-residual table (expansion t, channels c, repeats n, stride s), its
channel rounding to multiples of 8 and its 1280-channel last 1x1 conv (kept at 1280 for
multipliers below 1, as Keras and torchvision do). On inputs of 64 px or less the second
stage keeps stride 1 instead of 2, so a 32x32 image ends in a 2x2 map rather than 1x1
(3.9 M MACs at width 35; keeping the stem at stride 1 too, as CIFAR ports do, costs
15.6 M MACs and trains 4x slower on a CPU). `depth` is how many of the seven stages to
keep (7: all).
"""

from __future__ import annotations

from typing import Any

# t, c, n, s of MobileNetV2's table 2
STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
          (6, 160, 3, 2), (6, 320, 1, 1))  # fmt: skip
LAST_CHANNELS = 1280


def make_divisible(value: float, divisor: int = 8) -> int:
    """The paper's rounding: nearest multiple of `divisor`, never below 90% of `value`."""
    out = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * value else out


def build(input_shape: tuple[int, ...], n_classes: int, width: int, depth: int):  # noqa: ANN201
    from torch import nn

    alpha = width / 100
    small = min(input_shape[1:]) <= 64  # keep resolution for the first stages

    def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> list:
        conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
        return [nn.Sequential(conv, nn.BatchNorm2d(cout))]

    class InvertedResidual(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
            super().__init__()
            hidden = cin * expand
            layers: list[nn.Module] = []
            if expand != 1:
                layers += [*conv_bn(cin, hidden, 1), nn.ReLU6()]
            layers += [*conv_bn(hidden, hidden, 3, stride, hidden), nn.ReLU6()]
            layers += conv_bn(hidden, cout, 1)
            self.body = nn.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

        def forward(self, x: Any) -> Any:
            return x + self.body(x) if self.residual else self.body(x)

    channels = make_divisible(32 * alpha)
    layers: list[nn.Module] = [*conv_bn(input_shape[0], channels, 3, 2), nn.ReLU6()]
    for index, (t, c, n, s) in enumerate(STAGES[:depth]):
        out = make_divisible(c * alpha)
        stride = 1 if small and index == 1 else s
        for i in range(n):
            layers.append(InvertedResidual(channels, out, stride if i == 0 else 1, t))
            channels = out
    last = make_divisible(LAST_CHANNELS * max(1.0, alpha))
    layers += [*conv_bn(channels, last, 1), nn.ReLU6()]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(last, n_classes)]
    return nn.Sequential(*layers)
