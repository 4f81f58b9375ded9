"""Converters for elementwise math, activations, softmax and layout ops (reshapes,
transposes, concatenation, padding). Each registers itself for its ONNX op types.

Operands keep the layout they have (NHWC after a conv, ONNX order otherwise); constants are
laid out to match, and data is put back in ONNX order only where the op needs it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx
from ai_edge_litert import schema_py_generated as fb

from harness.convert.tflite_context import OP, Context, attrs, converts, unsupported
from harness.convert.tflite_values import NHWC, Act, Const, identity, inverse, same_memory_order
from harness.errors import ConversionError

ACT = fb.ActivationFunctionType
FLOAT_LOWEST = float(np.finfo(np.float32).min)

# ---- elementwise -------------------------------------------------------------------------

_BINARY = {
    "Add": (OP.ADD, fb.AddOptionsT),
    "Sub": (OP.SUB, fb.SubOptionsT),
    "Mul": (OP.MUL, fb.MulOptionsT),
    "Div": (OP.DIV, fb.DivOptionsT),
}


@converts(*_BINARY)
def binary(ctx: Context, node: onnx.NodeProto) -> None:
    """Broadcasting math. NHWC operands stay NHWC; constants are laid out to match them."""
    code, options = _BINARY[node.op_type]
    rank = len(ctx.shape(node.output[0]))
    acts = [v for v in (ctx.input(node, 0), ctx.input(node, 1)) if isinstance(v, Act)]
    nhwc = rank == 4 and any(v.perm == NHWC for v in acts) and all(v.rank == 4 for v in acts)
    perm = NHWC if nhwc else identity(rank)
    inputs = []
    for i in (0, 1):
        value = ctx.input(node, i)
        view = identity(value.rank) if isinstance(value, Act) and value.rank < rank else perm
        inputs.append(ctx.act(node, i, view))
    out = ctx.output(node.output[0], perm)
    op = ctx.emit(code, inputs, [out], options(), version=2 if rank > 4 else 1)
    ctx.set(node.output[0], replace(out, producer=op))


def _unary(
    ctx: Context, node: onnx.NodeProto, code: int, fused: int | None = None, options: object = None
) -> None:
    """Emit a one-input op, or fold it into the op before as a fused activation."""
    x = ctx.input(node, 0)
    if (
        fused is not None
        and isinstance(x, Act)
        and x.producer is not None
        and x.producer.builtinOptions.fusedActivationFunction == ACT.NONE
        and ctx.only_reader(node.input[0]) is not None
    ):
        x.producer.builtinOptions.fusedActivationFunction = fused
        ctx.set(node.output[0], replace(x, producer=None))
        return
    x = ctx.act(node, 0)
    out = ctx.output(node.output[0], x.perm)
    ctx.emit(code, [x], [out], options)
    ctx.set(node.output[0], out)


@converts("Relu")
def relu(ctx: Context, node: onnx.NodeProto) -> None:
    _unary(ctx, node, OP.RELU, fused=ACT.RELU)


@converts("Sigmoid")
def sigmoid(ctx: Context, node: onnx.NodeProto) -> None:
    _unary(ctx, node, OP.LOGISTIC)


@converts("Tanh")
def tanh(ctx: Context, node: onnx.NodeProto) -> None:
    _unary(ctx, node, OP.TANH)


@converts("HardSwish")
def hard_swish(ctx: Context, node: onnx.NodeProto) -> None:
    _unary(ctx, node, OP.HARD_SWISH)


@converts("LeakyRelu")
def leaky_relu(ctx: Context, node: onnx.NodeProto) -> None:
    options = fb.LeakyReluOptionsT()
    options.alpha = float(attrs(node).get("alpha", 0.01))
    _unary(ctx, node, OP.LEAKY_RELU, options=options)


# (min, max) -> (op, fused activation or None)
_CLIPS = {
    (0.0, np.inf): (OP.RELU, ACT.RELU),
    (0.0, 6.0): (OP.RELU6, ACT.RELU6),
    (-1.0, 1.0): (OP.RELU_N1_TO_1, ACT.RELU_N1_TO_1),
    (0.0, 1.0): (OP.RELU_0_TO_1, None),
}


@converts("Clip")
def clip(ctx: Context, node: onnx.NodeProto) -> None:
    """Clip -> RELU / RELU6 / RELU_N1_TO_1 / RELU_0_TO_1 when it is one, else MAXIMUM+MINIMUM."""
    if ctx.opset < 11:
        a = attrs(node)
        lo, hi = a.get("min", -np.inf), a.get("max", np.inf)
    elif any(isinstance(ctx.input(node, i), Act) for i in (1, 2)):
        _clip_by_tensors(ctx, node)
        return
    else:
        low, high = (ctx.optional_const(node, i, "a bound") for i in (1, 2))
        lo = -np.inf if low is None else float(low.value.reshape(-1)[0])
        hi = np.inf if high is None else float(high.value.reshape(-1)[0])
    lo = -np.inf if lo <= FLOAT_LOWEST else float(lo)
    hi = np.inf if hi >= -FLOAT_LOWEST else float(hi)
    if (lo, hi) in _CLIPS:
        code, fused = _CLIPS[(lo, hi)]
        _unary(ctx, node, code, fused=fused)
        return
    x = ctx.act(node, 0)
    name = node.output[0]
    if lo > -np.inf:
        x = _bound(ctx, OP.MAXIMUM, x, lo, name if hi == np.inf else f"{name}_lower")
    if hi < np.inf:
        x = _bound(ctx, OP.MINIMUM, x, hi, name)
    ctx.set(name, replace(x, producer=None))


def _clip_by_tensors(ctx: Context, node: onnx.NodeProto) -> None:
    """Bounds computed at run time (an audio front end's `max - 80 dB` floor): MAXIMUM with
    the lower bound, then MINIMUM with the upper one, each broadcast from a scalar."""
    x = ctx.act(node, 0)
    name = node.output[0]
    given = [(i, code) for i, code in ((1, OP.MAXIMUM), (2, OP.MINIMUM)) if ctx.input(node, i)]
    for k, (i, code) in enumerate(given):
        bound = ctx.act(node, i)
        if bound.rank and any(d != 1 for d in bound.shape):
            raise unsupported(node, "a bound that is not a scalar")
        out = ctx.new_act(name if k == len(given) - 1 else f"{name}_lower", x.shape, x.dynamic,
                          x.perm)  # fmt: skip
        ctx.emit(code, [x, bound], [out])
        x = out
    ctx.set(name, replace(x, producer=None))


def _bound(ctx: Context, code: int, x: Act, bound: float, name: str) -> Act:
    """MAXIMUM or MINIMUM of `x` with a scalar constant."""
    out = ctx.new_act(name, x.shape, x.dynamic, x.perm)
    limit = ctx.builder.constant(f"{name}_bound", np.array([bound], np.float32))
    ctx.emit(code, [x, limit], [out])
    return out


@converts("Softmax", "LogSoftmax")
def softmax(ctx: Context, node: onnx.NodeProto) -> None:
    """SOFTMAX / LOG_SOFTMAX work on the last TFLite axis: lay the ONNX axis out last."""
    x = ctx.act(node, 0)
    axis = attrs(node).get("axis", -1 if ctx.opset >= 13 else 1) % x.rank
    trailing = [
        d
        for d, dyn in zip(x.shape[axis + 1 :], x.dynamic[axis + 1 :], strict=True)
        if d != 1 or dyn
    ]
    if ctx.opset < 13 and trailing:
        raise unsupported(node, "opset < 13 softmax over several flattened axes")
    if x.perm[-1] != axis:
        x = ctx.view(x, tuple(p for p in x.perm if p != axis) + (axis,))
    out = ctx.output(node.output[0], x.perm)
    if node.op_type == "Softmax":
        options = fb.SoftmaxOptionsT()
        options.beta = 1.0
        ctx.emit(OP.SOFTMAX, [x], [out], options)
    else:
        ctx.emit(OP.LOG_SOFTMAX, [x], [out], fb.LogSoftmaxOptionsT())
    ctx.set(node.output[0], out)


# ---- layout ops ---------------------------------------------------------------------------


@converts("Flatten", "Reshape", "Squeeze", "Unsqueeze")
def reshape(ctx: Context, node: onnx.NodeProto) -> None:
    """RESHAPE to the inferred output shape, -1 on the batch axis; the data is first put in
    ONNX order unless the layout only moves size-1 axes (e.g. NHWC after global pooling)."""
    x = ctx.act(node, 0)
    if not same_memory_order(x.shape, x.dynamic, x.perm):
        x = ctx.view(x, identity(x.rank))
    name = node.output[0]
    shape, dynamic = ctx.shape(name), ctx.dynamic(name)
    if shape == x.shape and x.perm == identity(x.rank):
        ctx.set(name, replace(x, producer=None))
        return
    target = [-1 if dyn else d for d, dyn in zip(shape, dynamic, strict=True)]
    if target.count(-1) > 1:
        raise ConversionError(f"{node.op_type} '{node.name}': several output axes follow the batch")
    out = ctx.output(name)
    options = fb.ReshapeOptionsT()
    options.newShape = target
    ctx.emit(OP.RESHAPE, [x, ctx.int32(target, f"{name}_shape")], [out], options)
    ctx.set(name, out)


@converts("Transpose")
def transpose(ctx: Context, node: onnx.NodeProto) -> None:
    """Free: a runtime tensor is re-labelled with another layout, no TRANSPOSE op; a
    constant is transposed keeping its int8/int4/float16 storage."""
    value = ctx.required(node, 0)
    rank = value.ndim if isinstance(value, Const) else value.rank
    perm = tuple(attrs(node).get("perm", range(rank - 1, -1, -1)))
    if isinstance(value, Const):
        ctx.set(node.output[0], value.transpose(perm))
        return
    x = ctx.act(node, 0)
    back = inverse(perm)
    ctx.set(
        node.output[0],
        Act(
            x.index,
            tuple(x.shape[p] for p in perm),
            tuple(x.dynamic[p] for p in perm),
            tuple(back[p] for p in x.perm),
        ),
    )


@converts("Concat")
def concat(ctx: Context, node: onnx.NodeProto) -> None:
    """CONCATENATION, in NHWC (channel axis last) when a 4-D input already is."""
    rank = len(ctx.shape(node.output[0]))
    axis = attrs(node)["axis"] % rank
    values = [ctx.input(node, i) for i in range(len(node.input))]
    nhwc = rank == 4 and any(isinstance(v, Act) and v.perm == NHWC for v in values)
    perm = NHWC if nhwc else identity(rank)
    inputs = [ctx.act(node, i, perm) for i, v in enumerate(values) if v is not None]
    out = ctx.output(node.output[0], perm)
    options = fb.ConcatenationOptionsT()
    options.axis = perm.index(axis)
    ctx.emit(OP.CONCATENATION, inputs, [out], options)
    ctx.set(node.output[0], out)


@converts("Pad")
def pad(ctx: Context, node: onnx.NodeProto) -> None:
    """Constant-mode Pad -> PAD (zeros) or PADV2, reflect-mode Pad (audio front ends) ->
    MIRROR_PAD, with pads reordered for the layout."""
    a = attrs(node)
    mode = a.get("mode", "constant")
    if mode not in ("constant", "reflect"):
        raise unsupported(node, f"mode={mode}; LiteRT pads with constants or a reflection")
    if ctx.optional_const(node, 3, "axes") is not None:
        raise unsupported(node, "the axes input")
    x = ctx.act(node, 0)
    if ctx.opset < 11:
        pads, fill = list(a["pads"]), float(a.get("value", 0.0))
    else:
        pads = [int(p) for p in ctx.const(node, 1, "pads").value.reshape(-1)]
        value = ctx.optional_const(node, 2, "constant_value")
        fill = 0.0 if value is None else float(value.value.reshape(-1)[0])
    if any(p < 0 for p in pads):
        raise unsupported(node, "negative pads (cropping)")
    paddings = [[pads[p], pads[p + x.rank]] for p in x.perm]
    out = ctx.output(node.output[0], x.perm)
    padding = ctx.int32(paddings, f"{node.output[0]}_pads")
    version = 4 if x.rank > 4 else 1
    if mode == "reflect":
        options = fb.MirrorPadOptionsT()
        options.mode = fb.MirrorPadMode.REFLECT
        ctx.emit(OP.MIRROR_PAD, [x, padding], [out], options)
    elif fill == 0.0:
        ctx.emit(OP.PAD, [x, padding], [out], fb.PadOptionsT(), version=version)
    else:
        filler = ctx.builder.constant(f"{node.output[0]}_value", np.array([fill], np.float32))
        ctx.emit(OP.PADV2, [x, padding, filler], [out], fb.PadV2OptionsT(), version=version)
    ctx.set(node.output[0], out)
