"""If and Loop decided before running (harness/convert/control_flow.py) convert as straight
lines and match ONNX Runtime; those the input data decides are refused with the reason."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.convert.control_flow import MAX_ITERATIONS
from harness.convert.tflite import onnx_to_tflite
from harness.errors import UnsupportedOpError
from tests.helpers.litert import check, make_model, node, op_names, weights

SHAPE = (1, 4, 3)


def _branch(name: str, op: str, out: str) -> onnx.GraphProto:
    """A branch reading the outer graph's `r` and a weight of its own."""
    w = numpy_helper.from_array(weights(3, 3, seed=len(name)), f"{name}_w")
    return helper.make_graph(
        [node("MatMul", ["r", w.name], [f"{name}_m"]), node(op, [f"{name}_m"], [out])],
        name, [], [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], [w],
    )  # fmt: skip


def _if_model(cond_nodes: list[onnx.NodeProto], inits: dict | None = None) -> onnx.ModelProto:
    branches = {
        "then_branch": _branch("then", "Tanh", "t"),
        "else_branch": _branch("else", "Abs", "e"),
    }
    nodes = [node("Sigmoid", ["x"], ["r"]), *cond_nodes, node("If", ["cond"], **branches)]
    return make_model(nodes, SHAPE, inits)


@pytest.mark.parametrize("flag", [True, False])
def test_an_if_on_a_constant_takes_its_branch(flag: bool) -> None:
    model = _if_model([helper.make_node("Constant", [], ["cond"], value=helper.make_tensor(
        "c", TensorProto.BOOL, [], [flag]))])  # fmt: skip
    ops = op_names(check(model, SHAPE))
    assert ("TANH" in ops) == flag and ("ABS" in ops) != flag and "WHILE" not in ops


def test_an_if_on_a_static_side_of_the_input_converts() -> None:
    """TorchScript's `if x.size(1) == 4`: the side is static though the batch is not."""
    cond = [node("Shape", ["x"], ["s"]), node("Gather", ["s", "one"], ["side"], axis=0),
            node("Equal", ["side", "four"], ["cond"])]  # fmt: skip
    inits = {"one": np.array(1, np.int64), "four": np.array(4, np.int64)}
    assert "TANH" in op_names(check(_if_model(cond, inits), SHAPE))


def test_an_if_on_the_data_is_unsupported_with_the_reason() -> None:
    cond = [
        node("ReduceSum", ["x"], ["total"], keepdims=0),
        node("Greater", ["total", "zero"], ["cond"]),
    ]
    model = _if_model(cond, {"zero": np.array(0.0, np.float32)})
    with pytest.raises(UnsupportedOpError, match="If .*condition depends on the input data"):
        onnx_to_tflite(model)


def _loop_model(trips: list[onnx.NodeProto], count: str, cond_out: list[onnx.NodeProto],
                inits: dict | None = None) -> onnx.ModelProto:  # fmt: skip
    """A Loop carrying h = tanh(h W + i) and scanning each h; y = the last h + the scans' sum."""
    w = numpy_helper.from_array(weights(3, 3, seed=5), "w")
    body = helper.make_graph(
        [node("Cast", ["i"], ["fi"], to=TensorProto.FLOAT), node("MatMul", ["h_in", "w"], ["m"]),
         node("Add", ["m", "fi"], ["a"]), node("Tanh", ["a"], ["h_out"]),
         node("Identity", ["h_out"], ["scan"]), *cond_out],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_in", TensorProto.FLOAT, ["N", 4, 3])],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in
         (("c_out", TensorProto.BOOL, []), ("h_out", TensorProto.FLOAT, ["N", 4, 3]),
          ("scan", TensorProto.FLOAT, ["N", 4, 3]))],
        [w],
    )  # fmt: skip
    nodes = [node("Sigmoid", ["x"], ["h0"]), *trips,
             node("Loop", [count, "", "h0"], ["h", "scans"], body=body),
             node("ReduceSum", ["scans", "zero_axis"], ["total"], keepdims=0),
             node("Add", ["h", "total"])]  # fmt: skip
    inits = {"zero_axis": np.array([0], np.int64), **(inits or {})}
    graph = helper.make_graph(  # onnx infers no shape through a Loop: y's is declared
        nodes, "loop", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 3])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


KEEP_GOING = [node("Identity", ["c_in"], ["c_out"])]


def test_a_loop_of_a_constant_count_unrolls() -> None:
    model = _loop_model([], "n", KEEP_GOING, {"n": np.array(3, np.int64)})
    ops = op_names(check(model, SHAPE, atol=1e-4))
    assert ops.count("TANH") == 3 and "WHILE" not in ops


def test_a_loop_counted_from_a_static_side_unrolls() -> None:
    trips = [node("Shape", ["x"], ["s"]), node("Gather", ["s", "two"], ["n"], axis=0)]
    model = _loop_model(trips, "n", KEEP_GOING, {"two": np.array(2, np.int64)})
    assert op_names(check(model, SHAPE)).count("TANH") == 3


@pytest.mark.parametrize(
    ("trips", "cond_out", "inits"),
    [
        ([node("ReduceMax", ["x"], ["mx"], keepdims=0), node("Cast", ["mx"], ["n"], to=TensorProto.INT64)],
         KEEP_GOING, {}),
        ([], [node("Less", ["i", "two"], ["c_out"])], {"n": np.array(3, np.int64), "two": np.array(2, np.int64)}),
        ([], KEEP_GOING, {"n": np.array(MAX_ITERATIONS + 1, np.int64)}),
    ],
    ids=["count from the data", "stops itself", "too many iterations"],
)  # fmt: skip
def test_a_loop_decided_at_run_time_is_unsupported(trips, cond_out, inits) -> None:
    model = _loop_model(trips, "n", cond_out, inits)
    with pytest.raises(UnsupportedOpError, match="Loop .*trip count or stop condition"):
        onnx_to_tflite(model)
