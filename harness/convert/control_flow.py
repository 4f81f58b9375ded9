"""If and Loop whose condition or trip count is known before running, made straight-line.

A LiteRT model here is one subgraph, so control flow only converts when it is not really
control flow: exports often carry an If on a shape or a constant flag (torch's scripted
modules, TorchScript's `if x.dim() == 4`) and a Loop of a fixed trip count (a scripted
`for _ in range(n)`). Such an If is replaced by the nodes of the branch it takes; such a
Loop by its body repeated, up to MAX_ITERATIONS. The values deciding them are computed
from initializers, Constant nodes and static shapes with onnx's reference implementation.
Control flow that depends on the input data is left in place, and the converter refuses
it with the reason.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from harness.compress.graph import rebuilt
from harness.convert.folding import fold, is_standard

MAX_ITERATIONS = 256
MAX_NODES = 20_000  # nodes a Loop may unroll into
FLOW = {"If", "Loop"}


def _static_shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    """Each value's inferred shape, 0 for an axis of unknown size (the batch)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # noqa: BLE001  # inference is a help here, not a requirement
        return {}
    shapes = {}
    for value in [*inferred.graph.input, *inferred.graph.value_info]:
        if value.type.tensor_type.HasField("shape"):
            dims = value.type.tensor_type.shape.dim
            shapes[value.name] = tuple(max(d.dim_value, 0) for d in dims)  # 0: not known
    return shapes


def _deciding(graph: onnx.GraphProto) -> set[str]:
    """Every value an If's condition or a Loop's count and condition is computed from."""
    producer = {out: n for n in graph.node for out in n.output if out}
    todo = [n.input[i] for n in graph.node if n.op_type in FLOW
            for i in (0, 1) if len(n.input) > i and n.input[i]]  # fmt: skip
    for loop in (n for n in graph.node if n.op_type == "Loop"):  # a body's constant condition
        body = next(a.g for a in loop.attribute if a.name == "body")
        todo += [n.input[0] for n in body.node if n.op_type == "Identity"]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        node = producer.get(name)
        if node is not None and node.op_type != "Shape":
            todo.extend(i for i in node.input if i)
    return seen


def known_values(model: onnx.ModelProto, opset: int) -> dict[str, np.ndarray]:
    """The values of the names control flow depends on that are known before running."""
    graph = model.graph
    wanted = _deciding(graph)
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer if t.name in wanted}
    shapes = _static_shapes(model) if any(n.op_type == "Shape" for n in graph.node) else {}
    partial: dict[str, tuple[int, ...]] = {}  # a Shape with a dynamic axis: 0 marks it
    for node in graph.node:
        if not any(o in wanted for o in node.output) or node.op_type in FLOW:
            continue
        if node.op_type == "Shape" and node.input[0] in shapes and len(node.attribute) == 0:
            dims = shapes[node.input[0]]
            if all(dims):
                values[node.output[0]] = np.array(dims, np.int64)
            else:
                partial[node.output[0]] = dims
        elif node.op_type == "Gather" and node.input[0] in partial and node.input[1] in values:
            taken = np.take(np.array(partial[node.input[0]], np.int64), values[node.input[1]])
            if np.all(taken > 0):  # only the axes of known size were read
                values[node.output[0]] = taken
        elif is_standard(node) and all(i in values for i in node.input if i):
            try:
                results = fold(node, [values.get(i) for i in node.input], opset)
            except Exception:  # noqa: BLE001  # a value that does not fold stays unknown
                continue
            values.update(zip(node.output, results, strict=False))
    return values


def _renamed(graph: onnx.GraphProto, prefix: str, given: dict[str, str]) -> tuple[list, list, dict]:
    """The subgraph's nodes and initializers with every name it makes prefixed, its inputs
    named per `given`; and the name map (outer-scope names are read as they are)."""
    names = dict(given)
    for t in graph.initializer:
        names[t.name] = f"{prefix}{t.name}"
    for n in graph.node:
        for out in n.output:
            if out:
                names[out] = f"{prefix}{out}"
    inits = []
    for t in graph.initializer:
        copy = onnx.TensorProto()
        copy.CopyFrom(t)
        copy.name = names[t.name]
        inits.append(copy)
    nodes = []
    for n in graph.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(n)
        copy.name = f"{prefix}{n.name}" if n.name else ""
        copy.input[:] = [names.get(i, i) for i in n.input]
        copy.output[:] = [names.get(o, o) for o in n.output]
        for attr in copy.attribute:  # a nested subgraph may read this one's values
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                _rename_reads(sub, names)
        nodes.append(copy)
    return nodes, inits, names


def _rename_reads(graph: onnx.GraphProto, names: dict[str, str]) -> None:
    own = {t.name for t in graph.initializer} | {v.name for v in graph.input}
    own |= {o for n in graph.node for o in n.output}
    for n in graph.node:
        n.input[:] = [names[i] if i in names and i not in own else i for i in n.input]
        for attr in n.attribute:
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                _rename_reads(sub, names)


def _if(node: onnx.NodeProto, cond: np.ndarray) -> tuple[list, list]:
    branch = next(a.g for a in node.attribute
                  if a.name == ("then_branch" if bool(cond.reshape(-1)[0]) else "else_branch"))  # fmt: skip
    prefix = f"{node.name or node.output[0]}/"
    nodes, inits, names = _renamed(branch, prefix, {})
    for out, branch_out in zip(node.output, branch.output, strict=False):
        if out:
            nodes.append(
                helper.make_node("Identity", [names.get(branch_out.name, branch_out.name)], [out])
            )
    return nodes, inits


def _stops_itself(body: onnx.GraphProto, values: dict[str, np.ndarray]) -> bool:
    """The body's condition output is not its condition input or a true constant (followed
    through Identity nodes, into the outer graph's known values)."""
    producer = {o: n for n in body.node for o in n.output}
    name = body.output[0].name
    for _ in range(len(body.node) + 1):
        if name == body.input[1].name:
            return False
        node = producer.get(name)
        if node is None:  # the outer graph's value
            return name not in values or not bool(values[name].reshape(-1)[0])
        if node.op_type == "Constant" and node.attribute:
            return not bool(numpy_helper.to_array(node.attribute[0].t).reshape(-1)[0])
        if node.op_type != "Identity":
            return True
        name = node.input[0]
    return True


def _loop(
    node: onnx.NodeProto, values: dict[str, np.ndarray], opset: int
) -> tuple[list, list] | None:
    """The loop unrolled; None when its count or condition is not known here."""
    body = next(a.g for a in node.attribute if a.name == "body")
    trips = values.get(node.input[0]) if node.input[0] else None
    cond = values.get(node.input[1]) if len(node.input) > 1 and node.input[1] else np.array(True)
    if trips is None or cond is None or _stops_itself(body, values):
        return None
    count = int(trips.reshape(-1)[0]) if bool(cond.reshape(-1)[0]) else 0
    carried = list(node.input[2:])
    n_scan = len(body.output) - 1 - len(carried)
    if count > MAX_ITERATIONS or count * len(body.node) > MAX_NODES or (n_scan and not count):
        return None
    prefix = f"{node.name or node.output[0]}/"
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    scans: list[list[str]] = [[] for _ in range(n_scan)]
    for i in range(count):
        step = f"{prefix}{i}/"
        iteration = numpy_helper.from_array(np.array(i, np.int64), f"{step}iteration")
        flag = numpy_helper.from_array(np.array(True), f"{step}condition")
        inits += [iteration, flag]
        given = {body.input[0].name: iteration.name, body.input[1].name: flag.name}
        given |= {v.name: c for v, c in zip(body.input[2:], carried, strict=True)}
        step_nodes, step_inits, names = _renamed(body, step, given)
        nodes += step_nodes
        inits += step_inits
        outs = [names.get(o.name, o.name) for o in body.output]
        carried = outs[1 : 1 + len(carried)]
        for k, name in enumerate(outs[1 + len(carried) :]):
            axes = numpy_helper.from_array(np.array([0], np.int64), f"{step}axes{k}")
            inits.append(axes)
            if opset >= 13:
                nodes.append(helper.make_node("Unsqueeze", [name, axes.name], [f"{step}scan{k}"]))
            else:
                nodes.append(helper.make_node("Unsqueeze", [name], [f"{step}scan{k}"], axes=[0]))
            scans[k].append(f"{step}scan{k}")
    for out, final in zip(node.output, carried, strict=False):
        if out:
            nodes.append(helper.make_node("Identity", [final], [out]))
    for out, parts in zip(node.output[len(carried) :], scans, strict=False):
        if out:
            nodes.append(helper.make_node("Concat", parts, [out], axis=0))
    return nodes, inits


def straightened(model: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    """The model with every If and Loop of its main graph that is decided before running
    replaced by straight-line nodes; the model itself when it has none to replace."""
    if not any(n.op_type in FLOW for n in model.graph.node):
        return model
    for _ in range(8):  # an inlined branch may hold control flow of its own
        values = known_values(model, opset)
        nodes, inits, changed = [], [], False
        for n in model.graph.node:
            done = None
            if n.op_type == "If" and n.input[0] in values:
                done = _if(n, values[n.input[0]])
            elif n.op_type == "Loop":
                done = _loop(n, values, opset)
            if done is None:
                nodes.append(n)
                continue
            nodes += done[0]
            inits += done[1]
            changed = True
        if not changed:
            return model
        model = rebuilt(model, nodes, inits)
    return model
