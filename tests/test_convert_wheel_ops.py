"""Ops that models shipped in public wheels needed (benchmarks/wheel_models.py), against
ONNX Runtime on small random graphs, written as those models write them: Slice of a run-time
tensor (a detection head's channel split, a strided crop) -> STRIDED_SLICE, reflect-mode Pad
(an audio front end) -> MIRROR_PAD, and 1-D convolution and pooling (voice-activity and
other audio models) through their 2-D forms."""

from __future__ import annotations

import numpy as np
import onnx
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


CONV1D = {
    "kernel 3, same pads": ({"kernel_shape": [3], "pads": [1, 1]}, (4, 2, 3)),
    "stride 2, dilation 2, uneven pads": (
        {"kernel_shape": [3], "strides": [2], "dilations": [2], "pads": [2, 1]},
        (4, 2, 3),
    ),
    "depthwise, group 2": ({"kernel_shape": [5], "group": 2, "pads": [2, 2]}, (2, 1, 5)),
}


@pytest.mark.parametrize("case", CONV1D)
def test_1d_convolution_as_2d(case: str) -> None:
    """(N, C, L) audio-style tensors: Conv1d converts through its 2-D form."""
    kwargs, shape = CONV1D[case]
    nodes = [node("Conv", ["x", "w", "b"], ["c"], **kwargs), node("Relu", ["c"])]
    inits = {"w": weights(*shape), "b": np.linspace(-1, 1, shape[0], dtype=np.float32)}
    assert "RESHAPE" in op_names(check(make_model(nodes, (1, 2, 16), inits), (1, 2, 16)))


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_1d_pooling_as_2d(op: str) -> None:
    nodes = [node(op, ["x"], kernel_shape=[3], strides=[2], pads=[1, 1])]
    check(make_model(nodes, (1, 3, 17)), (1, 3, 17))


def test_1d_conv_at_opset_11_uses_axes_attributes() -> None:
    nodes = [node("Conv", ["x", "w"])]  # no kernel_shape: the weight's rank says 1-D
    check(make_model(nodes, (1, 2, 9), {"w": weights(3, 2, 3)}, opset=11), (1, 2, 9))


def _grid_from_shape(axis: int):
    """YOLO's anchor grid in miniature: a Range over a feature map's size, read with
    Shape -> Gather(axis), added to the map as data."""
    nodes = [
        CONV,
        node("Shape", ["c"], ["s"]),
        node("Gather", ["s", "axis"], ["n"]),
        node("Range", ["zero", "n", "one"], ["r"]),
        node("Cast", ["r"], ["rf"], to=1),
        node("Add", ["c", "rf"] if axis == 3 else ["c", "scale"], ["y"] if axis == 3 else ["t"]),
    ]
    if axis != 3:  # the batch size itself used as data
        nodes[-2:] = [node("Cast", ["n"], ["nf"], to=1), node("Mul", ["c", "nf"])]
    inits = {"w": weights(3, 2, 1, 1), "axis": np.array(axis, np.int64),
             "zero": np.array(0, np.int64), "one": np.array(1, np.int64)}  # fmt: skip
    return make_model(nodes, (1, 2, 5, 6), inits)


def test_a_size_read_off_a_feature_map_is_a_constant_at_any_batch() -> None:
    """Shape of a batch-dynamic map, but its width: the grid is data, as in YOLO heads."""
    check(_grid_from_shape(3), (1, 2, 5, 6))


def test_the_batch_size_used_as_data_is_refused() -> None:
    with pytest.raises(UnsupportedOpError, match="depends on the batch size"):
        onnx_to_tflite(_grid_from_shape(0))


def test_clip_with_a_bound_computed_at_run_time() -> None:
    """log-mel style: Clip(x, ReduceMax(x) - 3, +inf), the floor a run-time scalar."""
    nodes = [CONV, node("ReduceMax", ["c"], ["m"], keepdims=0), node("Sub", ["m", "three"], ["lo"]),
             node("Clip", ["c", "lo", ""])]  # fmt: skip
    model = make_model(nodes, (1, 2, 5, 6), {"w": weights(3, 2, 1, 1),
                                            "three": np.array(3.0, np.float32)})  # fmt: skip
    assert "MAXIMUM" in op_names(check(model, (1, 2, 5, 6), batches=(1,)))


CEIL_POOLS = {
    "squeezenet's 3x3 stride 2 on 14x15": ((3, 3), (2, 2), [0, 0, 0, 0], (1, 2, 14, 15)),
    "2x2 stride 2 on 5x5": ((2, 2), (2, 2), [0, 0, 0, 0], (1, 2, 5, 5)),
    "3x3 stride 2 with pads 1 on 8x9": ((3, 3), (2, 2), [1, 1, 1, 1], (1, 2, 8, 9)),
    "no change: 3x3 stride 2 on 13x13": ((3, 3), (2, 2), [0, 0, 0, 0], (1, 2, 13, 13)),
    "no change at stride 1: 2x2 on 5x5": ((2, 2), (1, 1), [0, 0, 0, 0], (1, 2, 5, 5)),
}


@pytest.mark.parametrize("case", CEIL_POOLS)
def test_max_pool_with_ceil_mode(case: str) -> None:
    """torchvision's squeezenet and googlenet pool with ceil_mode=True."""
    kernel, strides, pads, shape = CEIL_POOLS[case]
    pool = node("MaxPool", ["x"], kernel_shape=list(kernel), strides=list(strides), pads=pads,
                ceil_mode=1)  # fmt: skip
    assert "MAX_POOL_2D" in op_names(check(make_model([pool], shape), shape))


def test_max_pool_whose_last_ceil_window_starts_in_the_end_padding_is_refused() -> None:
    """Height 4, 2x2 stride 2, end pad 1: ONNX Runtime (like PyTorch) drops the window that
    would start in the padding (2 rows), ONNX's shape inference keeps it (3): the converter
    pads for 2, and refuses the disagreement with both sizes rather than guess."""
    pool = node("MaxPool", ["x"], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1],
                ceil_mode=1)  # fmt: skip
    message = (
        r"^unsupported on litert: MaxPool \(output size 3 where TFLite gives 2 \(ceil_mode\?\)"
    )
    with pytest.raises(UnsupportedOpError, match=message):
        onnx_to_tflite(make_model([pool], (1, 2, 4, 5)))


def _channel_shuffle() -> onnx.ModelProto:
    """ShuffleNet's channel shuffle as TorchScript exports it: sizes read with Shape ->
    Gather, channels per group by a Div, Reshape to 5-D, Transpose, Reshape back."""
    axes = {f"i{k}": np.array(k, np.int64) for k in range(4)}
    nodes = [CONV, node("Shape", ["c"], ["s"])]
    nodes += [node("Gather", ["s", f"i{k}"], [f"d{k}"]) for k in range(4)]
    nodes += [node("Div", ["d1", "groups"], ["cpg"])]
    parts = ["d0", "groups", "cpg", "d2", "d3"]
    nodes += [node("Unsqueeze", [p, "zero1"], [f"u_{p}"]) for p in parts]
    nodes += [
        node("Concat", [f"u_{p}" for p in parts], ["five"], axis=0),
        node("Reshape", ["c", "five"], ["r5"]),
        node("Transpose", ["r5"], ["t5"], perm=[0, 2, 1, 3, 4]),
        node("Concat", ["u_d0", "minus1", "u_d2", "u_d3"], ["four"], axis=0),
        node("Reshape", ["t5", "four"]),
    ]
    inits = {"w": weights(4, 2, 1, 1), "groups": np.array(2, np.int64),
             "zero1": np.array([0], np.int64), "minus1": np.array([-1], np.int64), **axes}  # fmt: skip
    return make_model(nodes, (1, 2, 3, 5), inits)


def test_shapes_inference_cannot_follow_are_measured_by_running_the_graph() -> None:
    from harness.convert.run_shapes import incomplete
    from harness.convert.tflite import _onnx_to_tflite, _shapes, _with_batch

    fixed, _ = _with_batch(_channel_shuffle(), 1)
    assert incomplete(fixed, _shapes(fixed, strict=True))  # onnx stops at the Div
    _onnx_to_tflite(_channel_shuffle())  # the first try converts, without onnxslim
    check(_channel_shuffle(), (1, 2, 3, 5))


def test_matmul_of_two_activations() -> None:
    """Attention scores: (N, 3, 4) x its transpose (N, 4, 3) -> BATCH_MATMUL."""
    nodes = [node("Relu", ["x"], ["r"]), node("Transpose", ["x"], ["t"], perm=[0, 2, 1]),
             node("MatMul", ["r", "t"])]  # fmt: skip
    assert "BATCH_MATMUL" in op_names(check(make_model(nodes, (1, 3, 4)), (1, 3, 4)))


def test_matmul_of_two_matrices_computed_at_run_time() -> None:
    """Rank 2, the smallest BATCH_MATMUL takes: (N, 4) x its transpose (4, N)."""
    nodes = [node("Relu", ["x"], ["r"]), node("Transpose", ["x"], ["t"], perm=[1, 0]),
             node("MatMul", ["r", "t"])]  # fmt: skip
    assert "BATCH_MATMUL" in op_names(check(make_model(nodes, (1, 4)), (1, 4)))


def test_matmul_with_a_vector_computed_at_run_time_is_refused() -> None:
    nodes = [node("Relu", ["x"], ["r"]), node("ReduceSum", ["x", "axes"], ["v"], keepdims=0),
             node("MatMul", ["r", "v"])]  # fmt: skip
    model = make_model(nodes, (1, 4), {"axes": np.array([0], np.int64)})
    with pytest.raises(UnsupportedOpError, match=r"^unsupported on litert: MatMul \(a 1-D input;"):
        onnx_to_tflite(model)


def test_matmul_of_activations_on_feature_maps() -> None:
    """4-D: (N, 2, 5, 6) x (N, 2, 6, 5), as multi-head attention writes it."""
    nodes = [CONV, node("Transpose", ["c"], ["t"], perm=[0, 1, 3, 2]), node("MatMul", ["c", "t"])]
    check(make_model(nodes, (1, 2, 5, 6), {"w": weights(2, 2, 1, 1)}), (1, 2, 5, 6))
