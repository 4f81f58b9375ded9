"""LayerNormalization written out as the ops LiteRT has (harness/convert/decompose.py),
against ONNX Runtime on small random graphs: default attributes, the axes and epsilon
exporters write, with and without a bias, at the opsets before and after ReduceMean took
its axes as an input; and the exact GELU written around an Erf (TorchScript's export of
nn.GELU) found and converted as one GELU op."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

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


SQRT2 = np.float32(np.sqrt(2))


def _gelu_nodes(variant: str) -> tuple[list, dict]:
    """x * 0.5 * (1 + erf(x / sqrt 2)) in the orders exporters write it."""
    scale = (node("Div", ["r", "s2"], ["u"]) if variant != "mul by 1/sqrt2"
             else node("Mul", ["r", "inv"], ["u"]))  # fmt: skip
    head = [node("Conv", ["x", "w"], ["r"]), scale, node("Erf", ["u"], ["e"]),
            node("Add", ["e", "one"], ["p"])]  # fmt: skip
    if variant == "half first":
        tail = [node("Mul", ["r", "half"], ["h"]), node("Mul", ["h", "p"])]
    else:
        tail = [node("Mul", ["r", "p"], ["m"]), node("Mul", ["m", "half"])]
    if variant == "constants placed late":  # TorchScript puts each Constant by its reader
        one = helper.make_node("Constant", [], ["one_late"], value=helper.make_tensor(
            "v", TensorProto.FLOAT, [], [1.0]))  # fmt: skip
        head[3] = node("Add", ["e", "one_late"], ["p"])
        head.insert(3, one)
    consts = {"s2": SQRT2, "inv": np.float32(1 / SQRT2), "one": np.float32(1.0),
              "half": np.float32(0.5), "w": weights(3, 2, 1, 1)}  # fmt: skip
    return head + tail, consts


@pytest.mark.parametrize(
    "variant", ["torchscript", "half first", "mul by 1/sqrt2", "constants placed late"]
)
def test_an_exact_gelu_written_with_erf_becomes_one_gelu(variant: str) -> None:
    nodes, consts = _gelu_nodes(variant)
    model = make_model(nodes, (1, 2, 5, 6), {k: np.asarray(v) for k, v in consts.items()})
    ops = op_names(check(model, (1, 2, 5, 6), atol=1e-5))
    assert "GELU" in ops and ops.count("MUL") <= 1


def test_an_erf_outside_a_gelu_is_unsupported() -> None:
    model = make_model([node("Erf", ["x"])], SHAPE)
    with pytest.raises(UnsupportedOpError, match="Erf .*only erf inside an exact GELU"):
        onnx_to_tflite(model)
