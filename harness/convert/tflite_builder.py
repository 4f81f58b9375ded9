"""A small .tflite writer: owns one subgraph's tensors, buffers, operators and opcodes.

It knows nothing about ONNX (tflite_ops.py decides what to emit). It fills the flatbuffer
object API of `ai_edge_litert.schema_py_generated` and packs it with `flatbuffers`, so no
TensorFlow is needed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as fb

SCHEMA_VERSION = 3
# Constant buffers are aligned like the TFLite converter aligns them, so kernels may read
# them in place.
BUFFER_ALIGNMENT = 16
# Builtin codes above 127 live only in `builtinCode`; the old int8 field holds this marker.
PLACEHOLDER_FOR_GREATER_OP_CODES = 127

TENSOR_TYPES: dict[np.dtype, int] = {
    np.dtype(np.float32): fb.TensorType.FLOAT32,
    np.dtype(np.float16): fb.TensorType.FLOAT16,
    np.dtype(np.int8): fb.TensorType.INT8,
    np.dtype(np.uint8): fb.TensorType.UINT8,
    np.dtype(np.int16): fb.TensorType.INT16,
    np.dtype(np.int32): fb.TensorType.INT32,
    np.dtype(np.int64): fb.TensorType.INT64,
    np.dtype(np.bool_): fb.TensorType.BOOL,
}


class _AlignedBufferT(fb.BufferT):
    """A BufferT whose bytes start on a BUFFER_ALIGNMENT boundary in the packed file."""

    def Pack(self, builder: flatbuffers.Builder) -> int:  # noqa: N802 (flatbuffers API name)
        payload = bytes(self.data) if self.data is not None else b""
        offset = None
        if payload:
            builder.StartVector(1, len(payload), BUFFER_ALIGNMENT)
            builder.head -= len(payload)
            builder.Bytes[builder.head : builder.head + len(payload)] = payload
            offset = builder.EndVector()
        fb.BufferStart(builder)
        if offset is not None:
            fb.BufferAddData(builder, offset)
        return fb.BufferEnd(builder)


def options_type(options: Any) -> int:
    """The BuiltinOptions union tag of an options object: `Conv2DOptionsT` -> `Conv2DOptions`."""
    return getattr(fb.BuiltinOptions, type(options).__name__.removesuffix("T"))


class TfliteBuilder:
    """Collects one subgraph and packs it into .tflite bytes."""

    def __init__(self) -> None:
        self.tensors: list[fb.TensorT] = []
        self.operators: list[fb.OperatorT] = []
        self._buffers: list[fb.BufferT] = [fb.BufferT()]  # buffer 0: the empty sentinel
        self._opcodes: dict[int, fb.OperatorCodeT] = {}
        self._opcode_index: dict[int, int] = {}
        self._names: set[str] = set()
        # (type, shape, sha256 of the bytes) -> tensor: a weight read by many ops (an
        # unrolled LSTM's recurrent matrix, once per time step) is stored once.
        self._constants: dict[tuple[int, tuple[int, ...], bytes], int] = {}

    def _unique(self, name: str) -> str:
        candidate, n = name, 1
        while candidate in self._names:
            candidate = f"{name}_{n}"
            n += 1
        self._names.add(candidate)
        return candidate

    def tensor(
        self,
        name: str,
        shape: Sequence[int],
        dtype: int = fb.TensorType.FLOAT32,
        *,
        signature: Sequence[int] | None = None,
        quant: fb.QuantizationParametersT | None = None,
    ) -> int:
        """Add a runtime tensor; `signature` has -1 where the size follows the batch."""
        t = fb.TensorT()
        t.name = self._unique(name)
        t.shape = [int(d) for d in shape]
        t.type = dtype
        t.hasRank = True
        if signature is not None and list(signature) != t.shape:
            t.shapeSignature = [int(d) for d in signature]
        t.quantization = quant
        self.tensors.append(t)
        return len(self.tensors) - 1

    def constant(
        self,
        name: str,
        data: np.ndarray,
        *,
        dtype: int | None = None,
        shape: Sequence[int] | None = None,
        quant: fb.QuantizationParametersT | None = None,
    ) -> int:
        """Add a constant tensor, or reuse an equal one (same type, shape and bytes, no
        quantization). `dtype`/`shape` override numpy's for packed storage (INT4)."""
        kind = TENSOR_TYPES[data.dtype] if dtype is None else dtype
        dims = tuple(int(d) for d in (data.shape if shape is None else shape))
        raw = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
        key = (kind, dims, hashlib.sha256(raw.tobytes()).digest())
        if quant is None and key in self._constants:
            return self._constants[key]
        index = self.tensor(name, dims, kind, quant=quant)
        buffer = _AlignedBufferT()
        buffer.data = raw
        self._buffers.append(buffer)
        self.tensors[index].buffer = len(self._buffers) - 1
        if quant is None:
            self._constants[key] = index
        return index

    def rename(self, index: int, name: str) -> None:
        """Give a tensor a caller-chosen name (graph inputs and outputs keep ONNX names)."""
        self._names.discard(self.tensors[index].name)
        self.tensors[index].name = self._unique(name)

    def op(
        self,
        code: int,
        inputs: Sequence[int],
        outputs: Sequence[int],
        options: Any = None,
        *,
        version: int = 1,
    ) -> fb.OperatorT:
        """Append an operator; an input index of -1 marks an omitted optional input."""
        if code not in self._opcodes:
            opcode = fb.OperatorCodeT()
            opcode.builtinCode = code
            opcode.deprecatedBuiltinCode = min(code, PLACEHOLDER_FOR_GREATER_OP_CODES)
            opcode.version = version
            self._opcodes[code] = opcode
            self._opcode_index[code] = len(self._opcode_index)
        else:
            # One opcode per builtin; it carries the highest version any of its uses needs.
            self._opcodes[code].version = max(self._opcodes[code].version, version)
        op = fb.OperatorT()
        op.opcodeIndex = self._opcode_index[code]
        op.inputs = list(inputs)
        op.outputs = list(outputs)
        if options is not None:
            op.builtinOptionsType = options_type(options)
            op.builtinOptions = options
        self.operators.append(op)
        return op

    def finish(
        self,
        inputs: Sequence[int],
        outputs: Sequence[int],
        *,
        description: str,
        signature_key: str = "serving_default",
    ) -> bytes:
        """Pack the subgraph into a .tflite flatbuffer, with one signature over its I/O."""
        subgraph = fb.SubGraphT()
        subgraph.name = "main"
        subgraph.tensors = self.tensors
        subgraph.inputs = list(inputs)
        subgraph.outputs = list(outputs)
        subgraph.operators = self.operators

        signature = fb.SignatureDefT()
        signature.signatureKey = signature_key
        signature.subgraphIndex = 0
        signature.inputs = [self._tensor_map(i) for i in inputs]
        signature.outputs = [self._tensor_map(i) for i in outputs]

        model = fb.ModelT()
        model.version = SCHEMA_VERSION
        model.description = description
        model.operatorCodes = list(self._opcodes.values())
        model.subgraphs = [subgraph]
        model.buffers = self._buffers
        model.signatureDefs = [signature]

        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())

    def _tensor_map(self, index: int) -> fb.TensorMapT:
        entry = fb.TensorMapT()
        entry.name = self.tensors[index].name
        entry.tensorIndex = index
        return entry
