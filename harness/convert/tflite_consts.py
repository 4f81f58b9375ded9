"""Converters for constants, casts, quantization and no-ops, plus the numpy folders for
the shape arithmetic exporters leave in graphs (Shape -> Gather -> Concat -> Reshape).

Folding happens at batch 1; a value derived from a runtime shape is marked `dynamic` and
may only steer a Reshape (whose target comes from shape inference), never become data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import onnx
from ai_edge_litert import schema_py_generated as fb
from onnx import TensorProto, numpy_helper

from harness.convert.tflite_context import OP, Context, attrs, converts, folds, unsupported
from harness.convert.tflite_values import Act, ActQuant, Const, dequantize, make_quant

# ---- constants and no-ops ----------------------------------------------------------------


@converts("Constant")
def constant(ctx: Context, node: onnx.NodeProto) -> None:
    attribute = node.attribute[0]
    value = onnx.helper.get_attribute_value(attribute)
    if attribute.name == "value":
        array = numpy_helper.to_array(value)
    elif attribute.name in ("value_float", "value_floats"):
        array = np.array(value, np.float32)
    elif attribute.name in ("value_int", "value_ints"):
        array = np.array(value, np.int64)
    else:
        raise unsupported(node, f"a {attribute.name} attribute")
    ctx.set(node.output[0], Const.of(array))


@converts("Identity", "Dropout")
def passthrough(ctx: Context, node: onnx.NodeProto) -> None:
    """Identity, and Dropout at inference: the output is the input."""
    if node.op_type == "Dropout":
        if len(node.output) > 1 and ctx.is_used(node.output[1]):
            raise unsupported(node, "the mask output")
        training = ctx.optional_const(node, 2, "training_mode")
        if training is not None and bool(training.value):
            raise unsupported(node, "training_mode=True")
    value = ctx.required(node, 0)
    ctx.set(node.output[0], replace(value, producer=None) if isinstance(value, Act) else value)


@converts("Shape")
def shape(ctx: Context, node: onnx.NodeProto) -> None:
    value = ctx.required(node, 0)
    if isinstance(value, Act):
        dims, dynamic = value.shape, value.dynamic
    elif value.alt is not None:  # its shape at batch 2 is known: the axes that differ follow
        dims = value.value.shape
        dynamic = tuple(a != b for a, b in zip(dims, value.alt.shape, strict=False))
    else:
        dims, dynamic = value.value.shape, (value.dynamic,) * value.ndim
    a = attrs(node)
    part = slice(a.get("start", 0), a.get("end"))
    if not any(dynamic[part]):
        ctx.set(node.output[0], Const(np.array(dims[part], np.int64)))
        return
    # Axes that follow the batch hold batch x size: at batch 2, twice what they hold at 1.
    at_2 = [d * 2 if dyn else d for d, dyn in zip(dims, dynamic, strict=True)]
    shape_1, shape_2 = np.array(dims[part], np.int64), np.array(at_2[part], np.int64)
    ctx.set(node.output[0], Const(shape_1, dynamic=True, alt=shape_2))


@converts("Cast")
def cast(ctx: Context, node: onnx.NodeProto) -> None:
    """Casts of constants fold (float16 keeps its storage); on runtime tensors only float to
    float casts are allowed, and float16 activations are computed in float32."""
    to = attrs(node)["to"]
    value = ctx.required(node, 0)
    if isinstance(value, Act):
        if to not in (TensorProto.FLOAT, TensorProto.FLOAT16):
            raise unsupported(node, f"to {TensorProto.DataType.Name(to)} on a runtime tensor")
        ctx.set(node.output[0], replace(ctx.act(node, 0), producer=None))
    elif to == TensorProto.FLOAT and value.value.dtype.kind == "f":
        # float16 or quantized storage stays as it is
        ctx.set(node.output[0], replace(value, value=value.value.astype(np.float32)))
    elif to == TensorProto.FLOAT16:
        rounded = value.value.astype(np.float16).astype(np.float32)
        ctx.set(node.output[0], Const(rounded, fp16=True, dynamic=value.dynamic))
    else:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(to)
        alt = None if value.alt is None else value.alt.astype(dtype)
        ctx.set(node.output[0], Const(value.value.astype(dtype), dynamic=value.dynamic, alt=alt))


# ---- quantization ------------------------------------------------------------------------


def _zero_point(ctx: Context, node: onnx.NodeProto) -> tuple[np.ndarray | None, np.dtype]:
    """The zero point (or None) and the quantized type; uint8 when neither says otherwise."""
    zp = ctx.optional_const(node, 2, "zero point")
    if zp is not None:
        return zp.value, zp.value.dtype
    output_dtype = attrs(node).get("output_dtype", 0)
    if output_dtype:
        return None, np.dtype(onnx.helper.tensor_dtype_to_np_dtype(output_dtype))
    return None, np.dtype(np.uint8)


def _int_range(dtype: np.dtype) -> tuple[int, int]:
    name = dtype.name
    if name in ("int4", "uint4"):
        return (-8, 7) if name == "int4" else (0, 15)
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


@converts("QuantizeLinear")
def quantize(ctx: Context, node: onnx.NodeProto) -> None:
    """On a constant: fold to integers (a weight fake-quantized in the graph). On a runtime
    tensor: QUANTIZE to int8 (uint8 is shifted by 128, exactly), per-tensor only."""
    a = attrs(node)
    if a.get("block_size", 0):
        raise unsupported(node, "blocked quantization")
    scale = ctx.const(node, 1, "scale").value.astype(np.float32)
    zp, dtype = _zero_point(ctx, node)
    value = ctx.input(node, 0)
    if isinstance(value, Const):
        axis = a.get("axis", 1) % max(value.ndim, 1)
        shape = [1] * value.ndim
        if scale.size > 1:
            shape[axis] = -1
        lo, hi = _int_range(dtype)
        q = np.rint(value.value.astype(np.float32) / scale.reshape(shape))
        q = q + (0 if zp is None else zp.astype(np.float32).reshape(shape))
        folded = np.clip(q, lo, hi).astype(np.int64).astype(dtype)
        ctx.set(node.output[0], Const(folded, dynamic=value.dynamic))
        return
    if scale.size != 1:
        raise unsupported(node, "per-axis quantization of a runtime tensor")
    if dtype.name not in ("int8", "uint8"):
        raise unsupported(node, f"{dtype.name} activations (int8 and uint8 only)")
    unsigned = dtype.name == "uint8"
    zero = (0 if zp is None else int(zp.reshape(-1)[0])) - (128 if unsigned else 0)
    x = ctx.act(node, 0)
    quant = ActQuant(float(scale.reshape(-1)[0]), zero, unsigned)
    out = ctx.output(node.output[0], x.perm, dtype=fb.TensorType.INT8, quant=quant)
    ctx.emit(OP.QUANTIZE, [x], [out])
    ctx.set(node.output[0], out)


@converts("DequantizeLinear")
def dequantize_linear(ctx: Context, node: onnx.NodeProto) -> None:
    """On an integer constant: a quantized `Const` (stored int8/int4 behind a DEQUANTIZE
    when used). On a QuantizeLinear output: DEQUANTIZE with the same parameters."""
    a = attrs(node)
    if a.get("block_size", 0):
        raise unsupported(node, "blocked quantization")
    scale = ctx.const(node, 1, "scale").value.astype(np.float32)
    zp = ctx.optional_const(node, 2, "zero point")
    value = ctx.required(node, 0)
    if isinstance(value, Const):
        dtype = value.value.dtype
        if value.dynamic or not (dtype.kind in "iu" or dtype.name in ("int4", "uint4")):
            raise unsupported(
                node, "the input must be an integer constant or QuantizeLinear output"
            )
        quant = make_quant(value.value, scale, None if zp is None else zp.value, a.get("axis", 1))
        ctx.set(node.output[0], Const(dequantize(quant), quant=quant))
        return
    if value.dtype != fb.TensorType.INT8 or value.quant is None:
        raise unsupported(node, "the input must be an integer constant or QuantizeLinear output")
    act_quant = value.quant
    zero = (0 if zp is None else int(zp.value.reshape(-1)[0])) - (128 if act_quant.unsigned else 0)
    expected = (act_quant.scale, act_quant.zero_point)
    if scale.size != 1 or (float(scale.reshape(-1)[0]), zero) != expected:
        raise unsupported(node, "scale or zero point differs from the QuantizeLinear before it")
    out = ctx.output(node.output[0], value.perm)
    ctx.emit(OP.DEQUANTIZE, [value], [out], version=2)
    ctx.set(node.output[0], out)


# ---- numpy folders -----------------------------------------------------------------------


def _axes(
    node: onnx.NodeProto, inputs: list[np.ndarray | None], opset: int, since: int
) -> list[int] | None:
    """Axes from the attribute (older opsets) or the second input (opset >= `since`)."""
    if opset >= since:
        return (
            None
            if len(inputs) < 2 or inputs[1] is None
            else [int(v) for v in inputs[1].reshape(-1)]
        )
    axes = attrs(node).get("axes")
    return None if axes is None else list(axes)


@folds("Gather")
def _gather(node: onnx.NodeProto, inputs: list, opset: int) -> list[np.ndarray]:
    return [np.take(inputs[0], inputs[1], axis=attrs(node).get("axis", 0))]


@folds("Unsqueeze")
def _unsqueeze(node: onnx.NodeProto, inputs: list, opset: int) -> list[np.ndarray]:
    axes = _axes(node, inputs, opset, 13) or []
    rank = inputs[0].ndim + len(axes)
    return [np.expand_dims(inputs[0], tuple(sorted(a % rank for a in axes)))]


@folds("Squeeze")
def _squeeze(node: onnx.NodeProto, inputs: list, opset: int) -> list[np.ndarray]:
    axes = _axes(node, inputs, opset, 13)
    x = inputs[0]
    return [np.squeeze(x) if axes is None else np.squeeze(x, tuple(a % x.ndim for a in axes))]


@folds("Concat")
def _concat(node: onnx.NodeProto, inputs: list, opset: int) -> list[np.ndarray]:
    return [np.concatenate([x for x in inputs if x is not None], axis=attrs(node)["axis"])]


@folds("Reshape")
def _reshape(node: onnx.NodeProto, inputs: list, opset: int) -> list[np.ndarray]:
    x, target = inputs[0], [int(d) for d in inputs[1].reshape(-1)]
    if not attrs(node).get("allowzero", 0):
        target = [x.shape[i] if d == 0 else d for i, d in enumerate(target)]
    return [x.reshape(target)]


@folds("Flatten")
def _flatten(node: onnx.NodeProto, inputs: list, opset: int) -> list[np.ndarray]:
    x = inputs[0]
    axis = attrs(node).get("axis", 1) % (x.ndim + 1)
    return [x.reshape(int(np.prod(x.shape[:axis])), -1)]


@folds("Slice")
def _slice(node: onnx.NodeProto, inputs: list, opset: int) -> list[np.ndarray]:
    x = inputs[0]
    if opset < 10:
        a = attrs(node)
        starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes"), None
    else:
        starts, ends = inputs[1].tolist(), inputs[2].tolist()
        axes = None if len(inputs) < 4 or inputs[3] is None else inputs[3].tolist()
        steps = None if len(inputs) < 5 or inputs[4] is None else inputs[4].tolist()
    index = [slice(None)] * x.ndim
    for n, axis in enumerate(range(len(starts)) if axes is None else axes):
        index[axis % x.ndim] = slice(starts[n], ends[n], 1 if steps is None else steps[n])
    return [x[tuple(index)]]


@folds("ConstantOfShape")
def _constant_of_shape(node: onnx.NodeProto, inputs: list, opset: int) -> list[np.ndarray]:
    value = attrs(node).get("value")
    fill = np.zeros(1, np.float32) if value is None else numpy_helper.to_array(value)
    return [np.full([int(d) for d in inputs[0].reshape(-1)], fill.reshape(-1)[0], fill.dtype)]


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        return (np.trunc(a / b)).astype(np.result_type(a, b))  # C-style, like ONNX Runtime
    return a / b


_MATH: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Add": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "Div": _divide,
}


@folds(*_MATH)
def _math(node: onnx.NodeProto, inputs: list, opset: int) -> list[np.ndarray]:
    return [np.asarray(_MATH[node.op_type](inputs[0], inputs[1]))]
