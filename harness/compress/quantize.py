"""Weight-only storage passes: integer weights behind DequantizeLinear, or float16 behind Cast.

Each Conv/Gemm/MatMul weight initializer is replaced by a smaller initializer plus one
decoding node whose output keeps the weight's name, so every consumer (and every runtime)
still computes in float32. Biases stay float32: they are tiny and quantizing them costs
accuracy for nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import ml_dtypes
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from harness.compress.base import Params, PassContext, PassResult
from harness.compress.graph import (
    Names,
    copy_model,
    drop_unused,
    initializer_index,
    remove_initializers,
    require_opset,
    set_nodes,
)
from harness.compress.layers import LAYER_KINDS, Layer, select_layers, weight_layers

__all__ = ["Float16", "Quantize", "dequantize_array", "quantize_array"]

FLOAT16_MAX = float(np.finfo(np.float16).max)

# Said where users decide (candidate page, model card): the small file has a cost at run time.
DEQUANTIZE_NOTE = (
    "ONNX Runtime dequantizes these weights on every call, so its latency includes that work "
    "(slower than fp32); its runtime setting fold_dequantize = true does it once at load: "
    "fp32 speed, the same small file, float32 weights in memory"
)


@dataclass(frozen=True)
class Storage:
    """How b-bit integers are stored: the numpy dtype, its ONNX name and the clip range."""

    dtype: Any
    name: str
    lo: int
    hi: int


def storage(bits: int, symmetric: bool) -> Storage:
    """int4/uint4 up to 4 bits (opset 21), int8/uint8 for 5..8 bits (fewer levels used).

    Symmetric uses the restricted range [-(2^(b-1)-1), 2^(b-1)-1] so that zero is exact
    and +/- are balanced; affine uses all 2^b levels of the unsigned type.
    """
    wide = bits > 4
    if symmetric:
        qmax = 2 ** (bits - 1) - 1
        return Storage(np.int8 if wide else ml_dtypes.int4, "int8" if wide else "int4", -qmax, qmax)
    return Storage(
        np.uint8 if wide else ml_dtypes.uint4, "uint8" if wide else "uint4", 0, 2**bits - 1
    )


def quantize_array(
    w: np.ndarray, bits: int, axis: int | None, symmetric: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(q as int64, scale float32, zero point as int64 or None) with w ~ (q - zp) * scale.

    Per channel when `axis` is given (scale/zero point of shape (C,)), else per tensor
    (scalars). Affine ranges always include 0 so that zeros (e.g. pruned weights) stay exact.
    """
    st = storage(bits, symmetric)
    w64 = w.astype(np.float64)
    reduce = None if axis is None else tuple(i for i in range(w.ndim) if i != axis)
    if symmetric:
        span = np.max(np.abs(w64), axis=reduce, keepdims=True) / st.hi
    else:
        lo = np.minimum(np.min(w64, axis=reduce, keepdims=True), 0.0)
        hi = np.maximum(np.max(w64, axis=reduce, keepdims=True), 0.0)
        span = (hi - lo) / (st.hi - st.lo)
    # An all-zero channel (a pruned filter) gets scale 1: every q is the zero point.
    scale = np.where(span > 0, span, 1.0).astype(np.float32)
    if symmetric:
        zp = None
        q = np.clip(np.rint(w64 / scale), st.lo, st.hi).astype(np.int64)
    else:
        zp = np.clip(np.rint(-lo / scale), st.lo, st.hi).astype(np.int64)
        q = np.clip(np.rint(w64 / scale) + zp, st.lo, st.hi).astype(np.int64)
    flat = (lambda a: a.reshape(-1)) if axis is not None else (lambda a: a.reshape(()))
    return q, flat(scale), None if zp is None else flat(zp)


def _swap_weights(
    graph: onnx.GraphProto,
    decoded: dict[str, tuple[list[TensorProto], onnx.NodeProto]],
) -> None:
    """Replace each weight initializer by its stored form and a decoding node that outputs
    the weight's own name (prepended: it reads initializers only)."""
    remove_initializers(graph, decoded)
    set_nodes(graph, [node for _, node in decoded.values()] + list(graph.node))
    for tensors, _ in decoded.values():
        graph.initializer.extend(tensors)
    drop_unused(graph)


def _unique_weights(layers: list[Layer]) -> dict[str, Layer]:
    """One entry per weight initializer (a weight shared by layers is encoded once)."""
    out: dict[str, Layer] = {}
    for layer in layers:
        out.setdefault(layer.weight, layer)
    return out


def _round(x: float) -> float:
    return float(f"{x:.4g}")


@dataclass(frozen=True)
class Quantize:
    """Weight-only b-bit quantization into DequantizeLinear (int4 needs opset 21).

    `layers` limits it to dense (Gemm/MatMul) or Conv layers, so that two passes make a
    mixed-precision model: conv layers at 8 bits, then dense layers at 4."""

    name: ClassVar[str] = "quantize"
    bits: int
    per_channel: bool = True
    symmetric: bool = True
    layers: str = "all"

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Quantize:
        p = Params(params, ["bits", "per_channel", "symmetric", "layers"])
        return cls(
            bits=p.integer("bits", 2, 8),
            per_channel=p.boolean("per_channel", default=True),
            symmetric=p.boolean("symmetric", default=True),
            layers=p.choice("layers", list(LAYER_KINDS), default="all"),
        )

    def spec(self) -> dict[str, Any]:
        # "all" stays implicit so that settings written before `layers` keep their cache keys.
        scope = {} if self.layers == "all" else {"layers": self.layers}
        return {
            "pass": self.name,
            "bits": self.bits,
            "per_channel": self.per_channel,
            "symmetric": self.symmetric,
            **scope,
        }

    def label(self) -> str:
        """'int8'; non-default settings are appended: 'int4 per-tensor', 'int8 affine',
        'int4 dense'."""
        extra = ("" if self.per_channel else " per-tensor") + ("" if self.symmetric else " affine")
        scope = "" if self.layers == "all" else f" {self.layers}"
        return f"int{self.bits}{extra}{scope}"

    def apply(self, model: onnx.ModelProto, ctx: PassContext) -> PassResult:
        st = storage(self.bits, self.symmetric)
        found, skipped = weight_layers(model.graph)
        layers = select_layers(found, self.layers, skipped)
        notes: dict[str, Any] = {
            "bits": self.bits,
            "storage": st.name,
            "levels": 2**self.bits,
            "range": [st.lo, st.hi],
            "per_channel": self.per_channel,
            "symmetric": self.symmetric,
        }
        if not layers:
            return PassResult(copy_model(model), {**notes, "tensors": 0, "skipped": skipped})
        # DequantizeLinear: per-axis needs opset 13, int4 needs opset 21.
        needed = 21 if self.bits <= 4 else 13 if self.per_channel else 10
        work, bumped_from = require_opset(model, needed)
        if work is model:
            work = copy_model(model)
        graph = work.graph
        names = Names(graph)
        inits = initializer_index(graph)
        decoded: dict[str, tuple[list[TensorProto], onnx.NodeProto]] = {}
        per_layer: dict[str, Any] = {}
        for weight, layer in _unique_weights(layers).items():
            w = numpy_helper.to_array(graph.initializer[inits[weight]])
            axis = layer.out_axis if self.per_channel else None
            q, scale, zp = quantize_array(w, self.bits, axis, self.symmetric)
            tensors = [
                numpy_helper.from_array(q.astype(st.dtype), names.fresh(f"{weight}_quantized")),
                numpy_helper.from_array(scale, names.fresh(f"{weight}_scale")),
            ]
            if zp is not None:
                tensors.append(
                    numpy_helper.from_array(
                        zp.astype(st.dtype), names.fresh(f"{weight}_zero_point")
                    )
                )
            node = helper.make_node(
                "DequantizeLinear",
                [t.name for t in tensors],
                [weight],
                name=names.fresh(f"{weight}_dequantize"),
            )
            if axis is not None:  # per-tensor: no axis attribute at all
                node.attribute.append(helper.make_attribute("axis", axis))
            decoded[weight] = (tensors, node)
            restored = dequantize_array(q, scale, zp, axis)
            per_layer[layer.label] = {
                "weight": weight,
                "axis": axis,
                "max_abs_error": _round(float(np.max(np.abs(restored - w), initial=0.0))),
            }
        _swap_weights(graph, decoded)
        notes.update(tensors=len(decoded), layers=per_layer, skipped=skipped)
        if decoded:
            notes["runtime"] = DEQUANTIZE_NOTE
        if bumped_from is not None:
            notes["opset"] = {"from": bumped_from, "to": needed}
        return PassResult(work, notes)


def dequantize_array(
    q: np.ndarray, scale: np.ndarray, zp: np.ndarray | None, axis: int | None
) -> np.ndarray:
    """What DequantizeLinear computes: (q - zp) * scale, per channel along `axis`."""
    shape = [1] * q.ndim
    if axis is not None:
        shape[axis] = -1
    zero = 0 if zp is None else zp.reshape(shape if axis is not None else ())
    return ((q - zero) * scale.reshape(shape if axis is not None else ())).astype(np.float32)


@dataclass(frozen=True)
class Float16:
    """Weights stored as float16 behind a Cast to float32: half the bytes, float32 compute
    (every runtime runs it, no float16 kernels needed)."""

    name: ClassVar[str] = "float16"

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Float16:
        Params(params, [])
        return cls()

    def spec(self) -> dict[str, Any]:
        return {"pass": self.name}

    def label(self) -> str:
        return "fp16"

    def apply(self, model: onnx.ModelProto, ctx: PassContext) -> PassResult:
        layers, skipped = weight_layers(model.graph)
        work = copy_model(model)
        graph = work.graph
        names = Names(graph)
        inits = initializer_index(graph)
        decoded: dict[str, tuple[list[TensorProto], onnx.NodeProto]] = {}
        clipped = 0
        for weight in _unique_weights(layers):
            w = numpy_helper.to_array(graph.initializer[inits[weight]])
            # float16 overflows to inf above 65504: clip instead, and say how often.
            clipped += int(np.count_nonzero(np.abs(w) > FLOAT16_MAX))
            half = np.clip(w, -FLOAT16_MAX, FLOAT16_MAX).astype(np.float16)
            tensor = numpy_helper.from_array(half, names.fresh(f"{weight}_fp16"))
            node = helper.make_node(
                "Cast",
                [tensor.name],
                [weight],
                name=names.fresh(f"{weight}_cast"),
                to=TensorProto.FLOAT,
            )
            decoded[weight] = ([tensor], node)
        if decoded:
            _swap_weights(graph, decoded)
        notes = {
            "storage": "float16",
            "tensors": len(decoded),
            "weights": sorted(decoded),
            "clipped": clipped,
            "skipped": skipped,
        }
        return PassResult(work, notes)
