"""1-D convolution and pooling as their 2-D forms, before conversion to LiteRT.

Audio and sequence models (voice-activity detectors, wake-word and keyword spotters, CTC
recognisers) are built from Conv1d/MaxPool1d over (N, C, L) tensors; LiteRT's builtins are
2-D. Each such node becomes Unsqueeze (N, C, 1, L) -> the 2-D op with a kernel of height 1
-> Squeeze, an exact rewrite in ONNX itself (the weight's Unsqueeze folds at conversion),
so the converter's own Conv/pool converters, pads and checks apply unchanged.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from harness.convert.tflite_context import attrs

OPS = ("Conv", "MaxPool", "AveragePool")


def _is_1d(node: onnx.NodeProto, weight_ranks: dict[str, int]) -> bool:
    """A 1-D op: its kernel_shape has one entry, or (a Conv without one) its weight has
    rank 3."""
    if node.op_type not in OPS:
        return False
    kernel = attrs(node).get("kernel_shape")
    if kernel is None and node.op_type == "Conv" and len(node.input) > 1:
        return weight_ranks.get(node.input[1]) == 3
    return kernel is not None and len(kernel) == 1


def _unsqueezed_attrs(node: onnx.NodeProto) -> dict:
    """The node's attributes for a kernel of height 1 on a height-1 map."""
    out = {}
    for name, value in attrs(node).items():
        if name in ("kernel_shape", "strides", "dilations"):
            value = [1, *value]
        elif name == "pads":
            value = [0, value[0], 0, value[1]]
        out[name] = value
    return out


def _axes(graph: onnx.GraphProto, name: str, opset: int) -> tuple[list[str], dict]:
    """Inputs and attributes that give Unsqueeze/Squeeze axis 2 at this opset."""
    if opset < 13:
        return [], {"axes": [2]}
    if not any(init.name == name for init in graph.initializer):
        graph.initializer.append(numpy_helper.from_array(np.array([2], np.int64), name))
    return [name], {}


def as_2d(model: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    """A copy with every 1-D Conv/MaxPool/AveragePool written as the 2-D op between an
    Unsqueeze and a Squeeze of axis 2; the model itself when it has none."""
    ranks = {init.name: len(init.dims) for init in model.graph.initializer}
    if not any(_is_1d(n, ranks) for n in model.graph.node):
        return model
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    graph = copy.graph
    axes_in, axes_attr = _axes(graph, "as_2d_axis2", opset)
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        if not _is_1d(node, ranks):
            nodes.append(node)
            continue
        tag = node.output[0]
        inputs = list(node.input)
        for i in (0, 1) if node.op_type == "Conv" else (0,):  # the data, and Conv's weight
            wide = f"{tag}_as_2d_in{i}"
            nodes.append(helper.make_node("Unsqueeze", [inputs[i], *axes_in], [wide], **axes_attr))
            inputs[i] = wide
        wide_out = f"{tag}_as_2d_out"
        outputs = [wide_out, *node.output[1:]]
        nodes.append(helper.make_node(node.op_type, inputs, outputs, name=node.name,
                                      **_unsqueezed_attrs(node)))  # fmt: skip
        nodes.append(helper.make_node("Squeeze", [wide_out, *axes_in], [node.output[0]],
                                      **axes_attr))  # fmt: skip
    del graph.node[:]
    graph.node.extend(nodes)
    return copy
