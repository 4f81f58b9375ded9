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
