"""Weights held in Constant nodes (PaddlePaddle's exports, torch's older exporter for some
ops) become initializers before any pass runs, so every pass sees them as the weights
they are; and a pass that leaves the graph as it found it is reported as changing nothing.
"""

from __future__ import annotations

import onnx
from onnx import helper, numpy_helper

from harness.compress.graph import rebuilt

__all__ = ["constants_as_initializers", "same_graph"]

# Constant attributes that hold a tensor value, and how to read it.
_VALUE_ATTRS = ("value", "value_float", "value_floats", "value_int", "value_ints")


def constants_as_initializers(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy where each Constant node of the main graph that holds a numeric tensor is an
    initializer of the same name (same values, so the same model), and without value_info
    entries for initializers (torch's dynamo exporter writes them; a pass that reshapes a
    weight would leave them contradicting it, and the initializer carries its shape)."""
    outputs = {o.name for o in model.graph.output}
    moved, kept = [], []
    for node in model.graph.node:
        attribute = node.attribute[0] if len(node.attribute) == 1 else None
        if (
            node.op_type == "Constant"
            and node.domain in ("", "ai.onnx")
            and attribute is not None
            and attribute.name in _VALUE_ATTRS
            and node.output[0] not in outputs
        ):
            array = numpy_helper.to_array(attribute.t) if attribute.name == "value" else None
            if array is None:
                import numpy as np

                value = helper.get_attribute_value(attribute)
                dtype = np.float32 if "float" in attribute.name else np.int64
                array = np.asarray(value, dtype=dtype)
            moved.append(numpy_helper.from_array(array, node.output[0]))
        else:
            kept.append(node)
    weights = {i.name for i in model.graph.initializer} | {t.name for t in moved}
    described = [v for v in model.graph.value_info if v.name not in weights]
    if not moved and len(described) == len(model.graph.value_info):
        return model
    copy = rebuilt(model, kept, moved)
    del copy.graph.value_info[:]
    copy.graph.value_info.extend(described)
    return copy


def same_graph(before: onnx.ModelProto, after: onnx.ModelProto) -> bool:
    """True when a pass returned the graph unchanged (nodes, weights, inputs, outputs)."""
    return before.graph.SerializeToString(deterministic=True) == after.graph.SerializeToString(
        deterministic=True
    )
