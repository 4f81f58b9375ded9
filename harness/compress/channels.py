"""The channel tracer of structured pruning: which constants must shrink, and how, when a
layer loses output channels.

A layer's output is followed forward through ops that keep channels apart (activations,
pooling, BatchNormalization, per-channel constants, depthwise Conv, Flatten/Reshape into a
dense layer) up to the layers that read those channels, planning one edit per touched
constant. A trace that meets anything else raises CannotRewire, and the layer is left
alone. Shared by the ONNX pass (harness.compress.prune) and fine-tuning
(harness.train.finetune_layers), which must decide exactly alike.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx

from harness.compress.channel_plan import CannotRewire, Join, Plan, State
from harness.compress.edits import Edit, FixReshape, SetGroup, SliceConst
from harness.compress.graph import (
    Shapes,
    attr,
    const_value,
    consumers,
    int_attr,
    is_static,
    node_label,
    subgraph_reads,
    tensor_shapes,
)
from harness.compress.layers import Layer

__all__ = ["Tracer"]

# Ops that act on each element (or each channel's own map) and keep channel order.
ELEMENTWISE = frozenset(
    {
        "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu",
        "Celu", "Softplus", "Softsign", "Gelu", "Mish", "Identity", "Dropout", "Abs", "Neg",
        "Clip", "Erf", "Exp", "Sqrt", "Reciprocal", "Floor", "Ceil", "Round", "Sign",
    }
)  # fmt: skip
POOLS = frozenset(
    {"MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"}
)
BROADCAST = frozenset({"Add", "Sub", "Mul", "Div", "Max", "Min", "PRelu", "Pow"})
FIRST_ONLY = frozenset({"PRelu", "Pow"})  # the pruned tensor must be their first operand
CHANNEL_PARAMS = {"BatchNormalization": (1, 2, 3, 4), "InstanceNormalization": (1, 2)}


class Tracer:
    """Follows a layer's output to every reader, collecting the edits (pure: reads only)."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.graph = model.graph
        self.shapes: Shapes = tensor_shapes(model)
        self.readers = consumers(self.graph)
        self.outputs = {v.name for v in self.graph.output}
        self.nested = subgraph_reads(self.graph)
        self.inits = {t.name for t in self.graph.initializer}

    def plan(self, layer: Layer) -> Plan:
        graph = self.graph
        node = graph.node[layer.index]
        if layer.op == "Conv" and attr(node, "group", 1) != 1:
            raise CannotRewire("grouped Conv: its channels are tied to its input's")
        if len(self.readers[layer.weight]) != 1:
            raise CannotRewire("weight is shared with another node")
        channels = layer.shape[layer.out_axis]
        if channels < 2:
            raise CannotRewire("a single output channel")
        out = node.output[0]
        rank = len(layer.shape) if layer.op == "Conv" else self._rank(out)
        state = State(out, 1 if layer.op == "Conv" else rank - 1, rank)
        plan = Plan(layer, channels, [SliceConst(layer.index, 1, layer.out_axis)])
        if len(node.input) > 2 and node.input[2]:
            if layer.op == "Conv":
                plan.edits.append(self.const_edit(layer.index, 2, 0))
            else:  # Gemm's C broadcasts against the (M, N) output
                plan.edits += self.broadcast_edits(layer.index, 2, state, channels)
        self._follow(state, channels, plan)
        return plan

    def _rank(self, name: str) -> int:
        shape = self.shapes.get(name)
        if shape is None:
            raise CannotRewire(f"unknown rank of '{name}'")
        return len(shape)

    def const_edit(self, index: int, pos: int, axis: int, block: int = 1) -> SliceConst:
        name = self.graph.node[index].input[pos]
        if const_value(self.graph, name) is None:
            raise CannotRewire(f"'{name}' is not a constant")
        return SliceConst(index, pos, axis, block)

    def _follow(self, state: State, channels: int, plan: Plan) -> None:
        """Plan edits for every reader of `state.tensor` (recursively through pass-throughs)."""
        plan.tensors.add(state.tensor)
        plan.states[state.tensor] = (state.axis, state.block, state.offset, state.span)
        if state.tensor in self.outputs:
            raise CannotRewire("its channels reach a graph output")
        if state.tensor in self.nested:
            raise CannotRewire(f"'{state.tensor}' is read inside a subgraph")
        for index, pos in self.readers.get(state.tensor, []):
            node = self.graph.node[index]
            where = f"{node.op_type} '{node_label(node, index)}'"
            handler = _HANDLERS.get(node.op_type)
            if handler is None or node.domain not in ("", "ai.onnx"):
                raise CannotRewire(f"feeds {where}, which cannot be rewired")
            for nxt in handler(self, index, pos, state, channels, plan, where):
                self._follow(nxt, channels, plan)

    def single_output(self, index: int, where: str) -> None:
        node = self.graph.node[index]
        if any(self.readers.get(o) or o in self.outputs for o in node.output[1:] if o):
            raise CannotRewire(f"{where} has a second output in use")

    def join(self, name: str, state: State, channels: int, where: str) -> list[Join]:
        """The runtime operand `name` of an elementwise op the pruned tensor feeds: none if
        it broadcasts over the channels, else a Join (its channels must go alike)."""
        shape = self.shapes.get(name)
        if shape is None:
            raise CannotRewire(f"{where} combines it with a tensor of unknown shape")
        axis = state.axis - state.rank + len(shape)
        if axis < 0 or shape[axis] == 1:
            return []
        if state.span is not None:
            raise CannotRewire(f"{where} combines concatenated channels with another tensor")
        if shape[axis] != channels * state.block:
            raise CannotRewire(f"{where} combines it with a tensor of other channels")
        return [Join(name, axis, state.block, where)]

    def broadcast_edits(self, index: int, pos: int, state: State, channels: int) -> list[Edit]:
        """Edits for a constant operand broadcast against the pruned tensor."""
        node = self.graph.node[index]
        value = const_value(self.graph, node.input[pos])
        if value is None:
            raise CannotRewire(
                f"{node.op_type} '{node_label(node, index)}' combines it with a runtime tensor"
            )
        axis = state.axis - state.rank + value.ndim  # numpy broadcasting aligns the last axes
        if axis < 0 or value.shape[axis] == 1:
            return []
        if value.shape[axis] != self.axis_size(state, channels):
            raise CannotRewire(f"constant '{node.input[pos]}' does not match the channels")
        return [state.slice(index, pos, axis)]

    def axis_size(self, state: State, channels: int) -> int:
        """Entries along the channel axis: this layer's, or all a Concat joined."""
        if state.span is None:
            return channels * state.block
        shape = self.shapes.get(state.tensor)
        if shape is None or shape[state.axis] is None:
            raise CannotRewire(f"unknown size of the concatenation '{state.tensor}'")
        return int(shape[state.axis] or 0)


# (tracer, node index, input position, state, channels, plan, "Op 'name'") -> next states
Handler = Callable[[Tracer, int, int, State, int, Plan, str], list[State]]


def _elementwise(
    t: Tracer, index: int, pos: int, s: State, c: int, plan: Plan, where: str
) -> list[State]:
    node = t.graph.node[index]
    if pos != 0:
        raise CannotRewire(f"feeds a parameter input of {where}")
    for extra in node.input[1:]:
        value = const_value(t.graph, extra) if extra else np.zeros(())
        if value is None or value.size != 1:
            raise CannotRewire(f"{where} has a non-scalar parameter")
    t.single_output(index, where)
    return [s.to(node.output[0], s.axis, s.rank)]


def _pool(t: Tracer, index: int, pos: int, s: State, c: int, plan: Plan, where: str) -> list[State]:
    if s.axis != 1:
        raise CannotRewire(f"{where} pools over axes other than the channels'")
    t.single_output(index, where)
    return [s.to(t.graph.node[index].output[0], 1, s.rank)]


def _binary(
    t: Tracer, index: int, pos: int, s: State, c: int, plan: Plan, where: str
) -> list[State]:
    node = t.graph.node[index]
    if node.op_type in FIRST_ONLY and pos != 0:
        raise CannotRewire(f"feeds a parameter input of {where}")
    others = [i for i in range(len(node.input)) if i != pos and node.input[i]]
    if any(node.input[i] == s.tensor for i in others):
        raise CannotRewire(f"{where} reads it twice")
    rank = s.rank
    for i in others:
        name = node.input[i]
        value = const_value(t.graph, name)
        if value is None and node.op_type not in FIRST_ONLY:
            plan.joins += t.join(name, s, c, where)
            rank = max(rank, t._rank(name))
            continue
        plan.edits += t.broadcast_edits(index, i, s, c)
        rank = max(rank, 0 if value is None else value.ndim)
    return [s.to(node.output[0], s.axis + rank - s.rank, rank)]


def _norm(t: Tracer, index: int, pos: int, s: State, c: int, plan: Plan, where: str) -> list[State]:
    node = t.graph.node[index]
    if pos != 0 or s.axis != 1:
        raise CannotRewire(f"{where} does not normalise along the pruned channels")
    t.single_output(index, where)
    for i in CHANNEL_PARAMS[node.op_type]:
        t.const_edit(index, i, 0)  # checks that it is a constant
        plan.edits.append(s.slice(index, i, 0))
    return [s.to(node.output[0], 1, s.rank)]


def _conv(t: Tracer, index: int, pos: int, s: State, c: int, plan: Plan, where: str) -> list[State]:
    node = t.graph.node[index]
    if pos != 0 or s.axis != 1 or s.block != 1:
        raise CannotRewire(f"feeds {where} other than as its input channels")
    weight = const_value(t.graph, node.input[1])
    if weight is None or node.input[1] not in t.inits:
        raise CannotRewire(f"the weight of {where} is not an initializer")
    group = int_attr(node, "group", 1)
    if group == 1:
        plan.edits.append(s.slice(index, 1, 1))
        return []
    if s.span is not None:
        raise CannotRewire(f"concatenated channels feed grouped {where}")
    if group == c and weight.shape[1] == 1:  # depthwise (with channel multiplier)
        mult = weight.shape[0] // group
        plan.edits += [SliceConst(index, 1, 0, mult), SetGroup(index)]
        if len(node.input) > 2 and node.input[2]:
            plan.edits.append(t.const_edit(index, 2, 0, mult))
        return [State(node.output[0], 1, s.rank, mult)]
    raise CannotRewire(f"feeds grouped {where}")


def _dense(
    t: Tracer, index: int, pos: int, s: State, c: int, plan: Plan, where: str
) -> list[State]:
    node = t.graph.node[index]
    if pos != 0 or s.axis != s.rank - 1 or (node.op_type == "Gemm" and attr(node, "transA", 0)):
        raise CannotRewire(f"feeds {where} other than as its input features")
    weight = const_value(t.graph, node.input[1])
    if weight is None or weight.ndim != 2 or node.input[1] not in t.inits:
        raise CannotRewire(f"the weight of {where} is not a 2-D initializer")
    in_axis = 1 if node.op_type == "Gemm" and attr(node, "transB", 0) else 0
    plan.edits.append(s.slice(index, 1, in_axis))
    return []


def _inner(t: Tracer, name: str, axis: int) -> int:
    shape = t.shapes.get(name)
    inner = None if shape is None else shape[axis + 1 :]
    if not is_static(inner):
        raise CannotRewire(f"unknown static shape of '{name}'")
    return int(np.prod(inner, dtype=np.int64))


def _flatten(
    t: Tracer, index: int, pos: int, s: State, c: int, plan: Plan, where: str
) -> list[State]:
    node = t.graph.node[index]
    axis = int_attr(node, "axis", 1)
    axis = axis + s.rank if axis < 0 else axis
    if axis != s.axis:
        raise CannotRewire(f"{where} does not start flattening at the channel axis")
    inner = _inner(t, s.tensor, s.axis)
    return [s.to(node.output[0], 1, 2, inner)]


def _reshape(
    t: Tracer, index: int, pos: int, s: State, c: int, plan: Plan, where: str
) -> list[State]:
    """Only a flatten from the channel axis on: (d0..d[a-1], C, ...) -> (d0..d[a-1], C*...)."""
    node = t.graph.node[index]
    src, dst = t.shapes.get(s.tensor), t.shapes.get(node.output[0])
    shape = const_value(t.graph, node.input[1])
    if pos != 0 or shape is None:
        raise CannotRewire(f"{where} has a computed shape")
    if src is None or dst is None or len(dst) != s.axis + 1 or dst[: s.axis] != src[: s.axis]:
        raise CannotRewire(f"{where} is not a flatten from the channel axis")
    inner = _inner(t, s.tensor, s.axis)
    if dst[s.axis] != t.axis_size(s, c) * inner:
        raise CannotRewire(f"{where} is not a flatten from the channel axis")
    plan.edits.append(FixReshape(index, s.axis, s.block * inner, c))
    return [s.to(node.output[0], s.axis, s.axis + 1, inner)]


# Reductions that keep each channel apart when they reduce other axes (x.mean((2, 3))).
REDUCTIONS = frozenset(
    {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceL1", "ReduceL2",
     "ReduceLogSumExp", "ReduceProd", "ReduceSumSquare"}
)  # fmt: skip


def _reduce(
    t: Tracer, index: int, pos: int, s: State, c: int, plan: Plan, where: str
) -> list[State]:
    """A reduction over axes other than the channels': the channels move if axes go."""
    node = t.graph.node[index]
    if pos != 0:
        raise CannotRewire(f"feeds a parameter input of {where}")
    axes = attr(node, "axes")  # an attribute up to opset 17, an input from 18 on
    if axes is None and len(node.input) > 1 and node.input[1]:
        value = const_value(t.graph, node.input[1])
        if value is None:
            raise CannotRewire(f"{where} has computed axes")
        axes = value.tolist()
    if not isinstance(axes, list) or not axes:
        raise CannotRewire(f"{where} reduces every axis, the channels' too")
    reduced = {int(a) % s.rank for a in axes}
    if s.axis in reduced:
        raise CannotRewire(f"{where} reduces over the channels")
    t.single_output(index, where)
    if int_attr(node, "keepdims", 1):
        return [s.to(node.output[0], s.axis, s.rank)]
    before = sum(a < s.axis for a in reduced)
    return [s.to(node.output[0], s.axis - before, s.rank - len(reduced))]


def _concat(
    t: Tracer, index: int, pos: int, s: State, c: int, plan: Plan, where: str
) -> list[State]:
    """Joined along the channel axis, the channels become one stretch of the output's axis,
    after the entries of the inputs before it."""
    node = t.graph.node[index]
    if int_attr(node, "axis", 0) % s.rank != s.axis:
        raise CannotRewire(f"{where} joins along another axis than the channels'")
    if list(node.input).count(s.tensor) != 1:
        raise CannotRewire(f"{where} reads it twice")
    before = 0
    for name in node.input[:pos]:
        shape = t.shapes.get(name)
        if shape is None or shape[s.axis] is None:
            raise CannotRewire(f"{where} has an input of unknown size")
        before += int(shape[s.axis] or 0)
    t.single_output(index, where)
    span = t.axis_size(s, c) if s.span is None else s.span
    offset = s.offset + before
    return [State(node.output[0], s.axis, s.rank, s.block, offset, span)]


_HANDLERS: dict[str, Handler] = {
    **{op: _reduce for op in REDUCTIONS},
    **{op: _elementwise for op in ELEMENTWISE},
    **{op: _pool for op in POOLS},
    **{op: _binary for op in BROADCAST},
    **{op: _norm for op in CHANNEL_PARAMS},
    "Conv": _conv,
    "Gemm": _dense,
    "MatMul": _dense,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Concat": _concat,
}
