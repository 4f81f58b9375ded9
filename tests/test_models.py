"""Built-in architectures: the shapes they promise and a revision for every one of them."""

from __future__ import annotations

import pytest
from harness.models import ARCHITECTURES, INPUT_KINDS, REVISIONS


def test_every_architecture_has_a_revision_and_input_kinds() -> None:
    assert set(REVISIONS) == set(ARCHITECTURES.names()) == set(INPUT_KINDS)


@pytest.mark.parametrize(
    ("input_shape", "width", "depth", "head_in"),
    [
        ((1, 8, 8), 16, 2, 32 * 4 * 4),  # digits: one pool, the second would leave 2x2
        ((3, 32, 32), 8, 3, 32 * 4 * 4),  # 32 -> 16 -> 8 -> 4
        ((1, 28, 28), 8, 3, 32 * 7 * 7),  # 28 -> 14 -> 7; 3x3 would be below 4x4
        ((1, 4, 4), 8, 2, 16 * 4 * 4),  # already 4x4: no pooling at all
    ],
)
def test_small_cnn_head_sees_at_least_a_4x4_map(
    input_shape: tuple[int, int, int], width: int, depth: int, head_in: int
) -> None:
    import torch
    from torch import nn

    net = ARCHITECTURES.get("small_cnn")(input_shape, 10, width, depth)
    dense = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in dense] == [
        (head_in, 4 * width),
        (4 * width, 10),
    ]
    assert net(torch.zeros(2, *input_shape)).shape == (2, 10)


# MLPerf Tiny's ResNet-8 by hand: (kernel, in, out, stride, output side) of every conv,
# in the reference's order, at 32x32x3 with 16/32/64 filters.
RESNET8_CONVS = [
    (3, 3, 16, 1, 32),  # stem
    (3, 16, 16, 1, 32), (3, 16, 16, 1, 32),  # stage 1, identity shortcut
    (3, 16, 32, 2, 16), (3, 32, 32, 1, 16), (1, 16, 32, 2, 16),  # stage 2 + 1x1 shortcut
    (3, 32, 64, 2, 8), (3, 64, 64, 1, 8), (1, 32, 64, 2, 8),  # stage 3 + 1x1 shortcut
]  # fmt: skip
RESNET8_BN = [16, 16, 16, 32, 32, 64, 64]  # every 3x3 conv; the 1x1 shortcuts have none


def _resnet8():  # noqa: ANN202
    return ARCHITECTURES.get("resnet8")((3, 32, 32), 10, 16, 3)


def test_resnet8_has_the_reference_parameter_count() -> None:
    conv = sum(k * k * cin * cout + cout for k, cin, cout, _, _ in RESNET8_CONVS)
    dense = 64 * 10 + 10
    bn_trainable, bn_stats = 2 * sum(RESNET8_BN), 2 * sum(RESNET8_BN)
    # Keras' summary of the reference: 78,666 total, 480 of them non-trainable statistics
    assert conv + dense + bn_trainable + bn_stats == 78_666 and bn_stats == 480
    net = _resnet8()
    trainable = sum(p.numel() for p in net.parameters())
    stats = sum(b.numel() for n, b in net.named_buffers() if n.endswith(("_mean", "_var")))
    assert (trainable, stats) == (conv + dense + bn_trainable, bn_stats)


def test_resnet8_macs_and_exported_parameters_are_the_references() -> None:
    import io
    import warnings

    import onnx
    import torch

    from harness.measure.size import onnx_size

    expected_macs = sum(s * s * cout * k * k * cin for k, cin, cout, _, s in RESNET8_CONVS)
    expected_macs += 64 * 10
    assert expected_macs == 12_501_632
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_resnet8().eval(), (torch.zeros(1, 3, 32, 32),), buffer, dynamo=False)
    stats = onnx_size(onnx.load_from_string(buffer.getvalue()))
    assert stats.macs == expected_macs
    # the export folds BatchNorm into the convs: 4 numbers per BN channel disappear
    assert stats.params == 78_666 - 4 * sum(RESNET8_BN)


def test_mobilenet_v2_035_rounds_channels_as_the_paper_and_ends_at_2x2() -> None:
    import torch
    from harness.models.mobilenetv2 import make_divisible
    from torch import nn

    net = ARCHITECTURES.get("mobilenet_v2")((3, 32, 32), 10, 35, 7)
    assert [make_divisible(c * 0.35) for c in (32, 16, 24, 32, 64, 96, 160, 320)] == [
        16, 8, 8, 16, 24, 32, 56, 112,
    ]  # fmt: skip
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert convs[-1].out_channels == 1280 and len(convs) == 1 + 2 + 3 * 16 + 1
    features = nn.Sequential(*list(net)[:-3])(torch.zeros(1, 3, 32, 32))
    assert features.shape == (1, 1280, 2, 2)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
