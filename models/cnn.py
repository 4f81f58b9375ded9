"""A small CNN: `depth` blocks of 3x3 conv + ReLU (+ 2x2 max-pool while the pooled map keeps
at least 4x4 px), channels doubling from `width`, then a hidden dense layer and the classifier.

The head sees at least a 4x4 map (as LeNet's sees 5x5): on 8x8 digits a second pool would
leave 2x2, and the hidden layer would be a near-square 128x64 matrix that low-rank
factorization cannot shrink (rank k keeps k(m+n)/mn of it).
"""

from __future__ import annotations


def build(input_shape: tuple[int, ...], n_classes: int, width: int, depth: int):  # noqa: ANN201
    from torch import nn

    channels, height, wide = input_shape
    layers: list[nn.Module] = []
    for i in range(depth):
        out = width * 2**i
        layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU()]
        if min(height, wide) // 2 >= 4:
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
