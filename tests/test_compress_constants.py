"""Constant-node weights are compressed like initializers; a pass that changes nothing says so."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from harness.compress import PASSES, apply_chain
from harness.compress.base import PassContext
from harness.compress.constants import constants_as_initializers


def _constant_weights_model() -> onnx.ModelProto:
    """A Paddle-style graph: the Gemm weights and bias are Constant nodes, not initializers."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(16, 32)).astype(np.float32)
    b = rng.normal(size=(16,)).astype(np.float32)
    nodes = [
        helper.make_node("Constant", [], ["w"], value=numpy_helper.from_array(w)),
        helper.make_node("Constant", [], ["b"], value=numpy_helper.from_array(b)),
        helper.make_node("Constant", [], ["k"], value_float=0.5),
        helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1),
        helper.make_node("Mul", ["g", "k"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "paddle_like",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [-1, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [-1, 16])],
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_constant_nodes_become_initializers_with_the_same_outputs() -> None:
    model = _constant_weights_model()
    moved = constants_as_initializers(model)
    assert [n.op_type for n in moved.graph.node] == ["Gemm", "Mul"]
    assert sorted(i.name for i in moved.graph.initializer) == ["b", "k", "w"]
    x = np.random.default_rng(1).normal(size=(5, 32)).astype(np.float32)
    np.testing.assert_array_equal(_run(model, x), _run(moved, x))
    assert len(model.graph.node) == 5  # the input model is not mutated


def test_int8_quantizes_constant_node_weights() -> None:
    model = _constant_weights_model()
    quantize = PASSES.get("quantize").from_params({"bits": 8})
    compressed, notes = apply_chain(model, [quantize], PassContext())
    stored = {i.name: i.data_type for i in compressed.graph.initializer}
    assert TensorProto.INT8 in stored.values()
    assert "unchanged" not in notes[0]
    assert len(compressed.SerializeToString()) < len(model.SerializeToString()) / 2


def test_a_pass_that_changes_nothing_is_marked_unchanged_with_the_reason() -> None:
    """SVD that keeps the output layer whole, on a model whose only layer is the output."""
    model = _constant_weights_model()
    svd = PASSES.get("svd").from_params({"rank_ratio": 0.5, "keep_output": True})
    _, notes = apply_chain(model, [svd], PassContext())
    assert notes[0]["unchanged"] == (
        "svd 50% keep out changed nothing: 1 layer(s) left whole (output layer kept whole "
        "(keep_output))"
    )


def test_structured_pruning_ignores_value_info_written_for_weights() -> None:
    """torch's dynamo exporter lists each weight in value_info; pruning the weight must
    not leave that entry contradicting it."""
    rng = np.random.default_rng(2)
    w1 = rng.normal(size=(8, 3, 3, 3)).astype(np.float32)
    w2 = rng.normal(size=(4, 8, 1, 1)).astype(np.float32)
    w3 = rng.normal(size=(2, 4)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"]),
        helper.make_node("GlobalAveragePool", ["c2"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "w3"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "dynamo_like",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(a, n) for n, a in (("w1", w1), ("w2", w2), ("w3", w3))],
        value_info=[helper.make_tensor_value_info(n, TensorProto.FLOAT, list(a.shape))
                    for n, a in (("w1", w1), ("w2", w2), ("w3", w3))],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    prune = PASSES.get("prune").from_params({"ratio": 0.5, "structured": True})
    calibration = rng.normal(size=(2, 3, 6, 6)).astype(np.float32)
    compressed, notes = apply_chain(model, [prune], PassContext(calibration, "x"))
    shapes = {i.name: tuple(i.dims) for i in compressed.graph.initializer}
    kept = shapes["w1"][0]
    assert kept < 8 and shapes["w2"][1] == kept  # fewer channels, consistently
    assert {v.name for v in compressed.graph.value_info}.isdisjoint(shapes)
    assert "unchanged" not in notes[0]
