"""The converter's second try (harness.convert.tflite.onnx_to_tflite): a graph that does not
convert as it is gets onnxslim's simplification (constant folding, shape inference, nodes
put in topological order), then converts.

The graph here lists its nodes out of order (Add before the Relu that feeds it), as
hand-edited or merged graphs do: onnx's shape inference fails on it, so the first try
fails; onnxslim sorts the nodes and the second try converts.
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


def _unsorted(dynamic_axis: bool = False) -> onnx.ModelProto:
    """x (N, 3, 4) -> Relu -> Add 1, with the Add listed first."""
    dims = ["N", 3, "W"] if dynamic_axis else ["N", 3, 4]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Add", ["r", "one"], ["y"]), helper.make_node("Relu", ["x"], ["r"])]
    one = numpy_helper.from_array(np.array([1.0], np.float32), "one")
    graph = helper.make_graph(nodes, "unsorted", [x], [y], [one])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_the_first_try_fails_and_onnxslim_sorts_the_nodes() -> None:
    model = _unsorted()
    with pytest.raises(ConversionError, match="ONNX shape inference failed"):
        _onnx_to_tflite(model)
    slim = simplified(model)
    assert slim is not None
    assert [n.op_type for n in slim.graph.node] == ["Relu", "Add"]


def test_the_retry_converts_and_matches_onnx_runtime() -> None:
    data = check(_unsorted(), (1, 3, 4))  # batches 1 and 7 against ONNX Runtime
    assert op_names(data) == ["RELU", "ADD"]


def test_a_graph_onnxslim_cannot_fix_keeps_the_first_error() -> None:
    """A dynamic axis other than the batch stays dynamic after simplification."""
    with pytest.raises(ConversionError, match="input 'x' has a dynamic axis 2; only the batch"):
        onnx_to_tflite(_unsorted(dynamic_axis=True))
