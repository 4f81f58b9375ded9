"""Resize (nearest and linear, over H and W of a 4-D tensor) -> RESIZE_NEAREST_NEIGHBOR /
RESIZE_BILINEAR in NHWC.

ONNX spells the sampling grid with `coordinate_transformation_mode` and `nearest_mode`;
LiteRT with two flags, `align_corners` and `half_pixel_centers`. For nearest, the source
pixel each output pixel reads is computed both ways for the node's actual sizes and the
node converts only when they are identical, so ties that round differently are refused,
never approximated. For linear, the modes that are the same formula map directly.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from ai_edge_litert import schema_py_generated as fb

from harness.convert.tflite_context import OP, Context, attrs, converts, unsupported
from harness.convert.tflite_values import NHWC, Act

# ONNX coordinate mode -> the source coordinate of output pixel x: (x, scale, in, out) -> float
_COORDS: dict[str, Callable[[np.ndarray, float, int, int], np.ndarray]] = {
    "asymmetric": lambda x, s, i, o: x * s,
    "half_pixel": lambda x, s, i, o: (x + 0.5) * s - 0.5,
    "pytorch_half_pixel": lambda x, s, i, o: (x + 0.5) * s - 0.5 if o > 1 else 0 * x,
    "align_corners": lambda x, s, i, o: x * ((i - 1) / (o - 1)) if o > 1 else 0 * x,
}
_ROUNDING: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "round_prefer_floor": lambda v: np.ceil(v - 0.5),
    "round_prefer_ceil": lambda v: np.floor(v + 0.5),
    "floor": np.floor,
    "ceil": np.ceil,
}
# linear: ONNX coordinate mode -> (align_corners, half_pixel_centers)
_LINEAR = {
    "asymmetric": (False, False),
    "half_pixel": (False, True),
    "pytorch_half_pixel": (False, True),
    "align_corners": (True, False),
}


def _onnx_nearest(mode: str, rounding: str, size_in: int, size_out: int) -> np.ndarray:
    x = np.arange(size_out, dtype=np.float64)
    coords = _COORDS[mode](x, size_in / size_out, size_in, size_out)
    return np.clip(_ROUNDING[rounding](coords), 0, size_in - 1).astype(np.int64)


def _litert_nearest(align: bool, half: bool, size_in: int, size_out: int) -> np.ndarray:
    """tflite reference_ops::ResizeNearestNeighbor's source index per output pixel."""
    x = np.arange(size_out, dtype=np.float64)
    scale = (size_in - 1) / (size_out - 1) if align and size_out > 1 else size_in / size_out
    v = (x + (0.5 if half else 0.0)) * scale
    index = np.floor(v + 0.5) if align else np.floor(v)
    return np.clip(index, 0, size_in - 1).astype(np.int64)


def _nearest_flags(
    mode: str, rounding: str, sizes: list[tuple[int, int]]
) -> tuple[bool, bool] | None:
    """LiteRT's flags that read the same source pixels as ONNX for these sizes, if any."""
    for align, half in ((False, False), (False, True), (True, False)):
        if all(
            np.array_equal(_onnx_nearest(mode, rounding, i, o), _litert_nearest(align, half, i, o))
            for i, o in sizes
        ):
            return align, half
    return None


@converts("Resize", "Upsample")
def resize(ctx: Context, node: onnx.NodeProto) -> None:
    a = attrs(node)
    x = ctx.act(node, 0)
    out_shape = ctx.shape(node.output[0])
    if x.rank != 4 or tuple(out_shape[:2]) != tuple(x.shape[:2]):
        raise unsupported(node, "only H and W of a 4-D tensor can be resized")
    if a.get("antialias", 0):
        raise unsupported(node, "antialias")
    mode = a.get("mode", "nearest")
    coords = a.get("coordinate_transformation_mode", "half_pixel" if ctx.opset >= 11 else "")
    if not coords:  # opset 10 Upsample/Resize: the asymmetric grid, floor for nearest
        coords, rounding = "asymmetric", "floor"
    else:
        rounding = a.get("nearest_mode", "round_prefer_floor")
    sizes = [(x.shape[2], out_shape[2]), (x.shape[3], out_shape[3])]
    if mode == "nearest":
        if coords not in _COORDS:
            raise unsupported(node, f"coordinate_transformation_mode={coords}")
        flags = _nearest_flags(coords, rounding, sizes)
        if flags is None:
            raise unsupported(
                node, f"nearest {coords}/{rounding} picks other pixels than LiteRT for {sizes}"
            )
        code, options = OP.RESIZE_NEAREST_NEIGHBOR, fb.ResizeNearestNeighborOptionsT()
    elif mode == "linear":
        if coords not in _LINEAR:
            raise unsupported(node, f"linear with coordinate_transformation_mode={coords}")
        flags = _LINEAR[coords]
        code, options = OP.RESIZE_BILINEAR, fb.ResizeBilinearOptionsT()
    else:
        raise unsupported(node, f"mode={mode} (LiteRT resizes nearest or bilinear)")
    options.alignCorners, options.halfPixelCenters = flags
    x = ctx.act(node, 0, NHWC)
    out = ctx.output(node.output[0], NHWC)
    size = ctx.int32([out_shape[2], out_shape[3]], f"{node.output[0]}_size")
    ctx.emit(code, [x, size], [out], options, version=3 if flags[1] else 1)
    ctx.set(node.output[0], out)


@converts("ConvTranspose")
def conv_transpose(ctx: Context, node: onnx.NodeProto) -> None:
    """ConvTranspose (2-D, one group, no dilation) -> TRANSPOSE_CONV with a bias.

    LiteRT places the padding itself from the output shape (SAME: the smaller half first),
    so ONNX pads convert when they are that placement; the output shape follows the batch
    through SHAPE -> STRIDED_SLICE -> CONCATENATION when the batch is dynamic.
    """
    a = attrs(node)
    weight = ctx.const(node, 1, "weights")
    if weight.ndim != 4:
        raise unsupported(node, f"{weight.ndim - 2}-D transposed convolution; only 2-D is")
    if a.get("group", 1) != 1 or list(a.get("dilations", [1, 1])) != [1, 1]:
        raise unsupported(node, "groups or dilations (LiteRT's TRANSPOSE_CONV has neither)")
    x = ctx.act(node, 0, NHWC)
    _, c_out, kh, kw = weight.value.shape
    out_shape = ctx.shape(node.output[0])
    strides = list(a.get("strides", [1, 1]))
    padding = _transpose_padding(node, a, x.shape[2:], out_shape[2:], (kh, kw), strides)
    bias_value = ctx.optional_const(node, 2, "bias")
    bias = np.zeros(c_out, np.float32) if bias_value is None else bias_value.value
    name = node.output[0]
    nhwc_shape = [out_shape[0], out_shape[2], out_shape[3], out_shape[1]]
    if x.dynamic[0]:
        shape_index = _runtime_output_shape(ctx, x, nhwc_shape[1:], name)
    else:
        shape_index = ctx.int32(nhwc_shape, f"{name}_output_shape")
    options = fb.TransposeConvOptionsT()
    options.padding = padding
    options.strideH, options.strideW = strides
    out = ctx.output(name, NHWC)
    inputs: list[Act | int] = [
        shape_index,
        ctx.constant(weight.transpose((1, 2, 3, 0)), node.input[1]),
        x,
        ctx.builder.constant(f"{name}_bias", np.asarray(bias, np.float32)),
    ]
    ctx.emit(OP.TRANSPOSE_CONV, inputs, [out], options, version=3)
    ctx.set(name, out)


def _transpose_padding(
    node: onnx.NodeProto,
    a: dict,
    size_in: tuple[int, ...],
    size_out: tuple[int, ...],
    kernel: tuple[int, int],
    strides: list[int],
) -> int:
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID", "SAME_UPPER"):
        raise unsupported(node, f"auto_pad={a['auto_pad']}")
    pads = list(a.get("pads", [0, 0, 0, 0]))
    if a.get("auto_pad", "NOTSET") != "NOTSET":
        pads = [-1, -1, -1, -1]  # the output shape decides; check it below
    for axis in (0, 1):
        total = (size_in[axis] - 1) * strides[axis] + kernel[axis] - size_out[axis]
        if total < 0:
            raise unsupported(node, "output_padding beyond the kernel's reach")
        begin = total // 2
        if pads[axis] not in (-1, begin):
            raise unsupported(
                node, f"pads {pads}: LiteRT puts {begin} before and {total - begin} after"
            )
    return fb.Padding.SAME


def _runtime_output_shape(ctx: Context, x: Act, tail: list[int], name: str) -> int:
    """[batch, H, W, C] as an int32 tensor computed from the input's run-time batch."""
    builder = ctx.builder
    shape = builder.tensor(f"{name}_in_shape", [4], fb.TensorType.INT32)
    options = fb.ShapeOptionsT()
    options.outType = fb.TensorType.INT32
    builder.op(OP.SHAPE, [x.index], [shape], options)
    batch = builder.tensor(f"{name}_batch", [1], fb.TensorType.INT32)
    ends = (("begin", 0), ("end", 1), ("stride", 1))
    slice_inputs = [shape, *(ctx.int32([v], f"{name}_{k}") for k, v in ends)]
    builder.op(OP.STRIDED_SLICE, slice_inputs, [batch], fb.StridedSliceOptionsT())
    full = builder.tensor(f"{name}_output_shape", [4], fb.TensorType.INT32)
    concat = fb.ConcatenationOptionsT()
    concat.axis = 0
    builder.op(OP.CONCATENATION, [batch, ctx.int32(tail, f"{name}_hwc")], [full], concat)
    return full
