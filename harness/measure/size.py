"""Size metrics of a model: file bytes, zlib-compressed bytes, parameters, nonzeros, MACs.

Compressed bytes show what pruning buys even in a dense file (runs of zeros deflate).

Parameters are the elements of every initializer holding model values: float tensors of
any width, integer tensors of 8 bits or fewer (quantized weights of DequantizeLinear or of
ORT's integer ops; int4 counted per element, not per packed byte), and wider integers read
by DequantizeLinear (int32 biases). Not parameters: the scale and zero-point inputs of
quantization ops (QUANT_PARAMS), and integer shape/index constants. (ORT's dynamic graphs
multiply some scales in with a plain Mul; those few floats do count.) A DequantizeLinear
input is nonzero where it differs from its zero point, anything else where it is not 0.

MACs are for one inference at batch 1, from onnx shape inference with every symbolic
input dimension set to 1:
  Conv (and ConvInteger, QLinearConv)       output elements * Cin/group * kernel elements
  ConvTranspose                             input elements * Cout/group * kernel elements
  Gemm, MatMul (and MatMulInteger, QLinearMatMul)   output elements * K (= M*K*N for 2-D)
  LSTM, GRU, RNN                            steps * batch * (elements of W + elements of R)
Every other op counts 0: elementwise ops, activations, pooling, normalization and data
movement are cheap next to these, and ignoring them keeps the number comparable across
runtimes that fuse them differently. A node whose shapes cannot be inferred counts 0.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from harness.compress.graph import Shapes, attr, int_attr, is_static, tensor_shapes

__all__ = ["SizeStats", "file_size", "macs", "onnx_size", "parameters"]

# Inputs that are quantization scales or zero points, by op.
QUANT_PARAMS = {
    "DequantizeLinear": (1, 2),
    "QuantizeLinear": (1, 2),
    "MatMulInteger": (2, 3),
    "ConvInteger": (2, 3),
    "QLinearConv": (1, 2, 4, 5, 6, 7),
    "QLinearMatMul": (1, 2, 4, 5, 6, 7),
    "DynamicQuantizeMatMul": (2, 3),
    "MatMulIntegerToFloat": (2, 3, 4, 5),
    "DynamicQuantizeLSTM": (8, 9, 10, 11),
}
NARROW_INTS = {
    TensorProto.INT8, TensorProto.UINT8, TensorProto.INT4, TensorProto.UINT4,
}  # fmt: skip
FLOAT_TYPES = {
    TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.DOUBLE,
    TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT8E4M3FNUZ, TensorProto.FLOAT8E5M2,
    TensorProto.FLOAT8E5M2FNUZ,
}  # fmt: skip


@dataclass(frozen=True)
class SizeStats:
    file_bytes: int
    compressed_bytes: int
    params: int
    nonzeros: int
    macs: int


def file_size(data: bytes) -> tuple[int, int]:
    """(bytes, zlib level-9 compressed bytes) of any model file."""
    return len(data), len(zlib.compress(data, 9))


def onnx_size(model: onnx.ModelProto) -> SizeStats:
    data = model.SerializeToString()
    n_bytes, n_compressed = file_size(data)
    params, nonzeros = parameters(model.graph)
    return SizeStats(n_bytes, n_compressed, params, nonzeros, macs(model))


def _zero_point(graph: onnx.GraphProto, node: onnx.NodeProto, ndim: int) -> np.ndarray:
    """The DequantizeLinear zero point, shaped to broadcast against its input."""
    if len(node.input) < 3 or not node.input[2]:
        return np.zeros(())
    init = {t.name: t for t in graph.initializer}.get(node.input[2])
    if init is None:
        return np.zeros(())
    zp = numpy_helper.to_array(init).astype(np.int64)
    if zp.ndim == 1 and zp.size > 1:
        shape = [1] * ndim
        shape[int_attr(node, "axis", 1) % ndim] = -1
        zp = zp.reshape(shape)
    return zp


def parameters(graph: onnx.GraphProto) -> tuple[int, int]:
    """(parameters, nonzeros) over the weight initializers (see the module docstring)."""
    dequantized: dict[str, onnx.NodeProto] = {}
    metadata: set[str] = set()
    for node in graph.node:
        if node.op_type in QUANT_PARAMS:
            metadata.update(
                node.input[i] for i in QUANT_PARAMS[node.op_type] if i < len(node.input)
            )
        if node.op_type == "DequantizeLinear" and node.input:
            dequantized.setdefault(node.input[0], node)
    params = nonzeros = 0
    for t in graph.initializer:
        if t.name in dequantized:
            q = numpy_helper.to_array(t).astype(np.int64)
            zp = _zero_point(graph, dequantized[t.name], q.ndim)
            params += q.size
            nonzeros += int(np.count_nonzero(q - zp))
        elif t.name not in metadata and t.data_type in FLOAT_TYPES | NARROW_INTS:
            params += math.prod(t.dims)
            nonzeros += int(np.count_nonzero(numpy_helper.to_array(t)))
    return params, nonzeros


def _prod(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def _conv(node: onnx.NodeProto, shapes: Shapes, weight: int = 1) -> int:
    out, w = shapes.get(node.output[0]), shapes.get(node.input[weight])
    if not (is_static(out) and is_static(w)):
        return 0
    return _prod(out) * _prod(w[1:])  # w: (Cout, Cin/group, k...)


def _conv_transpose(node: onnx.NodeProto, shapes: Shapes) -> int:
    x, w = shapes.get(node.input[0]), shapes.get(node.input[1])
    if not (is_static(x) and is_static(w)):
        return 0
    return _prod(x) * _prod(w[1:])  # w: (Cin, Cout/group, k...)


def _matmul(node: onnx.NodeProto, shapes: Shapes) -> int:
    a, out = shapes.get(node.input[0]), shapes.get(node.output[0])
    if not (is_static(a) and is_static(out)) or not a:
        return 0
    k = a[0] if node.op_type == "Gemm" and attr(node, "transA", 0) else a[-1]
    return _prod(out) * k


def _recurrent(node: onnx.NodeProto, shapes: Shapes) -> int:
    x, w, r = (shapes.get(node.input[i]) for i in range(3))
    if not (is_static(x) and is_static(w) and is_static(r)) or len(x) < 2:
        return 0
    steps, batch = (x[1], x[0]) if attr(node, "layout", 0) else (x[0], x[1])
    return steps * batch * (_prod(w) + _prod(r))


MAC_RULES: dict[str, Callable[[onnx.NodeProto, Shapes], int]] = {
    "Conv": _conv,
    "ConvInteger": _conv,
    "QLinearConv": lambda n, s: _conv(n, s, weight=3),
    "ConvTranspose": _conv_transpose,
    "Gemm": _matmul,
    "MatMul": _matmul,
    "MatMulInteger": _matmul,
    "QLinearMatMul": _matmul,
    "LSTM": _recurrent,
    "GRU": _recurrent,
    "RNN": _recurrent,
}


def macs(model: onnx.ModelProto) -> int:
    """Multiply-accumulates of one batch-1 inference (rules in the module docstring)."""
    shapes = tensor_shapes(model)
    total = 0
    for node in model.graph.node:
        rule = MAC_RULES.get(node.op_type)
        if rule is not None and node.domain in ("", "ai.onnx"):
            total += rule(node, shapes)
    return total
