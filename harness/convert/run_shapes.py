"""Shapes measured by running the graph, where onnx's shape inference stops.

onnx's inference (with data propagation) follows Shape -> Gather -> Concat -> Reshape, but
not every op on the way: torch's TorchScript exporter writes ShuffleNet's channel shuffle
with a Div of a gathered size, PaddlePaddle's exports compute a recogniser's Reshape from
Mul and Cast. The converter needs a static shape for every tensor at batch 1 (and at
batch 2, to tell which axes follow the batch), so for such a graph every node output is
made a graph output and ONNX Runtime runs it once on zeros at that batch: the shapes it
produces are the shapes.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

Shapes = dict[str, tuple[int, ...]]


def incomplete(model: onnx.ModelProto, shapes: Shapes) -> bool:
    """Some node output has no inferred shape, or an axis of unknown size."""
    return any(
        name and (name not in shapes or any(d < 0 for d in shapes[name]))
        for node in model.graph.node
        for name in node.output
    )


def measured_shapes(model: onnx.ModelProto) -> Shapes:
    """Every node output's shape from one ONNX Runtime run on zeros; {} when the graph does
    not run so (an op ONNX Runtime lacks, inputs that must not be zero)."""
    import onnxruntime as ort

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    graph = copy.graph
    listed = {o.name for o in graph.output}
    for node in graph.node:
        for name in node.output:
            if name and name not in listed:
                graph.output.append(helper.make_empty_tensor_value_info(name))
                listed.add(name)
    initializers = {init.name for init in graph.initializer}
    feeds = {}
    for value in graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        dims = [d.dim_value if d.dim_value > 0 else 1 for d in tensor.shape.dim]
        dtype = helper.tensor_dtype_to_np_dtype(tensor.elem_type)
        feeds[value.name] = np.zeros(dims, dtype)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(
            copy.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        values = session.run(None, feeds)
    except Exception:  # ONNX Runtime raises its own kinds for graphs it cannot run
        return {}
    return {
        out.name: tuple(int(d) for d in np.shape(value))
        for out, value in zip(session.get_outputs(), values, strict=True)
        if isinstance(value, np.ndarray)
    }


def completed(model: onnx.ModelProto, shapes: Shapes) -> Shapes:
    """The inferred shapes, with those inference left open filled in by a run."""
    if not incomplete(model, shapes):
        return shapes
    measured = measured_shapes(model)
    filled = dict(shapes)
    for name, shape in measured.items():
        if name not in filled or any(d < 0 for d in filled[name]):
            filled[name] = shape
    return filled
