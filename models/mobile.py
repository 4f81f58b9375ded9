"""A MobileNet-style CNN: a 3x3 stem, then `depth` depthwise-separable blocks
(3x3 depthwise + BatchNorm + ReLU, 1x1 pointwise + BatchNorm + ReLU), global
average pooling and a linear classifier. Cheap in MACs for its accuracy."""

from __future__ import annotations


def build(input_shape: tuple[int, ...], n_classes: int, width: int, depth: int):  # noqa: ANN201
    from torch import nn

    def conv_bn(cin: int, cout: int, kernel: int, groups: int = 1, stride: int = 1) -> list:
        pad = kernel // 2
        return [
            nn.Conv2d(cin, cout, kernel, stride=stride, padding=pad, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
        ]

    channels = input_shape[0]
    layers: list[nn.Module] = [*conv_bn(channels, width, 3)]
    channels = width
    size = min(input_shape[1:])
    for i in range(depth):
        out = width * 2 ** min(i + 1, 3)
        stride = 2 if size > 4 else 1
        size = (size + stride - 1) // stride
        layers += conv_bn(channels, channels, 3, groups=channels, stride=stride)
        layers += conv_bn(channels, out, 1)
        channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, n_classes)]
    return nn.Sequential(*layers)
