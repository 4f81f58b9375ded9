"""The weight layers a pass works on: Conv/Gemm/MatMul nodes whose weight is a float32
initializer, which of them a `layers` setting selects, and why the others are left alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import onnx
from onnx import TensorProto

from harness.compress.graph import DEFAULT_DOMAINS, attr, consumers, unique_labels

LAYER_OPS = ("Conv", "Gemm", "MatMul")


# The op types behind a pass's `layers` setting (quantize, svd): all, dense or conv layers.
LAYER_KINDS: dict[str, tuple[str, ...]] = {
    "all": ("Gemm", "MatMul", "Conv"),
    "dense": ("Gemm", "MatMul"),
    "conv": ("Conv",),
}


# Ops whose constant operand is a broadcast term, not a weight matrix of their own.
BROADCAST_OPS = frozenset({"Add", "Sub", "Mul", "Div", "PRelu", "Max", "Min", "Pow", "Where"})


@dataclass(frozen=True)
class Layer:
    """A Conv/Gemm/MatMul whose weight (input 1) is a float32 initializer.

    Holds names and the node's position, not protobuf references, so a pass may rebuild
    the node list and still find it.
    """

    index: int  # position in graph.node
    label: str
    op: str
    weight: str  # initializer name
    shape: tuple[int, ...]
    out_axis: int  # output-channel axis of the stored weight
    in_axis: int  # input-feature axis of the stored weight


def select_layers(layers: Sequence[Layer], kind: str, skipped: dict[str, str]) -> list[Layer]:
    """The layers a pass's `layers = kind` setting selects (LAYER_KINDS); each other one is
    noted in `skipped`, so the notes say why it was left alone."""
    chosen = []
    for layer in layers:
        if layer.op in LAYER_KINDS[kind]:
            chosen.append(layer)
        else:
            skipped[layer.label] = f"not selected (layers = {kind})"
    return chosen


def output_layers(graph: onnx.GraphProto, layers: Sequence[Layer]) -> set[int]:
    """Node indices of the layers whose result reaches a graph output without passing
    through another weight layer: a classifier's last Gemm (and its bias Add, Softmax...)."""
    readers = consumers(graph)
    weighted = {layer.index for layer in layers}
    outputs = {o.name for o in graph.output}
    found: set[int] = set()
    for layer in layers:
        tensors, seen = list(graph.node[layer.index].output), set()
        while tensors:
            name = tensors.pop()
            if name in outputs:
                found.add(layer.index)
                break
            for i, _ in readers.get(name, []):
                if i not in weighted and i not in seen:
                    seen.add(i)
                    tensors.extend(graph.node[i].output)
    return found


def _float_initializers(graph: onnx.GraphProto) -> dict[str, onnx.TensorProto]:
    return {t.name: t for t in graph.initializer if t.data_type == TensorProto.FLOAT}


def _layer(
    node: onnx.NodeProto,
    index: int,
    label: str,
    inits: dict[str, onnx.TensorProto],
    made_by: dict[str, str],
) -> Layer | str:
    """The node as a Layer, or why it is not one."""
    if len(node.input) < 2:
        return "no weight input"
    name = node.input[1]
    if name not in inits:
        if node.op_type == "MatMul" and node.input[0] in inits:
            return "the constant is the left operand of MatMul"
        if name in made_by:
            return f"weight is computed by {made_by[name]}, not a float32 initializer"
        return "weight is not a float32 initializer"
    shape = tuple(inits[name].dims)
    if node.op_type == "Conv":
        if len(shape) < 3:
            return f"Conv weight of rank {len(shape)}"
        return Layer(index, label, "Conv", name, shape, 0, 1)
    if len(shape) != 2:
        return f"{node.op_type} weight of rank {len(shape)} (2-D only)"
    if node.op_type == "Gemm":
        out_axis = 0 if attr(node, "transB", 0) else 1
        return Layer(index, label, "Gemm", name, shape, out_axis, 1 - out_axis)
    return Layer(index, label, "MatMul", name, shape, 1, 0)


def weight_layers(graph: onnx.GraphProto) -> tuple[list[Layer], dict[str, str]]:
    """The Conv/Gemm/MatMul layers with float32 weight initializers, and {node: reason} for
    layers that do not qualify and for other ops holding weight matrices (left alone)."""
    inits = _float_initializers(graph)
    made_by = {out: n.op_type for n in graph.node for out in n.output}
    layers: list[Layer] = []
    skipped: dict[str, str] = {}
    for i, (node, label) in enumerate(zip(graph.node, unique_labels(graph), strict=True)):
        if node.domain not in DEFAULT_DOMAINS:
            if any(name in inits for name in node.input):
                skipped[label] = f"unsupported op {node.domain}.{node.op_type}"
            continue
        if node.op_type in LAYER_OPS:
            found = _layer(node, i, label, inits, made_by)
            if isinstance(found, Layer):
                layers.append(found)
            else:
                skipped[label] = found
        elif node.op_type not in BROADCAST_OPS and any(
            name in inits and len(inits[name].dims) >= 2 for name in node.input
        ):
            skipped[label] = f"unsupported op {node.op_type}"
    return layers, skipped
