"""Slice of a run-time tensor -> STRIDED_SLICE; Gather of one by constant indices -> GATHER. Detection heads (YOLO's box/class split),
attention blocks and audio front ends slice activations, not only shape arithmetic (which
folds, harness.convert.tflite_consts). The bounds must be constants; the batch axis can
only be taken whole (a LiteRT model here keeps its batch dynamic).
"""

from __future__ import annotations

import numpy as np
import onnx
from ai_edge_litert import schema_py_generated as fb

from harness.convert.tflite_context import OP, Context, attrs, converts, unsupported
from harness.convert.tflite_values import Act, identity


def _bounds(ctx: Context, node: onnx.NodeProto, rank: int) -> list[tuple[int, int, int, int]]:
    """(axis, start, end, step) per sliced axis, as the node gives them."""
    if ctx.opset < 10:
        a = attrs(node)
        starts, ends = list(a["starts"]), list(a["ends"])
        axes, steps = a.get("axes"), None
    else:
        starts = ctx.const(node, 1, "starts").value.reshape(-1).tolist()
        ends = ctx.const(node, 2, "ends").value.reshape(-1).tolist()
        given_axes = ctx.optional_const(node, 3, "axes")
        given_steps = ctx.optional_const(node, 4, "steps")
        axes = None if given_axes is None else given_axes.value.reshape(-1).tolist()
        steps = None if given_steps is None else given_steps.value.reshape(-1).tolist()
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    return [
        (int(ax) % rank, int(s), int(e), int(st))
        for ax, s, e, st in zip(axes, starts, ends, steps, strict=True)
    ]


@converts("Slice")
def slice_activation(ctx: Context, node: onnx.NodeProto) -> None:
    x = ctx.act(node, 0)
    begin, end, stride = [0] * x.rank, list(x.shape), [1] * x.rank
    whole = [x.dynamic[axis] for axis in range(x.rank)]  # taken whole via the masks
    for axis, start, stop, step in _bounds(ctx, node, x.rank):
        if step <= 0:
            raise unsupported(node, f"step {step}; only forward slices convert")
        if x.dynamic[axis]:
            if start == 0 and stop >= np.iinfo(np.int32).max:
                continue
            raise unsupported(node, "a slice along the batch axis")
        begin[axis], end[axis], stride[axis] = slice(start, stop, step).indices(x.shape[axis])
    out = ctx.output(node.output[0], x.perm)
    order = list(x.perm)
    options = fb.StridedSliceOptionsT()
    mask = sum(1 << i for i, axis in enumerate(order) if whole[axis])
    options.beginMask, options.endMask = mask, mask
    name = node.output[0]
    inputs: list[Act | int] = [
        x,
        ctx.int32([begin[a] for a in order], f"{name}_begin"),
        ctx.int32([end[a] for a in order], f"{name}_end"),
        ctx.int32([stride[a] for a in order], f"{name}_strides"),
    ]
    ctx.emit(OP.STRIDED_SLICE, inputs, [out], options, version=4 if x.rank > 4 else 1)
    ctx.set(name, out)


@converts("Gather")
def gather_activation(ctx: Context, node: onnx.NodeProto) -> None:
    """Constant indices into a run-time tensor (a sequence's last step `out[:, -1]`, a
    vision transformer's class token `x[:, 0]`) -> GATHER, in ONNX order. Shape arithmetic
    on constants folds before this is reached."""
    x = ctx.act(node, 0)
    axis = int(attrs(node).get("axis", 0)) % x.rank
    if x.dynamic[axis]:
        raise unsupported(node, "gathers along the batch axis")
    indices = ctx.const(node, 1, "indices").value.astype(np.int64)
    size = x.shape[axis]
    if np.any(indices >= size) or np.any(indices < -size):
        raise unsupported(node, f"an index outside the axis of size {size}")
    x = ctx.view(x, identity(x.rank))
    name = node.output[0]
    out = ctx.output(name)
    options = fb.GatherOptionsT()
    options.axis = axis
    index = ctx.builder.constant(f"{name}_indices", (indices % size).astype(np.int32))
    ctx.emit(OP.GATHER, [x, index], [out], options)
    ctx.set(name, out)
