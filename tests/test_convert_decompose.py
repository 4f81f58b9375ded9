"""LayerNormalization written out as the ops LiteRT has (harness/convert/decompose.py),
against ONNX Runtime on small random graphs: default attributes, the axes and epsilon
exporters write, with and without a bias, at the opsets before and after ReduceMean took
its axes as an input."""

from __future__ import annotations

import pytest
from onnx import helper

from harness.convert.decompose import decomposed
from harness.convert.tflite import onnx_to_tflite
from harness.errors import UnsupportedOpError
from tests.helpers.litert import check, make_model, node, op_names, weights

SHAPE = (1, 4, 6)


@pytest.mark.parametrize("opset", [17, 18])
@pytest.mark.parametrize(
    ("attributes", "bias", "side"),
    [({}, True, (6,)), ({"axis": -2, "epsilon": 1e-3}, False, (4, 6)), ({"axis": 2}, True, (6,))],
    ids=["defaults", "two axes, no bias", "positive axis"],
)
def test_layer_normalization_matches_onnx_runtime(opset, attributes, bias, side) -> None:
    inputs = ["r", "s", *(["b"] if bias else [])]
    ln = helper.make_node("LayerNormalization", inputs, ["y"], **attributes)
    inits = {"s": weights(*side, seed=1), **({"b": weights(*side, seed=2)} if bias else {})}
    model = make_model([node("Relu", ["x"], ["r"]), ln], SHAPE, inits, opset=opset)
    ops = op_names(check(model, SHAPE))
    assert ops.count("MEAN") == 2 and "SQRT" in ops


def test_layer_normalization_of_unknown_rank_is_unsupported() -> None:
    ln = helper.make_node("LayerNormalization", ["r", "s"], ["y"], axis=1)
    model = make_model([node("Relu", ["x"], ["r"]), ln], SHAPE, {"s": weights(4, 6)})
    assert onnx_to_tflite(model)  # with the rank known it converts
    del model.graph.value_info[:]
    model.graph.input[0].type.tensor_type.ClearField("shape")  # the rank is hidden
    with pytest.raises(UnsupportedOpError, match="rank of its input is not known"):
        decomposed(model, 17)
