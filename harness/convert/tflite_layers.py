"""Converters for the layers: convolutions, dense layers, pooling, reductions and batch
normalization. Each registers itself for its ONNX op types.

Conv activations live in NHWC (TFLite's layout); `Context.view` inserts the TRANSPOSE from
the ONNX input once. A BatchNormalization right after a conv or dense layer is folded into
its weights; one elsewhere becomes MUL + ADD.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import onnx
from ai_edge_litert import schema_py_generated as fb

from harness.convert.tflite_context import OP, Context, attrs, converts, unsupported
from harness.convert.tflite_values import NHWC, Act, Const, identity

FLOAT_LOWEST = float(np.finfo(np.float32).min)

# ---- padding and spatial checks ---------------------------------------------------------


def _same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TFLite's SAME padding for one axis: the odd pixel goes at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _explicit_pads(
    node: onnx.NodeProto,
    a: dict,
    hw: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
) -> list[tuple[int, int]]:
    """(begin, end) padding per spatial axis, whatever way the node spells it."""
    auto = a.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = [_same_pads(*args) for args in zip(hw, kernel, strides, dilations, strict=True)]
        return pads if auto == "SAME_UPPER" else [(end, begin) for begin, end in pads]
    if auto == "VALID":
        return [(0, 0), (0, 0)]
    if auto != "NOTSET":
        raise unsupported(node, f"auto_pad={auto}")
    flat = list(a.get("pads", [0, 0, 0, 0]))
    if any(p < 0 for p in flat):
        raise unsupported(node, "negative pads")
    return [(flat[0], flat[2]), (flat[1], flat[3])]


def _padding(
    ctx: Context,
    node: onnx.NodeProto,
    x: Act,
    pads: list[tuple[int, int]],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    *,
    same_ok: bool,
    fill: float | None,
) -> tuple[int, Act]:
    """Pick VALID or SAME for pads TFLite can express; otherwise pad explicitly with a PAD op
    (PADV2 when `fill` is not 0) and use VALID. `fill=None`: explicit padding is wrong."""
    if all(p == (0, 0) for p in pads):
        return fb.Padding.VALID, x
    same = [_same_pads(*args) for args in zip(x.shape[2:], kernel, strides, dilations, strict=True)]
    if same_ok and pads == same:
        return fb.Padding.SAME, x
    if fill is None:
        raise unsupported(node, "padding that is neither SAME nor expressible as a PAD")
    n, c, h, w = x.shape
    (top, bottom), (left, right) = pads
    name = f"{node.output[0]}_padded"
    out = ctx.new_act(name, (n, c, h + top + bottom, w + left + right), x.dynamic, NHWC)
    paddings = ctx.int32([[0, 0], [top, bottom], [left, right], [0, 0]], f"{name}_pads")
    if fill == 0.0:
        ctx.emit(OP.PAD, [x, paddings], [out], fb.PadOptionsT())
    else:
        value = ctx.builder.constant(f"{name}_value", np.array([fill], np.float32))
        ctx.emit(OP.PADV2, [x, paddings, value], [out], fb.PadV2OptionsT())
    return fb.Padding.VALID, out


def _ceil_pads(
    hw: Sequence[int], pads: list[tuple[int, int]], kernel: Sequence[int], strides: Sequence[int]
) -> list[tuple[int, int]]:
    """Max pooling's ceil_mode as extra padding at the end (filled with the lowest float,
    so it never wins a max): the last window ONNX lets hang over the edge becomes a whole
    one. A window must still start inside the input or its begin padding."""
    out = []
    for size, (begin, end), k, s in zip(hw, pads, kernel, strides, strict=True):
        windows = -(-(size + begin + end - k) // s) + 1
        if (windows - 1) * s >= size + begin:
            windows -= 1
        out.append((begin, end + max(0, (windows - 1) * s + k - (size + begin + end))))
    return out


def _check_spatial(
    node: onnx.NodeProto,
    x: Act,
    out: Act,
    padding: int,
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
) -> None:
    """Refuse when TFLite's output size differs from ONNX's (e.g. pooling with ceil_mode)."""
    for size, k, s, d, want in zip(
        x.shape[2:], kernel, strides, dilations, out.shape[2:], strict=True
    ):
        got = -(-size // s) if padding == fb.Padding.SAME else (size - (k - 1) * d - 1) // s + 1
        if got != want:
            raise unsupported(node, f"output size {want} where TFLite gives {got} (ceil_mode?)")


# ---- convolution and dense ---------------------------------------------------------------


def _batchnorm_params(ctx: Context, bn: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray] | None:
    """BatchNormalization as y = x * a + b, or None when it cannot be folded."""
    a = attrs(bn)
    if a.get("training_mode", 0) or any(ctx.is_used(name) for name in bn.output[1:]):
        return None
    params = [ctx.input(bn, i) for i in range(1, 5)]
    consts = [p for p in params if isinstance(p, Const) and not p.dynamic]
    if len(consts) != len(params):
        return None
    scale, bias, mean, var = (p.value.astype(np.float32).reshape(-1) for p in consts)
    factor = scale / np.sqrt(var + np.float32(a.get("epsilon", 1e-5)))
    return factor, bias - mean * factor


def _fold_batchnorm(
    ctx: Context, out_name: str, weight: Const, bias: np.ndarray
) -> tuple[Const, np.ndarray, str]:
    """Fold a BatchNormalization that alone reads `out_name` into weights (axis 0 = output
    channels) and bias; returns the name the fused result now stands for."""
    bn = ctx.only_reader(out_name)
    if bn is None or bn.op_type != "BatchNormalization" or bn.input[0] != out_name:
        return weight, bias, out_name
    params = _batchnorm_params(ctx, bn)
    if params is None or params[0].size != bias.size:
        return weight, bias, out_name
    folded = weight.scaled(params[0], axis=0)
    if folded is None:  # float16 or sign-flipping quantized weights: BN runs as MUL + ADD
        return weight, bias, out_name
    ctx.fuse(bn)
    return folded, bias * params[0] + params[1], bn.output[0]


def _bias(ctx: Context, node: onnx.NodeProto, i: int, size: int, what: str = "bias") -> np.ndarray:
    """A constant bias as a float32 vector of `size` (zeros when absent)."""
    const = ctx.optional_const(node, i, what)
    if const is None:
        return np.zeros(size, np.float32)
    value = const.value.astype(np.float32)
    if value.size not in (1, size) or (value.ndim and value.shape[-1] not in (1, size)):
        raise unsupported(node, f"{what} of shape {list(value.shape)} is not a vector of {size}")
    if value.size != 1 and value.ndim > 1 and any(d != 1 for d in value.shape[:-1]):
        raise unsupported(node, f"{what} of shape {list(value.shape)} varies along the batch")
    return np.broadcast_to(value.reshape(-1), (size,)).copy()


@converts("Conv")
def conv(ctx: Context, node: onnx.NodeProto) -> None:
    """Conv -> CONV_2D (grouped too) or DEPTHWISE_CONV_2D; a following BatchNorm is folded."""
    a = attrs(node)
    weight = ctx.const(node, 1, "weights")
    if weight.ndim != 4:
        raise unsupported(node, f"{weight.ndim - 2}-D convolution; only 2-D is supported")
    x = ctx.act(node, 0, NHWC)
    out_c, per_group, kh, kw = weight.value.shape
    in_c, group = x.shape[1], a.get("group", 1)
    strides, dilations = a.get("strides", [1, 1]), a.get("dilations", [1, 1])
    bias = _bias(ctx, node, 2, out_c)
    weight, bias, out_name = _fold_batchnorm(ctx, node.output[0], weight, bias)
    pads = _explicit_pads(node, a, x.shape[2:], (kh, kw), strides, dilations)
    padding, x = _padding(ctx, node, x, pads, (kh, kw), strides, dilations, same_ok=True, fill=0.0)
    if group > 1 and group == in_c and per_group == 1:
        code, version = OP.DEPTHWISE_CONV_2D, 2 if dilations != [1, 1] else 1
        weight = weight.transpose((1, 2, 3, 0))  # [1, kh, kw, out]
        options = fb.DepthwiseConv2DOptionsT()
        options.depthMultiplier = out_c // in_c
    else:
        code, version = OP.CONV_2D, 6 if group > 1 else 1
        weight = weight.transpose((0, 2, 3, 1))  # [out, kh, kw, in / group]
        options = fb.Conv2DOptionsT()
    options.padding = padding
    options.strideH, options.strideW = strides
    options.dilationHFactor, options.dilationWFactor = dilations
    out = ctx.output(out_name, NHWC)
    _check_spatial(node, x, out, padding, (kh, kw), strides, dilations)
    inputs: list[Act | int] = [
        x,
        ctx.constant(weight, node.input[1]),
        ctx.builder.constant(f"{out_name}_bias", bias),
    ]
    op = ctx.emit(code, inputs, [out], options, version=version)
    ctx.set(out_name, replace(out, producer=op))


def _fully_connected(
    ctx: Context, x: Act, weight: Const, bias: np.ndarray, out_name: str, weight_name: str
) -> None:
    """FULLY_CONNECTED with weights [out, in]; keeps leading axes for inputs above rank 2."""
    keep = x.rank > 2
    if not keep:
        weight, bias, out_name = _fold_batchnorm(ctx, out_name, weight, bias)
    out = ctx.output(out_name)
    options = fb.FullyConnectedOptionsT()
    options.keepNumDims = keep
    inputs: list[Act | int] = [
        x,
        ctx.constant(weight, weight_name),
        ctx.builder.constant(f"{out_name}_bias", bias),
    ]
    op = ctx.emit(OP.FULLY_CONNECTED, inputs, [out], options, version=5 if keep else 1)
    ctx.set(out_name, replace(out, producer=op))


@converts("Gemm")
def gemm(ctx: Context, node: onnx.NodeProto) -> None:
    """Gemm (transA=0) -> FULLY_CONNECTED; alpha is folded into the weights, beta into C."""
    a = attrs(node)
    if a.get("transA", 0):
        raise unsupported(node, "transA=1")
    x = ctx.act(node, 0, (0, 1))
    weight = ctx.const(node, 1, "B (the weights)")
    if not a.get("transB", 0):
        weight = weight.transpose((1, 0))
    alpha = a.get("alpha", 1.0)
    if alpha != 1.0:
        scaled = weight.scaled(np.float32(alpha), axis=0)
        if scaled is None:
            raise unsupported(node, f"alpha={alpha} with float16 or quantized weights")
        weight = scaled
    bias = _bias(ctx, node, 2, weight.value.shape[0], "C") * np.float32(a.get("beta", 1.0))
    _fully_connected(ctx, x, weight, bias, node.output[0], node.input[1])


@converts("MatMul")
def matmul(ctx: Context, node: onnx.NodeProto) -> None:
    """MatMul by a constant 2-D weight -> FULLY_CONNECTED, taking a following bias Add;
    of two run-time tensors (attention) -> BATCH_MATMUL."""
    w = ctx.input(node, 1)
    if isinstance(w, Act):
        _batch_matmul(ctx, node)
        return
    if not isinstance(w, Const) or w.ndim != 2 or w.dynamic:
        raise unsupported(node, "the second input must be a constant 2-D weight")
    x = ctx.act(node, 0)
    if x.rank < 2:
        raise unsupported(node, "a 1-D first input")
    x = ctx.view(x, identity(x.rank))
    weight = w.transpose((1, 0))
    size = weight.value.shape[0]
    bias, out_name = np.zeros(size, np.float32), node.output[0]
    add = ctx.only_reader(out_name)
    if add is not None and add.op_type == "Add" and add.input[0] != add.input[1]:
        other = ctx.values.get(add.input[1 if add.input[0] == out_name else 0])
        if isinstance(other, Const) and not other.dynamic and _is_row(other.value, size, x.rank):
            bias = np.broadcast_to(other.value.astype(np.float32).reshape(-1), (size,)).copy()
            ctx.fuse(add)
            out_name = add.output[0]
    _fully_connected(ctx, x, weight, bias, out_name, node.input[1])


def _batch_matmul(ctx: Context, node: onnx.NodeProto) -> None:
    """BATCH_MATMUL of two run-time tensors in ONNX order, leading axes broadcast."""
    a, b = ctx.act(node, 0), ctx.act(node, 1)
    if a.rank < 2 or b.rank < 2:
        raise unsupported(node, "a 1-D input")
    a, b = ctx.view(a, identity(a.rank)), ctx.view(b, identity(b.rank))
    out = ctx.output(node.output[0])
    ctx.emit(OP.BATCH_MATMUL, [a, b], [out], fb.BatchMatMulOptionsT(), version=4)
    ctx.set(node.output[0], out)


def _is_row(value: np.ndarray, size: int, rank: int) -> bool:
    """True when `value` broadcasts only along the last axis of a rank-`rank` result."""
    if value.ndim > rank or value.size not in (1, size):
        return False
    return value.ndim == 0 or all(d == 1 for d in value.shape[:-1])


# ---- pooling and reductions --------------------------------------------------------------


@converts("MaxPool", "AveragePool")
def pool(ctx: Context, node: onnx.NodeProto) -> None:
    """MAX_POOL_2D / AVERAGE_POOL_2D; SAME when the pads match it, else an explicit PAD."""
    a = attrs(node)
    kernel = list(a["kernel_shape"])
    if len(kernel) != 2:
        raise unsupported(node, f"{len(kernel)}-D pooling; only 2-D is supported")
    if any(d != 1 for d in a.get("dilations", [1, 1])):
        raise unsupported(node, "dilations")
    if a.get("storage_order", 0) or (len(node.output) > 1 and ctx.is_used(node.output[1])):
        raise unsupported(node, "the Indices output")
    strides = list(a.get("strides", [1, 1]))
    x = ctx.act(node, 0, NHWC)
    pads = _explicit_pads(node, a, x.shape[2:], kernel, strides, [1, 1])
    if a.get("ceil_mode", 0) and node.op_type == "MaxPool":
        pads = _ceil_pads(x.shape[2:], pads, kernel, strides)
    if node.op_type == "MaxPool":
        code, same_ok, fill = OP.MAX_POOL_2D, True, FLOAT_LOWEST
    elif a.get("count_include_pad", 0):
        code, same_ok, fill = OP.AVERAGE_POOL_2D, False, 0.0
    else:  # TFLite's SAME averages only real pixels, as count_include_pad=0 does
        code, same_ok, fill = OP.AVERAGE_POOL_2D, True, None
    padding, x = _padding(ctx, node, x, pads, kernel, strides, [1, 1], same_ok=same_ok, fill=fill)
    out = ctx.output(node.output[0], NHWC)
    _check_spatial(node, x, out, padding, kernel, strides, [1, 1])
    options = fb.Pool2DOptionsT()
    options.padding = padding
    options.strideH, options.strideW = strides
    options.filterHeight, options.filterWidth = kernel
    ctx.emit(code, [x], [out], options)
    ctx.set(node.output[0], out)


def _reduce(
    ctx: Context, node: onnx.NodeProto, code: int, x: Act, axes: list[int], keep: bool
) -> None:
    """A TFLite reducer over ONNX `axes` of `x`, in whatever layout `x` has."""
    tfl_axes = sorted(x.perm.index(axis) for axis in axes)
    if keep:
        perm = x.perm
    else:
        kept = [p for p in x.perm if p not in axes]
        perm = tuple(sorted(kept).index(p) for p in kept)
    out = ctx.output(node.output[0], perm)
    options = fb.ReducerOptionsT()
    options.keepDims = keep
    ctx.emit(code, [x, ctx.int32(tfl_axes, f"{node.output[0]}_axes")], [out], options)
    ctx.set(node.output[0], out)


_GLOBAL_POOLS = {"GlobalAveragePool": OP.MEAN, "GlobalMaxPool": OP.REDUCE_MAX}
_REDUCERS = {"ReduceMean": OP.MEAN, "ReduceMax": OP.REDUCE_MAX, "ReduceSum": OP.SUM}


@converts(*_GLOBAL_POOLS)
def global_pool(ctx: Context, node: onnx.NodeProto) -> None:
    """Global pooling -> MEAN / REDUCE_MAX over the spatial axes, keeping them as 1s."""
    x = ctx.act(node, 0)
    _reduce(ctx, node, _GLOBAL_POOLS[node.op_type], x, list(range(2, x.rank)), keep=True)


@converts(*_REDUCERS)
def reduce(ctx: Context, node: onnx.NodeProto) -> None:
    """ReduceMean/Max/Sum with axes from the attribute or (newer opsets) the second input."""
    a = attrs(node)
    x = ctx.act(node, 0)
    axes_const = ctx.optional_const(node, 1, "axes")
    axes = list(axes_const.value.reshape(-1)) if axes_const is not None else a.get("axes")
    if not axes:
        if a.get("noop_with_empty_axes", 0):
            ctx.set(node.output[0], replace(x, producer=None))
            return
        axes = list(range(x.rank))
    axes = sorted({int(axis) % x.rank for axis in axes})
    _reduce(ctx, node, _REDUCERS[node.op_type], x, axes, keep=bool(a.get("keepdims", 1)))


@converts("BatchNormalization")
def batchnorm(ctx: Context, node: onnx.NodeProto) -> None:
    """A BatchNorm not folded into a conv or dense layer: MUL by a, then ADD b, per channel."""
    params = _batchnorm_params(ctx, node)
    if params is None:
        raise unsupported(node, "needs constant parameters, inference mode and one output")
    x = ctx.act(node, 0)
    name = node.output[0]
    channel_shape = (1, -1) + (1,) * (x.rank - 2)  # broadcasts along ONNX axis 1
    scale, shift = (Const(p.reshape(channel_shape)).transpose(x.perm).value for p in params)
    scaled = ctx.new_act(f"{name}_scaled", x.shape, x.dynamic, x.perm)
    ctx.emit(OP.MUL, [x, ctx.builder.constant(f"{name}_scale", scale)], [scaled], fb.MulOptionsT())
    out = ctx.output(name, x.perm)
    ctx.emit(
        OP.ADD, [scaled, ctx.builder.constant(f"{name}_shift", shift)], [out], fb.AddOptionsT()
    )
    ctx.set(name, out)
