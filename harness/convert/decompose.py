"""ONNX ops with no LiteRT builtin written as the ops the converter has, before conversion.

LayerNormalization (opset 17; torch's dynamo exporter writes it for every transformer and
ConvNeXt block) is ReduceMean, Sub, Mul, Add, Sqrt and Div, as ONNX's own function body
defines it, so the result is the same computation in float32.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from harness.convert.tflite_context import unsupported


def _attr(node: onnx.NodeProto, name: str, default: Any) -> Any:
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _rank(model: onnx.ModelProto, name: str) -> int:
    inferred = onnx.shape_inference.infer_shapes(model)
    for value in [*inferred.graph.input, *inferred.graph.value_info]:
        if value.name == name and value.type.tensor_type.HasField("shape"):
            return len(value.type.tensor_type.shape.dim)
    return 0


def _layer_norm(
    node: onnx.NodeProto, axes: list[int], opset: int
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    p = f"{node.name or node.output[0]}/"
    inits = [
        numpy_helper.from_array(np.array(_attr(node, "epsilon", 1e-5), np.float32), p + "eps"),
        numpy_helper.from_array(np.array(axes, np.int64), p + "axes"),
    ]

    def mean(x: str, out: str) -> onnx.NodeProto:
        if opset >= 18:
            return helper.make_node("ReduceMean", [x, p + "axes"], [out], keepdims=1)
        return helper.make_node("ReduceMean", [x], [out], axes=axes, keepdims=1)

    x = node.input[0]
    nodes = [
        mean(x, p + "mean"),
        helper.make_node("Sub", [x, p + "mean"], [p + "d"]),
        helper.make_node("Mul", [p + "d", p + "d"], [p + "d2"]),
        mean(p + "d2", p + "var"),
        helper.make_node("Add", [p + "var", p + "eps"], [p + "ve"]),
        helper.make_node("Sqrt", [p + "ve"], [p + "std"]),
        helper.make_node("Div", [p + "d", p + "std"], [p + "n"]),
    ]
    bias = node.input[2] if len(node.input) > 2 and node.input[2] else ""
    scaled = p + "scaled" if bias else node.output[0]
    nodes.append(helper.make_node("Mul", [p + "n", node.input[1]], [scaled]))
    if bias:
        nodes.append(helper.make_node("Add", [scaled, bias], [node.output[0]]))
    if len(node.output) > 1 and node.output[1]:
        nodes.append(helper.make_node("Identity", [p + "mean"], [node.output[1]]))
    if len(node.output) > 2 and node.output[2]:
        inits.append(numpy_helper.from_array(np.ones((), np.float32), p + "one"))
        nodes.append(helper.make_node("Div", [p + "one", p + "std"], [node.output[2]]))
    return nodes, inits


def decomposed(model: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    """The model with every LayerNormalization of its main graph written out; the model
    itself when it has none."""
    if not any(n.op_type == "LayerNormalization" for n in model.graph.node):
        return model
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    nodes: list[onnx.NodeProto] = []
    for n in copy.graph.node:
        if n.op_type != "LayerNormalization":
            nodes.append(n)
            continue
        axis = int(_attr(n, "axis", -1))
        if axis >= 0:  # the normalized axes run from `axis` to the last
            axis -= _rank(model, n.input[0])
        if axis >= 0:
            raise unsupported(n, "the rank of its input is not known")
        new_nodes, inits = _layer_norm(n, list(range(axis, 0)), opset)
        nodes.extend(new_nodes)
        copy.graph.initializer.extend(inits)
    del copy.graph.node[:]
    copy.graph.node.extend(nodes)
    return copy
