"""MLPerf Tiny's image-classification ResNet-8 (the EEMBC/MLPerf Tiny reference for CIFAR-10).

The reference topology: a 3x3 conv of `width` (16) filters + BatchNorm + ReLU, then `depth`
(3) residual stages of `width`, 2x`width`, 4x`width` filters (16/32/64), the first with
stride 1 and the others with stride 2. A stage is conv 3x3 + BN + ReLU, conv 3x3 + BN, added
to the shortcut (the input itself, or a 1x1 conv with the stage's stride where the shape
changes; no BatchNorm on it, as in the reference), then ReLU. Global average pooling and a
dense classifier end it. Convs keep their bias as the Keras reference does (use_bias is on),
so the parameter count is the reference's: 78,666 with BatchNorm's running statistics for
32x32x3 inputs and 10 classes, 12.5 M MACs.

Each conv + BN pair is an nn.Sequential so that fine-tuning folds BN as the exporter does.
"""

from __future__ import annotations

from typing import Any


def build(input_shape: tuple[int, ...], n_classes: int, width: int, depth: int):  # noqa: ANN201
    import torch
    from torch import nn

    def conv_bn(cin: int, cout: int, stride: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout))

    class Stage(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.body = nn.Sequential(conv_bn(cin, cout, stride), nn.ReLU(), conv_bn(cout, cout, 1))
            changes = stride != 1 or cin != cout
            self.shortcut = nn.Conv2d(cin, cout, 1, stride) if changes else nn.Identity()

        def forward(self, x: Any) -> Any:
            return torch.relu(self.body(x) + self.shortcut(x))

    layers: list[nn.Module] = [conv_bn(input_shape[0], width, 1), nn.ReLU()]
    channels = width
    for i in range(depth):
        out = width * 2**i
        layers.append(Stage(channels, out, 1 if i == 0 else 2))
        channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, n_classes)]
    return nn.Sequential(*layers)
