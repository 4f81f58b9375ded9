"""Constant folding for the converter: any standard ONNX node whose inputs are all known at
conversion time is computed once with onnx's reference implementation (onnx.reference),
so shape arithmetic (Shape -> Gather -> Range/Equal/Where/Expand -> Reshape) never needs a
LiteRT op. A graph that still fails is simplified with onnxslim (constant folding and
shape inference over the whole graph) and converted again.
"""

from __future__ import annotations

import numpy as np
import onnx

# Ops the converter must see itself even on constants: they carry quantized storage.
KEEP = frozenset({"DequantizeLinear", "QuantizeLinear", "Constant"})

# Standard ops with no LiteRT builtin: why they cannot run there.
NO_BUILTIN = {
    "If": "its condition depends on the input data; a LiteRT model here is one "
    "straight-line subgraph (an If decided by constants or shapes converts)",
    "Loop": "its trip count or stop condition depends on the input data, or it runs over "
    "256 times; a LiteRT model here is one straight-line subgraph",
    "Scan": "control flow; a LiteRT model here is one straight-line subgraph",
    "NonZero": "its output size depends on the data; LiteRT needs shapes before running",
    "Unique": "its output size depends on the data; LiteRT needs shapes before running",
    "Einsum": "no LiteRT builtin; rewrite it as MatMul/Transpose before export",
    "RoiAlign": "no LiteRT builtin",
    "GridSample": "no LiteRT builtin",
    "Col2Im": "no LiteRT builtin",
    "STFT": "no LiteRT builtin",
    "StringNormalizer": "strings are not LiteRT tensors",
}


def is_standard(node: onnx.NodeProto) -> bool:
    """An op of the default ONNX domain that onnx itself defines at this opset."""
    return node.domain in ("", "ai.onnx") and onnx.defs.has(node.op_type)


def fold(node: onnx.NodeProto, arrays: list[np.ndarray | None], opset: int) -> list[np.ndarray]:
    """The node's outputs for constant inputs, from onnx's reference evaluator."""
    from onnx.reference import ReferenceEvaluator

    feeds = {name: a for name, a in zip(node.input, arrays, strict=False) if name and a is not None}
    evaluator = ReferenceEvaluator(node, opsets={"": opset})
    return [np.asarray(v) for v in evaluator.run(None, feeds)]


def simplified(model: onnx.ModelProto) -> onnx.ModelProto | None:
    """onnxslim's constant folding and shape inference, or None when it cannot help."""
    try:
        import onnxslim
    except ImportError:
        return None
    try:
        result = onnxslim.slim(model)
    except Exception:  # onnxslim raises many kinds on graphs it cannot process
        return None
    return result if isinstance(result, onnx.ModelProto) else None
