"""A small CNN: `depth` blocks of 3x3 conv + ReLU (+ 2x2 max-pool while the map is > 2 px),
channels doubling from `width`, then a hidden dense layer and the classifier."""

from __future__ import annotations


def build(input_shape: tuple[int, ...], n_classes: int, width: int, depth: int):  # noqa: ANN201
    from torch import nn

    channels, height, wide = input_shape
    layers: list[nn.Module] = []
    for i in range(depth):
        out = width * 2**i
        layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU()]
        if min(height, wide) > 2:
            layers.append(nn.MaxPool2d(2))
            height, wide = height // 2, wide // 2
        channels = out
    layers += [
        nn.Flatten(),
        nn.Linear(channels * height * wide, 4 * width),
        nn.ReLU(),
        nn.Linear(4 * width, n_classes),
    ]
    return nn.Sequential(*layers)
