"""ONNX graph helpers shared by the passes: find the weight matrices and kernels of
Conv/Gemm/MatMul layers, read and replace constants, keep names unique, bump the opset.

Passes edit a private copy (`copy_model`) and never the caller's model.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, MutableSequence, Sequence
from typing import TypeGuard, TypeVar

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from harness.errors import CompressionError

__all__ = [
    "DEFAULT_DOMAINS",
    "Names",
    "attr",
    "const_value",
    "consumers",
    "copy_model",
    "default_opset",
    "drop_unused",
    "drop_value_info",
    "graph_inputs",
    "initializer_index",
    "int_attr",
    "is_static",
    "node_label",
    "producers",
    "remove_initializers",
    "require_opset",
    "set_attr",
    "set_initializer",
    "set_nodes",
    "subgraph_reads",
    "tensor_shapes",
    "unique_labels",
]

DEFAULT_DOMAINS = ("", "ai.onnx")
Shapes = dict[str, tuple[int | None, ...]]
# The repeated message fields _replace rebuilds (onnx's protobuf containers are untyped).
_Proto = TypeVar("_Proto", onnx.TensorProto, onnx.ValueInfoProto)


def copy_model(model: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def rebuilt(
    model: onnx.ModelProto, nodes: Iterable[onnx.NodeProto], added: Iterable[onnx.TensorProto]
) -> onnx.ModelProto:
    """A copy of `model` whose graph runs `nodes` and holds `added` beside its initializers:
    the shape of every rewrite that replaces nodes by precomputed weights."""
    out = copy_model(model)
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    out.graph.initializer.extend(added)
    return out


def node_label(node: onnx.NodeProto, index: int) -> str:
    """The name notes use for a node: its own name, else op and first output."""
    if node.name:
        return node.name
    return f"{node.op_type}:{node.output[0]}" if node.output else f"{node.op_type}#{index}"


def attr(node: onnx.NodeProto, name: str, default: object = None) -> object:
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def int_attr(node: onnx.NodeProto, name: str, default: int) -> int:
    """An INT attribute, or `default` when absent; a value of another type is a broken model."""
    value = attr(node, name, default)
    if not isinstance(value, int):
        raise CompressionError(f"attribute '{name}' of {node.op_type} is not an integer")
    return value


def set_attr(node: onnx.NodeProto, name: str, value: object) -> None:
    for i, a in enumerate(node.attribute):
        if a.name == name:
            del node.attribute[i]
            break
    node.attribute.append(helper.make_attribute(name, value))


def default_opset(model: onnx.ModelProto) -> int:
    for op in model.opset_import:
        if op.domain in DEFAULT_DOMAINS:
            return op.version
    return 1


def require_opset(model: onnx.ModelProto, version: int) -> tuple[onnx.ModelProto, int | None]:
    """The model at opset >= `version` (via onnx's version converter, which rewrites ops whose
    signature changed, e.g. ReduceMean's axes) and the opset it came from, or None if it was
    already new enough. Raises CompressionError when the converter cannot do it."""
    current = default_opset(model)
    if current >= version:
        return model, None
    try:
        converted = onnx.version_converter.convert_version(model, version)
    except Exception as exc:  # the converter raises bare RuntimeErrors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CompressionError(
            f"needs opset {version} but the model is opset {current} and cannot be converted: {first}"
        ) from None
    # The converter keeps the IR version; newer opsets (and INT4 tensors) need a newer one.
    needed = helper.find_min_ir_version_for(list(converted.opset_import), ignore_unknown=True)
    converted.ir_version = max(converted.ir_version, needed, 10 if version >= 21 else 0)
    return converted, current


def graph_inputs(graph: onnx.GraphProto) -> list[onnx.ValueInfoProto]:
    """The inputs a caller feeds: not the initializers old exporters also list as inputs."""
    inits = {t.name for t in graph.initializer}
    return [v for v in graph.input if v.name not in inits]


def initializer_index(graph: onnx.GraphProto) -> dict[str, int]:
    return {t.name: i for i, t in enumerate(graph.initializer)}


def set_initializer(graph: onnx.GraphProto, name: str, array: np.ndarray) -> None:
    """Replace (or add) the initializer `name` with `array`, keeping its dtype as given.

    Old exporters also list initializers as graph inputs: their declared shape follows.
    """
    tensor = numpy_helper.from_array(np.asarray(array), name)
    for v in graph.input:
        if v.name == name and v.type.HasField("tensor_type"):
            v.type.CopyFrom(helper.make_tensor_type_proto(tensor.data_type, list(tensor.dims)))
    for t in graph.initializer:
        if t.name == name:
            t.CopyFrom(tensor)
            return
    graph.initializer.append(tensor)


def const_value(graph: onnx.GraphProto, name: str) -> np.ndarray | None:
    """The value of an initializer or a Constant node's output, else None."""
    for t in graph.initializer:
        if t.name == name:
            return numpy_helper.to_array(t)
    for node in graph.node:
        if node.op_type == "Constant" and node.output and node.output[0] == name:
            value = attr(node, "value")
            if isinstance(value, TensorProto):
                return numpy_helper.to_array(value)
            return None
    return None


def consumers(graph: onnx.GraphProto) -> dict[str, list[tuple[int, int]]]:
    """tensor name -> [(node index, input position)] over the main graph."""
    out: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for i, node in enumerate(graph.node):
        for j, name in enumerate(node.input):
            if name:
                out[name].append((i, j))
    return out


def producers(graph: onnx.GraphProto) -> dict[str, int]:
    return {name: i for i, node in enumerate(graph.node) for name in node.output if name}


def subgraph_reads(graph: onnx.GraphProto) -> set[str]:
    """Names read inside If/Loop/Scan bodies (they must never be dropped or renamed)."""
    names: set[str] = set()
    for node in graph.node:
        for a in node.attribute:
            for g in [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs):
                for n in g.node:
                    names.update(n.input)
                names.update(subgraph_reads(g))
    return names


class Names:
    """Hands out tensor/node names that collide with nothing in the model."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        used = {t.name for t in graph.initializer} | {v.name for v in graph.input}
        used |= {v.name for v in graph.output} | {v.name for v in graph.value_info}
        for node in graph.node:
            used.update(node.input)
            used.update(node.output)
            used.add(node.name)
        self.used = used

    def fresh(self, base: str) -> str:
        name, i = base, 1
        while name in self.used:
            name, i = f"{base}_{i}", i + 1
        self.used.add(name)
        return name


def set_nodes(graph: onnx.GraphProto, nodes: Iterable[onnx.NodeProto]) -> None:
    """Replace the node list (copies first: `nodes` may reference graph.node itself)."""
    copies = []
    for node in nodes:
        c = onnx.NodeProto()
        c.CopyFrom(node)
        copies.append(c)
    del graph.node[:]
    graph.node.extend(copies)


def drop_unused(graph: onnx.GraphProto) -> None:
    """Remove initializers and Constant nodes that nothing reads any more."""
    while True:
        read = {name for node in graph.node for name in node.input}
        read |= {v.name for v in graph.output} | subgraph_reads(graph)
        dead_consts = [
            i
            for i, n in enumerate(graph.node)
            if n.op_type == "Constant" and n.output[0] not in read
        ]
        dead_inits = [t.name for t in graph.initializer if t.name not in read]
        if not dead_consts and not dead_inits:
            return
        if dead_consts:
            set_nodes(graph, [n for i, n in enumerate(graph.node) if i not in set(dead_consts)])
        if dead_inits:
            dead = set(dead_inits)
            remove_initializers(graph, dead)


def _replace(field: MutableSequence[_Proto], items: Sequence[_Proto]) -> None:
    copies = []
    for item in items:
        c = type(item)()
        c.CopyFrom(item)
        copies.append(c)
    del field[:]
    field.extend(copies)


def remove_initializers(graph: onnx.GraphProto, names: Iterable[str]) -> None:
    """Delete initializers (and graph inputs of the same name, as old exporters list them)."""
    gone = set(names)
    _replace(graph.initializer, [t for t in graph.initializer if t.name not in gone])
    _replace(graph.input, [v for v in graph.input if v.name not in gone])


def drop_value_info(graph: onnx.GraphProto, names: Iterable[str]) -> None:
    """Forget stale shape annotations of tensors whose shape a pass changed."""
    stale = set(names)
    keep = [v for v in graph.value_info if v.name not in stale]
    if len(keep) != len(graph.value_info):
        _replace(graph.value_info, keep)


def is_static(shape: tuple[int | None, ...] | None) -> TypeGuard[tuple[int, ...]]:
    """Whether a shape from tensor_shapes is known in every dimension."""
    return shape is not None and all(d is not None for d in shape)


def tensor_shapes(model: onnx.ModelProto) -> Shapes:
    """Inferred shape of every tensor (None for unknown dims), for batch 1: every symbolic
    input dimension is fixed to 1 before inference."""
    m = copy_model(model)
    inits = {t.name for t in m.graph.initializer}
    for v in m.graph.input:
        if v.name in inits or not v.type.HasField("tensor_type"):
            continue
        for d in v.type.tensor_type.shape.dim:
            if d.dim_value <= 0:  # symbolic, or -1 as PaddlePaddle writes a dynamic axis
                d.Clear()
                d.dim_value = 1
    try:
        m = onnx.shape_inference.infer_shapes(m, strict_mode=False, data_prop=True)
    except Exception:  # a model onnx cannot infer still has its declared shapes
        pass
    shapes: Shapes = {}
    values = list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output)
    for v in values:
        if v.type.HasField("tensor_type") and v.type.tensor_type.HasField("shape"):
            dims = v.type.tensor_type.shape.dim
            shapes[v.name] = tuple(d.dim_value if d.dim_value > 0 else None for d in dims)
    for t in m.graph.initializer:
        shapes[t.name] = tuple(t.dims)
    return shapes


def unique_labels(graph: onnx.GraphProto) -> list[str]:
    """node_label of every node, with '#index' added where node names repeat (ONNX allows it),
    so notes keyed by label never collide."""
    labels = [node_label(n, i) for i, n in enumerate(graph.node)]
    counts: dict[str, int] = defaultdict(int)
    for label in labels:
        counts[label] += 1
    return [f"{lb}#{i}" if counts[lb] > 1 else lb for i, lb in enumerate(labels)]
