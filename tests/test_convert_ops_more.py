"""The converters added for real exports (tflite_math.py, tflite_resize.py) against ONNX
Runtime on small random graphs, with default attributes and with the ones exporters write."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from harness.convert.tflite import onnx_to_tflite
from harness.errors import UnsupportedOpError
from tests.helpers.litert import check, make_model, node, op_names, weights

CONV = node("Conv", ["x", "w"], ["c"])  # puts the data in NHWC first, as real models do


def _on_map(nodes: list, shape=(1, 2, 5, 6), extra: dict | None = None):
    return make_model([CONV, *nodes], shape, {"w": weights(3, 2, 1, 1), **(extra or {})})


UNARY = {
    "HardSigmoid": ({}, "RELU_0_TO_1"),
    "HardSigmoid_torch": ({"alpha": 1 / 6, "beta": 0.5}, "RELU_0_TO_1"),
    "Exp": ({}, "EXP"),
    "Abs": ({}, "ABS"),
    "Neg": ({}, "NEG"),
    "Floor": ({}, "FLOOR"),
    "Ceil": ({}, "CEIL"),
    "Sin": ({}, "SIN"),
    "Cos": ({}, "COS"),
    "Sign": ({}, "SIGN"),
    "Elu": ({}, "ELU"),
}


@pytest.mark.parametrize("name", UNARY)
def test_unary_on_a_feature_map(name: str) -> None:
    kwargs, expected = UNARY[name]
    model = _on_map([node(name.split("_")[0], ["c"], **kwargs)])
    assert expected in op_names(check(model, (1, 2, 5, 6)))


def test_sqrt_and_log_on_positive_values() -> None:
    nodes = [node("Abs", ["c"], ["a"]), node("Add", ["a", "one"], ["p"]),
             node("Sqrt", ["p"], ["s"]), node("Log", ["s"])]  # fmt: skip
    model = _on_map(nodes, extra={"one": np.array([1.0], np.float32)})
    assert {"SQRT", "LOG"} <= set(op_names(check(model, (1, 2, 5, 6))))


@pytest.mark.parametrize(("exponent", "expected"), [(2.0, "SQUARE"), (0.5, "SQRT"), (3.0, "POW")])
def test_pow_by_a_constant(exponent: float, expected: str) -> None:
    nodes = [node("Abs", ["c"], ["a"]), node("Pow", ["a", "e"])]
    model = _on_map(nodes, extra={"e": np.array(exponent, np.float32)})
    assert expected in op_names(check(model, (1, 2, 5, 6), atol=1e-3, rtol=1e-5))


def test_max_min_with_a_broadcast_constant() -> None:
    bound = np.linspace(-0.5, 0.5, 3, dtype=np.float32).reshape(1, 3, 1, 1)
    nodes = [node("Max", ["c", "b"], ["m"]), node("Min", ["m", "x2"])]
    model = _on_map(nodes, extra={"b": bound, "x2": np.float32(0.3).reshape(1)})
    assert {"MAXIMUM", "MINIMUM"} <= set(op_names(check(model, (1, 2, 5, 6))))


@pytest.mark.parametrize("compare", ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"])
def test_comparison_feeding_where(compare: str) -> None:
    """A mask from a comparison selects between two tensors (Where broadcasts a scalar)."""
    nodes = [node("Floor", ["c"], ["f"]), node(compare, ["f", "zero"], ["mask"]),
             node("Where", ["mask", "c", "fill"])]  # fmt: skip
    extra = {"zero": np.zeros(1, np.float32), "fill": np.full(1, -7.0, np.float32)}
    data = check(_on_map(nodes, extra=extra), (1, 2, 5, 6))
    assert "SELECT_V2" in op_names(data)


def test_where_with_a_constant_boolean_mask() -> None:
    mask = np.random.default_rng(3).random((1, 3, 5, 6)) > 0.5
    nodes = [node("Where", ["mask", "c", "zero"])]
    extra = {"mask": mask, "zero": np.zeros(1, np.float32)}
    check(_on_map(nodes, extra=extra), (1, 2, 5, 6))


@pytest.mark.parametrize(
    ("kwargs", "outputs", "split"),
    [
        ({"axis": 1}, ["a", "b", "c3"], [1, 1, 1]),  # equal parts, channels of a feature map
        ({"axis": 3}, ["a", "b"], [2, 4]),  # sizes as an input (opset 13+)
        ({"axis": -1}, ["a", "b"], None),  # default equal halves on the last axis
    ],
)
def test_split(kwargs: dict, outputs: list[str], split: list[int] | None) -> None:
    inputs = ["c"] if split is None else ["c", "sizes"]
    extra = {} if split is None else {"sizes": np.array(split, np.int64)}
    if split == [1, 1, 1]:
        inputs, extra = ["c"], {}
    nodes = [
        node("Split", inputs, outputs, **kwargs),
        node("Concat", outputs[::-1], ["y"], axis=kwargs["axis"]),
    ]
    model = _on_map(nodes, extra=extra)
    assert "SPLIT_V" in op_names(check(model, (1, 2, 5, 6)))


def test_split_with_num_outputs_uneven_opset_18() -> None:
    """num_outputs=2 over 5 columns: 3 then 2, the last part the smaller."""
    nodes = [CONV, node("Split", ["c"], ["a", "b"], axis=3, num_outputs=2),
             node("Concat", ["b", "a"], ["y"], axis=3)]  # fmt: skip
    model = make_model(nodes, (1, 2, 5, 5), {"w": weights(3, 2, 1, 1)}, opset=18)
    check(model, (1, 2, 5, 5))


def _resize(mode: str, coords: str | None, nearest: str | None, scale: float, opset: int = 17):
    attrs = {"mode": mode}
    if coords:
        attrs["coordinate_transformation_mode"] = coords
    if nearest:
        attrs["nearest_mode"] = nearest
    scales = np.array([1, 1, scale, scale], np.float32)
    nodes = [node("Resize", ["c", "", "scales"], **attrs)]
    return _on_map(nodes, (1, 2, 4, 6), extra={"scales": scales})


RESIZES = {
    "default nearest (half_pixel, round_prefer_floor) x2": ("nearest", None, None, 2.0),
    "torch nearest (asymmetric, floor) x2": ("nearest", "asymmetric", "floor", 2.0),
    "nearest align_corners x3": ("nearest", "align_corners", "round_prefer_ceil", 3.0),
    "nearest down x0.5": ("nearest", "asymmetric", "floor", 0.5),
    "default linear (half_pixel) x2": ("linear", None, None, 2.0),
    "torch linear (pytorch_half_pixel) x2": ("linear", "pytorch_half_pixel", None, 2.0),
    "linear align_corners x2": ("linear", "align_corners", None, 2.0),
    "linear asymmetric x3": ("linear", "asymmetric", None, 3.0),
}


@pytest.mark.parametrize("case", RESIZES)
def test_resize(case: str) -> None:
    mode, coords, nearest, scale = RESIZES[case]
    data = check(_resize(mode, coords, nearest, scale), (1, 2, 4, 6), atol=1e-4)
    assert ("RESIZE_BILINEAR" if mode == "linear" else "RESIZE_NEAREST_NEIGHBOR") in op_names(data)


def test_resize_that_picks_other_pixels_is_refused() -> None:
    model = _resize("nearest", "half_pixel", "round_prefer_floor", 0.75)
    with pytest.raises(UnsupportedOpError, match="Resize.*picks other pixels"):
        onnx_to_tflite(model)


def test_cubic_resize_is_refused_with_the_reason() -> None:
    with pytest.raises(UnsupportedOpError, match=r"unsupported on litert: Resize \(mode=cubic"):
        onnx_to_tflite(_resize("cubic", None, None, 2.0))


@pytest.mark.parametrize(
    ("kernel", "stride", "pads", "bias"),
    [(2, 2, [0, 0, 0, 0], True), (4, 2, [1, 1, 1, 1], False), (3, 1, [1, 1, 1, 1], True)],
)
def test_conv_transpose(kernel: int, stride: int, pads: list[int], bias: bool) -> None:
    inputs = ["c", "wt", "bt"] if bias else ["c", "wt"]
    extra = {"wt": weights(3, 4, kernel, kernel, seed=2), "bt": weights(4, seed=3)}
    kwargs = {"strides": [stride, stride], "pads": pads}
    model = _on_map([node("ConvTranspose", inputs, **kwargs)], extra=extra)
    assert "TRANSPOSE_CONV" in op_names(check(model, (1, 2, 5, 6)))


def test_conv_transpose_with_output_padding_litert_cannot_place_is_refused() -> None:
    extra = {"wt": weights(3, 4, 3, 3, seed=2)}
    kwargs = {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]}
    model = _on_map([node("ConvTranspose", ["c", "wt"], **kwargs)], extra=extra)
    with pytest.raises(UnsupportedOpError, match="ConvTranspose.*pads"):
        onnx_to_tflite(model)


def test_an_op_without_a_builtin_names_itself() -> None:
    model = make_model([node("Erf", ["x"])], (1, 4))
    with pytest.raises(UnsupportedOpError, match=r"unsupported on litert: Erf \("):
        onnx_to_tflite(model)


def test_ml_domain_op_is_refused_as_a_custom_domain() -> None:
    graph = helper.make_graph(
        [helper.make_node("Normalizer", ["x"], ["y"], domain="ai.onnx.ml", norm="L2")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
    )  # fmt: skip
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    )
    with pytest.raises(UnsupportedOpError, match="ai.onnx.ml.Normalizer"):
        onnx_to_tflite(model)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_opset_20(approximate: str) -> None:
    model = make_model([CONV, node("Gelu", ["c"], approximate=approximate)], (1, 2, 5, 6),
                       {"w": weights(3, 2, 1, 1)}, opset=20)  # fmt: skip
    assert "GELU" in op_names(check(model, (1, 2, 5, 6), atol=1e-4))


def test_shape_arithmetic_through_ops_without_converters_folds() -> None:
    """Shape -> Gather -> Equal/Where/Range/ReduceProd -> Concat -> Reshape, as exporters write
    a view(): every node on the shape path is computed at conversion time."""
    nodes = [
        CONV,
        node("Shape", ["c"], ["s"]),
        node("Gather", ["s", "zero"], ["n"], axis=0),
        node("Range", ["one", "four", "one"], ["r"]),  # [1, 2, 3]
        node("Gather", ["s", "r"], ["chw"], axis=0),
        node("ReduceProd", ["chw"], ["flat"], keepdims=1),
        node("Equal", ["flat", "zero1"], ["is_zero"]),
        node("Where", ["is_zero", "minus1", "flat"], ["width"]),
        node("Unsqueeze", ["n", "axes"], ["n1"]),
        node("Concat", ["n1", "width"], ["target"], axis=0),
        node("Reshape", ["c", "target"]),
    ]
    ints = {
        "zero": np.array(0, np.int64), "one": np.array(1, np.int64), "four": np.array(4, np.int64),
        "zero1": np.array([0], np.int64), "minus1": np.array([-1], np.int64),
        "axes": np.array([0], np.int64),
    }  # fmt: skip
    model = make_model(nodes, (1, 2, 5, 6), {"w": weights(3, 2, 1, 1), **ints})
    assert op_names(check(model, (1, 2, 5, 6)))[-1] == "RESHAPE"
