"""LSTM and GRU unrolled into the ops the converter already has (MatMul, Add, Mul, Sigmoid,
Tanh, Slice, Concat), one step per time step, before conversion.

LiteRT's UNIDIRECTIONAL_SEQUENCE_LSTM fuses one direction of an LSTM, but its gate order,
peepholes and state tensors differ from ONNX's, and GRU has no builtin at all; the exported
models that carry these ops (keyword spotters, voice-activity detectors, OCR recognisers)
run short fixed sequences, so the unrolled graph is exact and small. Each step keeps a
leading axis of 1 ((1, batch, hidden)), so every tensor has the batch where ONNX has it.
A sequence longer than MAX_STEPS, per-sample sequence lengths, or activations other than
Sigmoid/Tanh/Relu stay unsupported, with the reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from harness.convert.folding import fold, is_standard
from harness.convert.run_shapes import measured_shapes
from harness.convert.tflite_context import unsupported

MAX_STEPS = 512  # direction x time steps unrolled for one node
ACTIVATIONS = {"Sigmoid", "Tanh", "Relu"}
GATES = {"LSTM": 4, "GRU": 3}


class _Emitter:
    """Appends nodes and constants under one prefix, in the model's opset."""

    def __init__(self, prefix: str, opset: int) -> None:
        self.prefix, self.opset = prefix, opset
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def name(self) -> str:
        self.count += 1
        return f"{self.prefix}/{self.count}"

    def const(self, array: np.ndarray) -> str:
        name = self.name()
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], out: str | None = None, **kw: Any) -> str:
        out = out or self.name()
        self.nodes.append(helper.make_node(op_type, inputs, [out], **kw))
        return out

    def take(self, x: str, axis: int, start: int, stop: int, out: str | None = None) -> str:
        ints = [self.const(np.array([v], np.int64)) for v in (start, stop, axis)]
        return self.op("Slice", [x, *ints], out)

    def unsqueeze(self, x: str, axis: int) -> str:
        if self.opset >= 13:
            return self.op("Unsqueeze", [x, self.const(np.array([axis], np.int64))])
        return self.op("Unsqueeze", [x], axes=[axis])


def _attr(node: onnx.NodeProto, name: str, default: Any) -> Any:
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _activations(node: onnx.NodeProto, directions: int) -> list[str]:
    default = ["Sigmoid", "Tanh", "Tanh"] if node.op_type == "LSTM" else ["Sigmoid", "Tanh"]
    given = [a.decode() if isinstance(a, bytes) else str(a)
             for a in _attr(node, "activations", [])]  # fmt: skip
    names = given or default * directions
    odd = sorted(set(names) - ACTIVATIONS)
    if odd:
        raise unsupported(node, f"activation {odd[0]}; only Sigmoid, Tanh and Relu unroll")
    return names


def _check(
    node: onnx.NodeProto, consts: dict[str, np.ndarray], steps: int, directions: int
) -> None:
    if steps == -1:  # a model that feeds frames as its batch (silero's sequence export)
        raise unsupported(node, "its sequence length follows the input's batch axis")
    if steps <= 0:
        raise unsupported(node, "a sequence of unknown length; fix the input's size")
    if steps * directions > MAX_STEPS:
        raise unsupported(
            node, f"{steps} time steps x {directions}; unrolling stops at {MAX_STEPS}"
        )
    for i, what in ((1, "W"), (2, "R"), (3, "B")):
        if len(node.input) > i and node.input[i] and node.input[i] not in consts:
            raise unsupported(node, f"its {what} is computed at run time; it must be a weight")
    if len(node.input) > 4 and node.input[4]:
        lens = consts.get(node.input[4])
        if lens is None or not np.all(lens == steps):
            raise unsupported(node, "per-sample sequence lengths")
    if _attr(node, "input_forget", 0):
        raise unsupported(node, "input_forget = 1")


def _unrolled(
    node: onnx.NodeProto, consts: dict[str, np.ndarray], steps: int, opset: int
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    direction = _attr(node, "direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else str(direction)
    directions = 2 if direction == "bidirectional" else 1
    _check(node, consts, steps, directions)
    acts = _activations(node, directions)
    hidden = int(_attr(node, "hidden_size", 0)) or consts[node.input[2]].shape[-1]
    gates = GATES[node.op_type]
    layout = int(_attr(node, "layout", 0))
    clip = _attr(node, "clip", None)
    e = _Emitter(node.name or node.output[0] or "rnn", opset)
    get = lambda i: node.input[i] if len(node.input) > i and node.input[i] else ""  # noqa: E731
    x = e.op("Transpose", [node.input[0]], perm=[1, 0, 2]) if layout else node.input[0]
    w, r = consts[get(1)], consts[get(2)]
    b = consts[get(3)] if get(3) else np.zeros((directions, 2 * gates * hidden), np.float32)
    peep = consts.get(get(7)) if node.op_type == "LSTM" else None
    ys, hs, cs = [], [], []
    per = len(acts) // directions
    cell = _lstm_step if node.op_type == "LSTM" else _gru_step
    for d in range(directions):
        fn = acts[d * per : (d + 1) * per]
        back = direction == "reverse" or d == 1
        wb, rb = b[d, : gates * hidden], b[d, gates * hidden :]
        k = _weights(e, node.op_type, r[d], wb, rb, None if peep is None else peep[d], hidden)
        h = _state(e, get(5), d, layout)
        c = _state(e, get(6), d, layout) if node.op_type == "LSTM" else None
        wt = e.const(w[d].T.astype(np.float32))
        outs: dict[int, str] = {}
        for t in reversed(range(steps)) if back else range(steps):
            xw = e.op("MatMul", [e.take(x, 0, t, t + 1), wt])  # (1, batch, gates*hidden)
            h, c = cell(e, node, xw, h, c, k, hidden, fn, clip)
            outs[t] = h
        ys.append(e.op("Concat", [outs[t] for t in range(steps)], axis=0))  # (T, batch, hidden)
        hs.append(h)
        cs.append(c)
    _outputs(e, node, layout, ys, hs, cs)
    return e.nodes, e.inits


def _state(e: _Emitter, name: str, d: int, layout: int) -> str | None:
    """Direction d of an initial state as (1, batch, hidden); None when not given."""
    if not name:
        return None
    if not layout:
        return e.take(name, 0, d, d + 1)
    return e.op("Transpose", [e.take(name, 1, d, d + 1)], perm=[1, 0, 2])


def _outputs(e: _Emitter, node: onnx.NodeProto, layout: int, ys: list, hs: list, cs: list) -> None:
    """Y (T, D, batch, hidden), Y_h and Y_c (D, batch, hidden); batch first under layout 1."""
    wanted = [*node.output, "", "", ""]
    if wanted[0]:
        y = e.op("Concat", [e.unsqueeze(v, 1) for v in ys], axis=1)
        e.op("Transpose", [y], wanted[0], perm=[2, 0, 1, 3]) if layout else e.op(
            "Identity", [y], wanted[0]
        )
    for out, states in ((wanted[1], hs), (wanted[2], cs)):
        if out and states and all(states):
            both = e.op("Concat", states, axis=0)
            e.op("Transpose", [both], out, perm=[1, 0, 2]) if layout else e.op(
                "Identity", [both], out
            )


def _act(e: _Emitter, name: str, x: str, clip: float | None) -> str:
    if clip is not None:
        bound = float(clip)
        x = e.op(
            "Clip", [x, e.const(np.array(-bound, np.float32)), e.const(np.array(bound, np.float32))]
        )
    return e.op(name, [x])


def _gate(e: _Emitter, x: str, k: int, hidden: int) -> str:
    return e.take(x, 2, k * hidden, (k + 1) * hidden)


def _weights(e: _Emitter, kind: str, r: np.ndarray, wb: np.ndarray, rb: np.ndarray,
             peep: np.ndarray | None, hidden: int) -> dict[str, str]:  # fmt: skip
    """One direction's constants, made once and shared by its steps."""
    f32 = np.float32
    if kind == "LSTM":
        k = {"R": e.const(r.T.astype(f32)), "B": e.const((wb + rb).astype(f32))}
        if peep is not None:
            k |= {"Pi": e.const(peep[:hidden].astype(f32)),
                  "Po": e.const(peep[hidden : 2 * hidden].astype(f32)),
                  "Pf": e.const(peep[2 * hidden :].astype(f32))}  # fmt: skip
        return k
    return {
        "Wb": e.const(wb.astype(f32)),
        "Rzr": e.const(r[: 2 * hidden].T.astype(f32)),
        "Rh": e.const(r[2 * hidden :].T.astype(f32)),
        "Rbzr": e.const(rb[: 2 * hidden].reshape(1, 1, -1).astype(f32)),
        "Rbh": e.const(rb[2 * hidden :].reshape(1, 1, -1).astype(f32)),
        "one": e.const(np.ones(1, f32)),
    }


Step = tuple[str, "str | None"]


def _lstm_step(e: _Emitter, node: onnx.NodeProto, xw: str, h: str | None, c: str | None,
               k: dict[str, str], hidden: int, fn: list[str], clip: float | None) -> Step:  # fmt: skip
    """ONNX's LSTM step, gates in the order i, o, f, c."""
    pre = e.op("Add", [xw, k["B"]])
    if h is not None:
        pre = e.op("Add", [pre, e.op("MatMul", [h, k["R"]])])
    i, o, f, g = (_gate(e, pre, n, hidden) for n in range(4))
    if "Pi" in k and c is not None:
        i = e.op("Add", [i, e.op("Mul", [c, k["Pi"]])])
        f = e.op("Add", [f, e.op("Mul", [c, k["Pf"]])])
    new_c = e.op("Mul", [_act(e, fn[0], i, clip), _act(e, fn[1], g, clip)])
    if c is not None:
        new_c = e.op("Add", [new_c, e.op("Mul", [_act(e, fn[0], f, clip), c])])
    if "Po" in k:
        o = e.op("Add", [o, e.op("Mul", [new_c, k["Po"]])])
    return e.op("Mul", [_act(e, fn[0], o, clip), e.op(fn[2], [new_c])]), new_c


def _gru_step(e: _Emitter, node: onnx.NodeProto, xw: str, h: str | None, c: str | None,
              k: dict[str, str], hidden: int, fn: list[str], clip: float | None) -> Step:  # fmt: skip
    """ONNX's GRU step, gates in the order z, r, h, with `linear_before_reset` as given.
    With no initial state the first step's state is zero: R's products vanish."""
    before = int(_attr(node, "linear_before_reset", 0))
    xw = e.op("Add", [xw, k["Wb"]])
    hzr = e.op("Add", [e.op("MatMul", [h, k["Rzr"]]), k["Rbzr"]]) if h else k["Rbzr"]
    z = _act(e, fn[0], e.op("Add", [_gate(e, xw, 0, hidden), _gate(e, hzr, 0, hidden)]), clip)
    r = _act(e, fn[0], e.op("Add", [_gate(e, xw, 1, hidden), _gate(e, hzr, 1, hidden)]), clip)
    if h is None:
        hh = e.op("Mul", [r, k["Rbh"]]) if before else k["Rbh"]
    elif before:
        hh = e.op("Mul", [r, e.op("Add", [e.op("MatMul", [h, k["Rh"]]), k["Rbh"]])])
    else:
        hh = e.op("Add", [e.op("MatMul", [e.op("Mul", [r, h]), k["Rh"]]), k["Rbh"]])
    cand = _act(e, fn[1], e.op("Add", [_gate(e, xw, 2, hidden), hh]), clip)
    new_h = e.op("Mul", [e.op("Sub", [k["one"], z]), cand])
    if h is not None:
        new_h = e.op("Add", [new_h, e.op("Mul", [z, h])])
    return new_h, None


def _constants(graph: onnx.GraphProto, opset: int) -> dict[str, np.ndarray]:
    """The values a recurrent node's weights, biases, lengths and zero states are computed
    from when no input is involved (initializers, Constant nodes, and what exporters build
    from them: float16 Casts, gates sliced and concatenated into ONNX's order)."""
    producers = {o: n for n in graph.node for o in n.output if o}
    todo = [n.input[i] for n in graph.node if n.op_type in GATES
            for i in (1, 2, 3, 4, 5, 6, 7) if len(n.input) > i and n.input[i]]  # fmt: skip
    wanted: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            node = producers.get(name)
            todo += [i for i in node.input if i] if node is not None else []
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer if t.name in wanted}
    for n in graph.node:
        if not any(o in wanted for o in n.output):
            continue
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            values[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
        elif is_standard(n) and n.op_type not in GATES and all(i in values for i in n.input if i):
            try:
                values.update(
                    zip(n.output, fold(n, [values.get(i) for i in n.input], opset), strict=False)
                )
            except Exception:  # noqa: BLE001  # what does not fold stays unknown
                continue
    return values


def _steps(model: onnx.ModelProto, node: onnx.NodeProto) -> int:
    """The sequence length of the node's input (0: unknown, -1: the batch's): from onnx's
    shape inference,
    or where that stops (an audio front end's arithmetic) from a run at batch 1. Only the
    batch is open by now (bench and sweeps fix the other axes), so the length is static."""
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    axis = int(_attr(node, "layout", 0))
    for value in [*inferred.graph.input, *inferred.graph.value_info]:
        if value.name == node.input[0]:
            dims = value.type.tensor_type.shape.dim
            if len(dims) == 3 and dims[axis].dim_value > 0:
                return int(dims[axis].dim_value)
            if len(dims) == 3 and dims[axis].dim_param:
                return -1  # named after an open input axis: by now only the batch is open
    shape = measured_shapes(model).get(node.input[0], ())
    return shape[axis] if len(shape) == 3 else 0


# Ops that only place or broadcast their first input's values: zeros stay zeros.
_PLACING = {"Expand", "Unsqueeze", "Squeeze", "Reshape", "Tile", "Identity", "Cast", "Transpose"}


def _zeros(name: str, producers: dict, consts: dict[str, np.ndarray], depth: int = 0) -> bool:
    """`name` is all zeros whatever the input (an initial state built as Expand(0, (B, H)),
    as exporters write a state the caller does not pass)."""
    if name in consts:
        return not np.any(consts[name])
    node = producers.get(name)
    if node is None or depth > 16:
        return False
    if node.op_type == "ConstantOfShape":
        value = next((a.t for a in node.attribute if a.name == "value"), None)
        return value is None or not np.any(numpy_helper.to_array(value))
    if node.op_type == "Concat":
        return all(_zeros(i, producers, consts, depth + 1) for i in node.input)
    return node.op_type in _PLACING and _zeros(node.input[0], producers, consts, depth + 1)


def unrolled(model: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    """The model with every LSTM and GRU of its main graph unrolled; the model itself when
    it has none. UnsupportedOpError names the node that cannot unroll, and why."""
    graph = model.graph
    if not any(n.op_type in GATES for n in graph.node):
        return model
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    consts = _constants(copy.graph, opset)
    producers = {o: n for n in copy.graph.node for o in n.output if o}
    nodes: list[onnx.NodeProto] = []
    for n in copy.graph.node:
        if n.op_type not in GATES:
            nodes.append(n)
            continue
        rnn = onnx.NodeProto()
        rnn.CopyFrom(n)
        for i in (5, 6):  # a zero initial state is no state: its products vanish
            if len(rnn.input) > i and rnn.input[i] and _zeros(rnn.input[i], producers, consts):
                rnn.input[i] = ""
        new_nodes, inits = _unrolled(rnn, consts, _steps(copy, n), opset)
        nodes.extend(new_nodes)
        copy.graph.initializer.extend(inits)
    del copy.graph.node[:]
    copy.graph.node.extend(nodes)
    return copy
