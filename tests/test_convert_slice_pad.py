"""Slice of a run-time tensor (STRIDED_SLICE) and reflect-mode Pad (MIRROR_PAD) against
ONNX Runtime on small random graphs, as the real models that needed them write them: a
detection head's channel split, a strided spatial crop, an audio front end's reflection."""

from __future__ import annotations

import numpy as np
import pytest

from harness.convert.tflite import onnx_to_tflite
from harness.errors import UnsupportedOpError
from tests.helpers.litert import check, make_model, node, op_names, weights

CONV = node("Conv", ["x", "w"], ["c"])  # puts the data in NHWC first, as real models do
BIG = np.iinfo(np.int64).max


def _sliced(starts: list[int], ends: list[int], axes: list[int], steps: list[int] | None):
    inits = {
        "w": weights(4, 2, 1, 1),
        "starts": np.array(starts, np.int64),
        "ends": np.array(ends, np.int64),
        "axes": np.array(axes, np.int64),
    }
    inputs = ["c", "starts", "ends", "axes"]
    if steps is not None:
        inits["steps"] = np.array(steps, np.int64)
        inputs.append("steps")
    return make_model([CONV, node("Slice", inputs)], (1, 2, 6, 7), inits)


SLICES = {
    "channels 1..3 of a feature map (a head's split)": ([1], [3], [1], None),
    "every second row and column from 1": ([1, 1], [BIG, BIG], [2, 3], [2, 2]),
    "the last 3 columns, negative start": ([-3], [BIG], [-1], None),
    "the whole batch (INT64_MAX end) and rows 0..4": ([0, 0], [BIG, 4], [0, 2], None),
}


@pytest.mark.parametrize("case", SLICES)
def test_slice_of_an_activation(case: str) -> None:
    assert "STRIDED_SLICE" in op_names(check(_sliced(*SLICES[case]), (1, 2, 6, 7)))


def test_slice_of_a_3d_activation_without_axes() -> None:
    """A (N, 6, 5) tensor, as a detector's (N, boxes + classes, anchors) output."""
    nodes = [node("Relu", ["x"], ["r"]), node("Slice", ["r", "starts", "ends"])]
    inits = {"starts": np.array([0, 2, 0], np.int64), "ends": np.array([BIG, 6, 5], np.int64)}
    check(make_model(nodes, (1, 6, 5), inits), (1, 6, 5))


def test_slice_along_the_batch_or_backwards_is_refused_with_the_reason() -> None:
    with pytest.raises(UnsupportedOpError, match=r"Slice \(a slice along the batch axis"):
        onnx_to_tflite(_sliced([0], [1], [0], None))
    with pytest.raises(UnsupportedOpError, match=r"Slice \(step -1; only forward"):
        onnx_to_tflite(_sliced([-1], [-BIG], [3], [-1]))


def test_reflect_pad_of_an_activation() -> None:
    pads = np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)
    model = make_model([CONV, node("Pad", ["c", "pads"], mode="reflect")], (1, 2, 5, 6),
                       {"w": weights(3, 2, 1, 1), "pads": pads})  # fmt: skip
    assert "MIRROR_PAD" in op_names(check(model, (1, 2, 5, 6)))


def test_edge_pad_is_refused_with_the_reason() -> None:
    pads = np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)
    model = make_model([CONV, node("Pad", ["c", "pads"], mode="edge")], (1, 2, 5, 6),
                       {"w": weights(3, 2, 1, 1), "pads": pads})  # fmt: skip
    with pytest.raises(UnsupportedOpError, match="mode=edge; LiteRT pads with constants or"):
        onnx_to_tflite(model)
