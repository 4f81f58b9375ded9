"""Converters for the elementwise math, comparisons and selection that real exports use
beyond the basic four (HardSigmoid in MobileNetV3 and OCR models, Sqrt/Pow in
normalisation layers, Equal/Where in masks), and for Split and Resize.

Each maps onto one TFLite builtin (or a short fixed sequence of them); where ONNX's
semantics and the builtin's differ for the node's attributes, the node is refused with
`unsupported on litert: Op (why)` rather than converted into a different model.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from ai_edge_litert import schema_py_generated as fb
from onnx import numpy_helper

from harness.convert.tflite_context import OP, Context, attrs, converts, unsupported
from harness.convert.tflite_ops import _unary
from harness.convert.tflite_values import NHWC, Act, Const, identity

BOOL = fb.TensorType.BOOL

# ONNX op -> (TFLite op, options class or None)
_UNARY = {
    "Sqrt": (OP.SQRT, None),
    "Exp": (OP.EXP, fb.ExpOptionsT),
    "Log": (OP.LOG, None),
    "Abs": (OP.ABS, fb.AbsOptionsT),
    "Neg": (OP.NEG, fb.NegOptionsT),
    "Floor": (OP.FLOOR, None),
    "Ceil": (OP.CEIL, None),
    "Sin": (OP.SIN, None),
    "Cos": (OP.COS, None),
    "Sign": (OP.SIGN, None),
    "Elu": (OP.ELU, None),
}


@converts(*_UNARY)
def unary_math(ctx: Context, node: onnx.NodeProto) -> None:
    code, options = _UNARY[node.op_type]
    if node.op_type == "Elu" and float(attrs(node).get("alpha", 1.0)) != 1.0:
        raise unsupported(node, "alpha != 1 (LiteRT's ELU has no alpha)")
    _unary(ctx, node, code, options=None if options is None else options())


@converts("Gelu")
def gelu(ctx: Context, node: onnx.NodeProto) -> None:
    options = fb.GeluOptionsT()
    options.approximate = attrs(node).get("approximate", "none") == "tanh"
    _unary(ctx, node, OP.GELU, options=options)


@converts("HardSigmoid")
def hard_sigmoid(ctx: Context, node: onnx.NodeProto) -> None:
    """max(0, min(1, alpha * x + beta)): LiteRT has no builtin, so MUL, ADD, RELU_0_TO_1."""
    a = attrs(node)
    alpha, beta = float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))
    x = ctx.act(node, 0)
    name = node.output[0]
    scaled = ctx.new_act(f"{name}_scaled", x.shape, x.dynamic, x.perm)
    alpha_t = ctx.builder.constant(f"{name}_alpha", np.array([alpha], np.float32))
    ctx.emit(OP.MUL, [x, alpha_t], [scaled], fb.MulOptionsT())
    shifted = ctx.new_act(f"{name}_shifted", x.shape, x.dynamic, x.perm)
    beta_t = ctx.builder.constant(f"{name}_beta", np.array([beta], np.float32))
    ctx.emit(OP.ADD, [scaled, beta_t], [shifted], fb.AddOptionsT())
    out = ctx.output(name, x.perm)
    ctx.emit(OP.RELU_0_TO_1, [shifted], [out])
    ctx.set(name, out)


# ---- broadcasting ops of several inputs --------------------------------------------------

# ONNX op -> (TFLite op, options class, output is boolean)
_BROADCAST = {
    "Max": (OP.MAXIMUM, fb.MaximumMinimumOptionsT, False),
    "Min": (OP.MINIMUM, fb.MaximumMinimumOptionsT, False),
    "Equal": (OP.EQUAL, fb.EqualOptionsT, True),
    "Less": (OP.LESS, fb.LessOptionsT, True),
    "Greater": (OP.GREATER, fb.GreaterOptionsT, True),
    "LessOrEqual": (OP.LESS_EQUAL, fb.LessEqualOptionsT, True),
    "GreaterOrEqual": (OP.GREATER_EQUAL, fb.GreaterEqualOptionsT, True),
    "Where": (OP.SELECT_V2, fb.SelectV2OptionsT, False),
    "And": (OP.LOGICAL_AND, fb.LogicalAndOptionsT, True),
    "Or": (OP.LOGICAL_OR, fb.LogicalOrOptionsT, True),
    "Pow": (OP.POW, fb.PowOptionsT, False),
}


def _operand(ctx: Context, node: onnx.NodeProto, i: int, perm: tuple[int, ...]) -> Act:
    """Input `i` in layout `perm`; a runtime tensor of lower rank keeps its own order (ONNX
    broadcasting aligns trailing axes, which NHWC keeps only for equal ranks)."""
    value = ctx.required(node, i)
    if isinstance(value, Act):
        view = identity(value.rank) if value.rank < len(perm) else perm
        if value.dtype == fb.TensorType.FLOAT32:
            return ctx.act(node, i, view)
        return ctx.view(value, view)
    return ctx.act(node, i, perm) if value.value.dtype.kind == "f" else _const(ctx, node, i, perm)


def _const(ctx: Context, node: onnx.NodeProto, i: int, perm: tuple[int, ...]) -> Act:
    """A boolean or integer constant operand (a mask), laid out like the float ones."""
    value = ctx.const(node, i, "a mask").value
    value = value.reshape((1,) * (len(perm) - value.ndim) + value.shape).transpose(perm)
    index = ctx.builder.constant(f"{node.input[i]}_{node.output[0]}", np.ascontiguousarray(value))
    return Act(index, value.shape, (False,) * value.ndim, identity(value.ndim))


@converts(*_BROADCAST)
def broadcast(ctx: Context, node: onnx.NodeProto) -> None:
    """Comparisons, selection, min/max and Pow: NHWC operands stay NHWC, constants follow."""
    code, options, boolean = _BROADCAST[node.op_type]
    if node.op_type in ("Max", "Min") and len(node.input) != 2:
        raise unsupported(node, f"{len(node.input)} inputs; LiteRT's op takes two")
    if node.op_type == "Pow" and _pow_by_constant(ctx, node):
        return
    rank = len(ctx.shape(node.output[0]))
    acts = [v for v in (ctx.input(node, i) for i in range(len(node.input))) if isinstance(v, Act)]
    nhwc = rank == 4 and any(v.perm == NHWC for v in acts) and all(v.rank == 4 for v in acts)
    perm = NHWC if nhwc else identity(rank)
    inputs = [_operand(ctx, node, i, perm) for i in range(len(node.input))]
    out = ctx.output(node.output[0], perm, dtype=BOOL if boolean else fb.TensorType.FLOAT32)
    ctx.emit(code, inputs, [out], options())
    ctx.set(node.output[0], out)


def _pow_by_constant(ctx: Context, node: onnx.NodeProto) -> bool:
    """x ** 2 -> SQUARE and x ** 0.5 -> SQRT: XNNPACK runs these, not POW."""
    exponent = ctx.input(node, 1)
    if isinstance(exponent, Act) or exponent is None or exponent.value.size != 1:
        return False
    value = float(exponent.value.reshape(-1)[0])
    codes = {2.0: OP.SQUARE, 0.5: OP.SQRT, 1.0: None}
    if value not in codes or isinstance(ctx.input(node, 0), Act) is False:
        return False
    code = codes[value]
    if code is None:
        x = ctx.act(node, 0)
        ctx.set(node.output[0], x)
        return True
    _unary(ctx, node, code)
    return True


# ---- Split -------------------------------------------------------------------------------


@converts("Split")
def split(ctx: Context, node: onnx.NodeProto) -> None:
    """SPLIT_V along the ONNX axis, in whatever layout the input already has."""
    x = ctx.act(node, 0)
    a = attrs(node)
    axis = int(a.get("axis", 0)) % x.rank
    if x.dynamic[axis]:
        raise unsupported(node, "a split along the batch axis")
    size, count = x.shape[axis], len(node.output)
    given = ctx.optional_const(node, 1, "split") if ctx.opset >= 13 else None
    if given is not None:
        sizes = [int(s) for s in given.value.reshape(-1)]
    elif "split" in a:
        sizes = [int(s) for s in a["split"]]
    else:  # equal parts; opset 18's num_outputs makes the last one smaller when uneven
        part = math.ceil(size / count)
        sizes = [part] * (count - 1) + [size - part * (count - 1)]
    outs = [ctx.output(name, x.perm) for name in node.output]
    options = fb.SplitVOptionsT()
    options.numSplits = count
    axis_t = ctx.int32([x.perm.index(axis)], f"{node.output[0]}_axis")
    ctx.emit(OP.SPLIT_V, [x, ctx.int32(sizes, f"{node.output[0]}_sizes"), axis_t], outs, options)
    for name, out in zip(node.output, outs, strict=True):
        ctx.set(name, out)


def _const_near(ctx: Context, node: onnx.NodeProto, other: str, value: float) -> bool:
    """`node` reads `other` and a constant equal to `value` (to float32 precision)."""
    names = list(node.input)
    if other not in names or len(names) != 2:
        return False
    name = names[1 - names.index(other)]
    known = ctx.values.get(name)
    source = ctx.producer(name)
    if known is None and source is not None and source.op_type == "Constant":
        known = Const.of(numpy_helper.to_array(source.attribute[0].t))  # placed after Erf
    return isinstance(known, Const) and np.allclose(known.value, value, rtol=1e-6)


def _erf_gelu(ctx: Context, erf: onnx.NodeProto) -> tuple[str, list[onnx.NodeProto]] | None:
    """(x, the nodes after Erf) when Erf is the middle of x * 0.5 * (1 + erf(x / sqrt 2)),
    as torch's TorchScript exporter writes an exact GELU; else None."""
    scale = ctx.producer(erf.input[0])
    if scale is None or scale.op_type not in ("Div", "Mul") or not scale.input[0]:
        return None
    x = scale.input[0]
    factor = math.sqrt(2) if scale.op_type == "Div" else 1 / math.sqrt(2)
    add = ctx.only_reader(erf.output[0])
    if not _const_near(ctx, scale, x, factor) or add is None or add.op_type != "Add":
        return None
    times = ctx.only_reader(add.output[0])
    if not _const_near(ctx, add, erf.output[0], 1.0) or times is None or times.op_type != "Mul":
        return None
    other = next((i for i in times.input if i != add.output[0]), "")
    half = ctx.producer(other)
    if other == x:  # (x * (1 + erf)) * 0.5
        last = ctx.only_reader(times.output[0])
        if (
            last is not None
            and last.op_type == "Mul"
            and _const_near(ctx, last, times.output[0], 0.5)
        ):
            return x, [add, times, last]
    elif half is not None and half.op_type == "Mul" and _const_near(ctx, half, x, 0.5):
        return x, [add, times]  # (x * 0.5) * (1 + erf)
    return None


@converts("Erf")
def erf_in_gelu(ctx: Context, node: onnx.NodeProto) -> None:
    """LiteRT has no erf, but has GELU: the exact GELU written out around an Erf becomes one
    GELU op (the x / sqrt 2 before it is left unread)."""
    found = _erf_gelu(ctx, node)
    if found is None:
        raise unsupported(node, "LiteRT has no erf; only erf inside an exact GELU converts")
    x_name, after = found
    x = ctx.values.get(x_name)
    if not isinstance(x, Act):
        raise unsupported(node, "GELU of a constant")
    name = after[-1].output[0]
    out = ctx.output(name, x.perm)
    ctx.emit(OP.GELU, [x], [out], fb.GeluOptionsT())
    ctx.set(name, out)
    for fused in after:
        ctx.fuse(fused)
