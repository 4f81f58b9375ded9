"""Fake-quantize activations in a graph: a QuantizeLinear -> DequantizeLinear pair (int8,
per tensor, given scale and zero point) in front of chosen nodes' data inputs.

This is how a QDQ model says "this tensor is int8 with these parameters"; ONNX Runtime
and the LiteRT converter (QUANTIZE/DEQUANTIZE) both read it. Quantization-aware training
learns the parameters and writes them here; weights are stored by the `quantize` pass.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx
from onnx import helper, numpy_helper

from harness.compress.graph import Names, copy_model, require_opset, set_nodes

__all__ = ["insert_activation_qdq"]

QDQ_OPSET = 13  # QuantizeLinear/DequantizeLinear with the current semantics


def insert_activation_qdq(
    model: onnx.ModelProto, params: Mapping[int, tuple[float, int]]
) -> onnx.ModelProto:
    """A copy of `model` where input 0 of node `i` (for each i in `params`) is read
    through QuantizeLinear/DequantizeLinear with (scale, int8 zero point) = params[i]."""
    work, _ = require_opset(model, QDQ_OPSET)
    if work is model:
        work = copy_model(model)
    graph = work.graph
    names = Names(graph)
    nodes = list(graph.node)
    out: list[onnx.NodeProto] = []
    for i, node in enumerate(nodes):
        if i in params:
            scale, zero_point = params[i]
            source = node.input[0]
            s = numpy_helper.from_array(np.array(scale, np.float32), names.fresh(f"{source}_scale"))
            z = numpy_helper.from_array(
                np.array(zero_point, np.int8), names.fresh(f"{source}_zero_point")
            )
            graph.initializer.extend([s, z])
            q, dq = names.fresh(f"{source}_quantized"), names.fresh(f"{source}_dequantized")
            out.append(
                helper.make_node(
                    "QuantizeLinear", [source, s.name, z.name], [q], name=names.fresh(f"{q}_q")
                )
            )
            out.append(
                helper.make_node(
                    "DequantizeLinear", [q, s.name, z.name], [dq], name=names.fresh(f"{dq}_dq")
                )
            )
            node.input[0] = dq
        out.append(node)
    set_nodes(graph, out)
    return work
