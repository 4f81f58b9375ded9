"""A multi-layer perceptron: `depth` hidden layers of `width` units (flattens images)."""

from __future__ import annotations

import math


def build(input_shape: tuple[int, ...], n_classes: int, width: int, depth: int):  # noqa: ANN201
    from torch import nn

    layers: list[nn.Module] = [nn.Flatten()]
    features = math.prod(input_shape)
    for _ in range(depth):
        layers += [nn.Linear(features, width), nn.ReLU()]
        features = width
    layers.append(nn.Linear(features, n_classes))
    return nn.Sequential(*layers)
