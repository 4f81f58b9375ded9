"""The zoo's architectures: torchvision's own where `import torchvision` works (any of its
classification models by name, weights=None), else copies of mobilenet_v2,
mobilenet_v3_small and resnet18, layer for layer.

torchvision 0.28 (the release for torch 2.13) is on PyPI only as a CUDA build whose
compiled ops do not load beside the CPU torch this project pins, so `import torchvision`
fails in the project's environment. The copies follow
torchvision/models/{mobilenetv2,mobilenetv3,resnet}.py (same blocks, widths, strides,
activations, squeeze-excite and classifier), so their ONNX exports have the same operators
and structure; the weights are random, as the zoo needs. In a venv with torch 2.14.1 and
torchvision 0.29.1 (docs/bring-your-model.md) the real definitions are used.
"""

from __future__ import annotations

import torch
from torch import nn


def _divisible(v: float, divisor: int = 8) -> int:
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


class ConvBNAct(nn.Sequential):
    def __init__(
        self, cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1,
        act: type[nn.Module] | None = nn.ReLU6,
    ) -> None:  # fmt: skip
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if act is not None:
            layers.append(act(inplace=True))
        super().__init__(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = round(cin * expand)
        self.use_res = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNAct(cin, hidden, 1))
        layers += [
            ConvBNAct(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res else self.conv(x)


def mobilenet_v2(num_classes: int = 1000) -> nn.Module:
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1)]  # fmt: skip
    cin = 32
    features: list[nn.Module] = [ConvBNAct(3, cin, stride=2)]
    for t, c, n, s in settings:
        for i in range(n):
            features.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
            cin = c
    features.append(ConvBNAct(cin, 1280, 1))
    return _Classifier(
        nn.Sequential(*features), nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))
    )


class _Classifier(nn.Module):
    def __init__(self, features: nn.Module, classifier: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.relu = nn.ReLU()
        self.scale = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale(self.fc2(self.relu(self.fc1(self.avgpool(x)))))


class V3Block(nn.Module):
    def __init__(self, cin: int, k: int, exp: int, cout: int, se: bool, hs: bool, s: int) -> None:
        super().__init__()
        act: type[nn.Module] = nn.Hardswish if hs else nn.ReLU
        self.use_res = s == 1 and cin == cout
        layers: list[nn.Module] = []
        if exp != cin:
            layers.append(ConvBNAct(cin, exp, 1, act=act))
        layers.append(ConvBNAct(exp, exp, k, s, groups=exp, act=act))
        if se:
            layers.append(SqueezeExcite(exp, _divisible(exp // 4)))
        layers.append(ConvBNAct(exp, cout, 1, act=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.use_res else self.block(x)


def mobilenet_v3_small(num_classes: int = 1000) -> nn.Module:
    # (in, kernel, expanded, out, squeeze-excite, hardswish, stride)
    cfg = [(16, 3, 16, 16, True, False, 2), (16, 3, 72, 24, False, False, 2),
           (24, 3, 88, 24, False, False, 1), (24, 5, 96, 40, True, True, 2),
           (40, 5, 240, 40, True, True, 1), (40, 5, 240, 40, True, True, 1),
           (40, 5, 120, 48, True, True, 1), (48, 5, 144, 48, True, True, 1),
           (48, 5, 288, 96, True, True, 2), (96, 5, 576, 96, True, True, 1),
           (96, 5, 576, 96, True, True, 1)]  # fmt: skip
    features: list[nn.Module] = [ConvBNAct(3, 16, 3, 2, act=nn.Hardswish)]
    features += [V3Block(*c) for c in cfg]
    features.append(ConvBNAct(96, 576, 1, act=nn.Hardswish))
    classifier = nn.Sequential(
        nn.Linear(576, 1024), nn.Hardswish(inplace=True), nn.Dropout(0.2),
        nn.Linear(1024, num_classes),
    )  # fmt: skip
    return _Classifier(nn.Sequential(*features), classifier)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


def resnet18(num_classes: int = 1000) -> nn.Module:
    stem = nn.Sequential(
        nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    )  # fmt: skip
    blocks: list[nn.Module] = [stem]
    cin = 64
    for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        blocks += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
        cin = cout
    return _Classifier(nn.Sequential(*blocks), nn.Linear(512, num_classes))


ZOO = {"mobilenet_v2": mobilenet_v2, "mobilenet_v3_small": mobilenet_v3_small, "resnet18": resnet18}


def torchvision_version() -> str | None:
    """torchvision's version when it imports (its compiled ops load), else None."""
    try:
        import torchvision
    except Exception:  # ImportError, or RuntimeError from ops built for another torch
        return None
    return str(torchvision.__version__)


def build(name: str) -> tuple[nn.Module, str]:
    """(the untrained network, where its definition came from)."""
    version = torchvision_version()
    if version is not None:
        from torchvision import models

        if name in models.list_models(module=models):
            return models.get_model(name, weights=None), f"torchvision {version}"
    if name not in ZOO:
        raise SystemExit(f"{name}: not a torchvision classification model, nor one of {list(ZOO)}")
    return ZOO[name](), "own copy of torchvision's definition"


def export(name: str, dynamo: bool, size: int = 224, seed: int = 0) -> tuple[bytes, str]:
    """The architecture with random weights (BatchNorm statistics randomised too, so folding
    them matters), exported by one of torch's two ONNX exporters with a dynamic batch; and
    where its definition came from."""
    import io

    torch.manual_seed(seed)
    net, source = build(name)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.uniform_(module.bias, -0.2, 0.2)
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    net.eval()
    x = torch.randn(2, 3, size, size)
    buffer = io.BytesIO()
    if dynamo:
        program = torch.onnx.export(
            net, (x,), dynamo=True, input_names=["input"], output_names=["logits"],
            dynamic_shapes={"x": {0: torch.export.Dim("batch")}}, verbose=False,
        )  # fmt: skip
        assert program is not None
        program.save(buffer)  # type: ignore[arg-type]
    else:
        torch.onnx.export(
            net, (x,), buffer, dynamo=False, input_names=["input"], output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
        )  # fmt: skip
    return buffer.getvalue(), source
