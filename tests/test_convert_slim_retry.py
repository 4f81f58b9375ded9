"""The converter's second try (harness.convert.tflite.onnx_to_tflite): a graph that does not
convert as it is gets onnxslim's constant folding and shape inference, then converts.

The graph here computes a Reshape's target shape from float constants (Mul, then Cast to
int64): onnx's shape inference does not propagate values through a float Mul, so the
Reshape's output has no static shape and the first try fails; onnxslim folds the shape into
a constant and the second try converts.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.convert.folding import simplified
from harness.convert.tflite import _onnx_to_tflite, onnx_to_tflite
from harness.errors import ConversionError
from tests.helpers.litert import check, op_names


def _float_computed_reshape() -> onnx.ModelProto:
    """x (N, 3, 4) -> Reshape(x, Cast([0, 6] * [1, 2])) = (N, 12) -> Relu."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    inits = [numpy_helper.from_array(np.array([0.0, 6.0], np.float32), "a"),
             numpy_helper.from_array(np.array([1.0, 2.0], np.float32), "b")]  # fmt: skip
    nodes = [
        helper.make_node("Mul", ["a", "b"], ["m"]),
        helper.make_node("Cast", ["m"], ["shape"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("Relu", ["r"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "float_shape", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_the_first_try_fails_and_onnxslim_folds_the_shape() -> None:
    model = _float_computed_reshape()
    with pytest.raises(ConversionError, match="could not infer a static shape for 'r'"):
        _onnx_to_tflite(model)
    slim = simplified(model)
    assert slim is not None
    assert [n.op_type for n in slim.graph.node] == ["Reshape", "Relu"]


def test_the_retry_converts_and_matches_onnx_runtime() -> None:
    data = check(_float_computed_reshape(), (1, 3, 4))  # batches 1 and 7 against ORT
    assert op_names(data) == ["RESHAPE", "RELU"]


def test_a_graph_onnxslim_cannot_fix_keeps_the_first_error() -> None:
    """A dynamic axis other than the batch stays dynamic after simplification."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(ConversionError, match="input 'x' has a dynamic axis 2; only the batch"):
        onnx_to_tflite(model)
