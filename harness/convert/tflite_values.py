"""What an ONNX value becomes while converting: a folded constant (`Const`) or a runtime
tensor in the .tflite subgraph (`Act`).

Quantized weights stay quantized: a `Const` keeps the integers, scales and zero points next
to the float value ONNX computes with, so the writer can store int8 (or packed int4) and
let a DEQUANTIZE op restore floats at load time. Storage is normalised to signed types
because TFLite's DEQUANTIZE kernels are built around them: uint8 -> int8 (q - 128,
zp - 128) and uint4 -> int4 (q - 8, zp - 8), both exact.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from ai_edge_litert import schema_py_generated as fb

NHWC = (0, 2, 3, 1)  # tflite = onnx.transpose(NHWC) for a channels-last 4-D tensor

# Integer types TFLite stores behind a DEQUANTIZE -> bits; wider ones are stored as float32.
_SIGNED = {"int8": 8, "int4": 4}
# Unsigned types -> the signed type they become and the shift that keeps values exact.
_SHIFT = {"uint8": ("int8", 128), "uint4": ("int4", 8)}


def identity(rank: int) -> tuple[int, ...]:
    return tuple(range(rank))


def inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argsort(perm))


def same_memory_order(
    shape: tuple[int, ...], dynamic: tuple[bool, ...], perm: tuple[int, ...]
) -> bool:
    """True when transposing by `perm` only moves size-1 axes, so the bytes are unchanged.

    Batch-dependent axes count as larger than one: they are 1 only at conversion time.
    """
    moving = [p for p in perm if shape[p] != 1 or dynamic[p]]
    return moving == sorted(moving)


@dataclass(frozen=True)
class Quant:
    """Integer storage of a constant: value = (q - zero_point) * scale along `axis`."""

    q: np.ndarray  # int8 array for int8/int4 storage; int16/int32 kept as they are
    scale: np.ndarray  # float32, 1-D (one entry when per-tensor)
    zero_point: np.ndarray  # int64, same length as scale
    axis: int | None  # the quantized axis, None when per-tensor
    bits: int | None  # 8 or 4 when TFLite can store it; None: store the float value

    def transpose(self, perm: tuple[int, ...]) -> Quant:
        axis = None if self.axis is None else perm.index(self.axis)
        return replace(self, q=self.q.transpose(perm), axis=axis)

    def params(self) -> fb.QuantizationParametersT:
        params = fb.QuantizationParametersT()
        params.scale = [float(s) for s in self.scale]
        params.zeroPoint = [int(z) for z in self.zero_point]
        params.quantizedDimension = 0 if self.axis is None else self.axis
        return params

    def storage(self) -> tuple[np.ndarray, int]:
        """Bytes as TFLite wants them and the tensor type: int4 is packed two per byte."""
        if self.bits == 8:
            return self.q.astype(np.int8), fb.TensorType.INT8
        flat = (self.q.reshape(-1).astype(np.int16) & 0xF).astype(np.uint8)
        if flat.size % 2:
            flat = np.append(flat, np.uint8(0))
        return (flat[0::2] | (flat[1::2] << 4)).astype(np.uint8), fb.TensorType.INT4


def make_quant(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int) -> Quant:
    """Normalise an ONNX DequantizeLinear constant (any integer type) into a `Quant`."""
    scale = np.asarray(scale, np.float32).reshape(-1)
    zp = np.zeros(scale.shape, np.int64) if zero_point is None else zero_point.astype(np.int64)
    zp = np.broadcast_to(zp.reshape(-1), scale.shape).copy()
    name = q.dtype.name
    if name in _SHIFT:
        name, shift = _SHIFT[name]
        q, zp = q.astype(np.int16) - shift, zp - shift
    q = q.astype(np.int8) if name in _SIGNED else q.astype(np.int64)
    return Quant(
        q=q,
        scale=scale,
        zero_point=zp,
        axis=None if scale.size == 1 else axis % q.ndim,
        bits=_SIGNED.get(name),
    )


def dequantize(quant: Quant) -> np.ndarray:
    """The float32 value ONNX Runtime computes: float(q - zp) * scale."""
    shape = [1] * quant.q.ndim
    if quant.axis is not None:
        shape[quant.axis] = -1
    diff = quant.q.astype(np.int64) - quant.zero_point.reshape(shape)
    return diff.astype(np.float32) * quant.scale.reshape(shape)


@dataclass(frozen=True)
class Const:
    """A value known at conversion time.

    `value` is what ONNX computes with (float32 for float16 or quantized storage);
    `dynamic` marks values derived from a runtime shape, valid only at batch 1: they may
    steer a Reshape (whose target comes from shape inference) but never become data.
    `alt` is such a value at batch 2, where it is known, so that folding can tell the
    parts of a shape that follow the batch from those that do not.
    """

    value: np.ndarray
    quant: Quant | None = None
    fp16: bool = False
    dynamic: bool = False
    alt: np.ndarray | None = None

    @staticmethod
    def of(array: np.ndarray) -> Const:
        """Wrap an initializer; float16 keeps its storage but computes as float32."""
        if array.dtype == np.float16:
            return Const(array.astype(np.float32), fp16=True)
        return Const(array)

    @property
    def ndim(self) -> int:
        return self.value.ndim

    def transpose(self, perm: tuple[int, ...]) -> Const:
        quant = None if self.quant is None else self.quant.transpose(perm)
        return replace(self, value=self.value.transpose(perm), quant=quant)

    def scaled(self, factor: npt.ArrayLike, axis: int) -> Const | None:
        """Multiply along `axis` (folding BatchNorm or Gemm's alpha), keeping the storage
        exact: quantized scales absorb positive factors; float16 cannot stay exact (None).
        `factor` is a per-channel vector or a scalar."""
        shape = [1] * self.ndim
        factor = np.asarray(factor, np.float32).reshape(-1)
        shape[axis] = -1 if factor.size > 1 else 1
        if self.fp16:
            return None
        if self.quant is None:
            return Const(self.value * factor.reshape(shape))
        q = self.quant
        if np.any(factor <= 0):
            return None  # a negative scale is not valid TFLite quantization
        if factor.size == 1:
            quant = replace(q, scale=(q.scale * factor[0]).astype(np.float32))
        elif q.axis is None or q.axis == axis:
            size = factor.size
            quant = replace(
                q,
                scale=(np.broadcast_to(q.scale, (size,)) * factor).astype(np.float32),
                zero_point=np.broadcast_to(q.zero_point, (size,)).copy(),
                axis=axis,
            )
        else:
            return None
        return Const(dequantize(quant), quant=quant)


@dataclass(frozen=True)
class ActQuant:
    """Per-tensor quantization of an int8 activation (a QuantizeLinear output)."""

    scale: float
    zero_point: int  # as stored in TFLite's int8
    unsigned: bool  # ONNX had uint8: its zero point is this one + 128

    def params(self) -> fb.QuantizationParametersT:
        params = fb.QuantizationParametersT()
        params.scale, params.zeroPoint = [self.scale], [self.zero_point]
        return params


@dataclass(frozen=True)
class Act:
    """A tensor computed at run time. `shape`/`dynamic` are in ONNX axis order; the TFLite
    tensor holds `onnx_value.transpose(perm)` (NHWC for conv activations)."""

    index: int
    shape: tuple[int, ...]
    dynamic: tuple[bool, ...]
    perm: tuple[int, ...]
    dtype: int = fb.TensorType.FLOAT32
    quant: ActQuant | None = None  # set on int8 tensors
    producer: Any = None  # the OperatorT whose fused activation this output may take

    @property
    def rank(self) -> int:
        return len(self.shape)

    def tflite_shape(self) -> list[int]:
        return [self.shape[p] for p in self.perm]

    def signature(self) -> list[int]:
        return [-1 if self.dynamic[p] else self.shape[p] for p in self.perm]


Value = Const | Act
