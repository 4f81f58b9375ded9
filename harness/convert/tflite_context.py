"""Conversion state shared by the op converters: which ONNX value became which TFLite
tensor, in which layout, plus the helpers every converter needs (layout views, constants,
inferred shapes), and the registry the converters put themselves in.

Converters live in tflite_layers.py (conv, dense, pooling, batch norm), tflite_ops.py
(elementwise, activations, layout) and tflite_consts.py (constants, casts, quantization);
tflite.py drives them over the graph."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from ai_edge_litert import schema_py_generated as fb

from harness.convert.tflite_builder import TfliteBuilder
from harness.convert.tflite_values import NHWC, Act, ActQuant, Const, Value, identity, inverse
from harness.errors import ConversionError, UnsupportedOpError

RUNTIME = "litert"
OP = fb.BuiltinOperator


Converter = Callable[["Context", onnx.NodeProto], None]
# Folds a node whose inputs are all constants: (node, input arrays or None, opset) -> outputs.
Folder = Callable[[onnx.NodeProto, list[np.ndarray | None], int], list[np.ndarray]]

CONVERTERS: dict[str, Converter] = {}
FOLDERS: dict[str, Folder] = {}


def converts(*op_types: str) -> Callable[[Converter], Converter]:
    """Register a converter for ONNX op types (a dict lookup, not an if-chain)."""

    def register(fn: Converter) -> Converter:
        for op_type in op_types:
            CONVERTERS[op_type] = fn
        return fn

    return register


def folds(*op_types: str) -> Callable[[Folder], Folder]:
    """Register a numpy folder for ONNX op types whose inputs are all constants."""

    def register(fn: Folder) -> Folder:
        for op_type in op_types:
            FOLDERS[op_type] = fn
        return fn

    return register


def attrs(node: onnx.NodeProto) -> dict[str, Any]:
    """A node's attributes as Python values (strings decoded)."""
    out: dict[str, Any] = {}
    for attribute in node.attribute:
        value = onnx.helper.get_attribute_value(attribute)
        out[attribute.name] = value.decode() if isinstance(value, bytes) else value
    return out


def unsupported(node: onnx.NodeProto, detail: str) -> UnsupportedOpError:
    return UnsupportedOpError(
        RUNTIME, node.op_type, f"{detail}; node '{node.name or node.output[0]}'"
    )


class Context:
    """Maps ONNX value names to `Const`/`Act` and owns the TFLite builder."""

    def __init__(
        self,
        graph: onnx.GraphProto,
        shapes: dict[str, tuple[int, ...]],
        dynamic: dict[str, tuple[bool, ...]],
        opset: int,
    ) -> None:
        self.builder = TfliteBuilder()
        self.opset = opset
        self.values: dict[str, Value] = {}
        self.done: set[str] = set()  # first outputs of nodes already converted by a fusion
        self._shapes = shapes
        self._dynamic = dynamic
        self._readers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        for node in graph.node:
            for name in node.input:
                if name:
                    self._readers[name].append(node)
        self._graph_outputs = {o.name for o in graph.output}
        self._producers = {out: node for node in graph.node for out in node.output if out}
        # (tensor, TRANSPOSE permutation) -> transposed tensor. Keyed by the permutation
        # applied, not the target layout: a Transpose node's output shares its input's
        # tensor under another layout, and both may ask for the same target.
        self._views: dict[tuple[int, tuple[int, ...]], int] = {}
        self._materialized: dict[tuple[str, tuple[int, ...]], Act] = {}

    # ---- graph structure -------------------------------------------------------------

    def only_reader(self, name: str) -> onnx.NodeProto | None:
        """The single node reading `name`, if nothing else (not even the graph) does."""
        readers = self._readers.get(name, [])
        if len(readers) != 1 or name in self._graph_outputs:
            return None
        return readers[0]

    def producer(self, name: str) -> onnx.NodeProto | None:
        """The node computing `name`; None for a graph input or an initializer."""
        return self._producers.get(name)

    def fuse(self, node: onnx.NodeProto) -> None:
        """Mark `node` as converted by the converter of the node before it."""
        self.done.add(node.output[0])

    def is_used(self, name: str) -> bool:
        return bool(name) and (name in self._graph_outputs or bool(self._readers.get(name)))

    # ---- shapes ----------------------------------------------------------------------

    def shape(self, name: str) -> tuple[int, ...]:
        """Inferred ONNX shape at batch 1."""
        shape = self._shapes.get(name)
        if shape is None or any(d < 0 for d in shape):
            raise ConversionError(
                f"could not infer a static shape for '{name}' (only the batch may be dynamic)"
            )
        return shape

    def dynamic(self, name: str) -> tuple[bool, ...]:
        """Which axes of `name` follow the batch size."""
        return self._dynamic.get(name) or (False,) * len(self.shape(name))

    # ---- reading values --------------------------------------------------------------

    def input(self, node: onnx.NodeProto, i: int) -> Value | None:
        if i >= len(node.input) or not node.input[i]:
            return None
        try:
            return self.values[node.input[i]]
        except KeyError:
            raise ConversionError(
                f"'{node.input[i]}' is read by node '{node.name}' before it is computed"
            ) from None

    def required(self, node: onnx.NodeProto, i: int) -> Value:
        """Input `i` of an op that cannot do without it: missing is an error, not None."""
        value = self.input(node, i)
        if value is None:
            raise unsupported(node, f"input {i} is missing")
        return value

    def const(self, node: onnx.NodeProto, i: int, what: str) -> Const:
        value = self.optional_const(node, i, what)
        if value is None:
            raise unsupported(node, f"{what} is missing")
        return value

    def optional_const(self, node: onnx.NodeProto, i: int, what: str) -> Const | None:
        value = self.input(node, i)
        if isinstance(value, Act):
            raise unsupported(node, f"{what} must be a constant")
        if value is not None and value.dynamic:
            raise unsupported(node, f"{what} depends on the batch size")
        return value

    def act(self, node: onnx.NodeProto, i: int, perm: Sequence[int] | None = None) -> Act:
        """Input `i` as a float runtime tensor, viewed in layout `perm` (None: as it is).

        A constant becomes a constant tensor; one of lower rank than `perm` first gets
        leading 1-axes, as ONNX broadcasting would give it.
        """
        value = self.required(node, i)
        if isinstance(value, Const):
            return self._materialize(node, node.input[i], value, perm)
        if value.dtype != fb.TensorType.FLOAT32:
            raise unsupported(node, "reads a quantized tensor; only DequantizeLinear can")
        return value if perm is None else self.view(value, tuple(perm))

    def _materialize(
        self, node: onnx.NodeProto, name: str, const: Const, perm: Sequence[int] | None
    ) -> Act:
        if const.dynamic:
            raise unsupported(node, f"'{name}' depends on the batch size")
        perm = identity(const.ndim) if perm is None else tuple(perm)
        key = (name, perm)
        if key not in self._materialized:
            if len(perm) > const.ndim:
                shape = (1,) * (len(perm) - const.ndim) + const.value.shape
                const = replace(const, value=const.value.reshape(shape), quant=None)
            index = self.constant(const.transpose(perm), name)
            shape = tuple(int(d) for d in const.value.shape)
            self._materialized[key] = Act(index, shape, (False,) * len(shape), perm)
        return self._materialized[key]

    # ---- creating tensors ------------------------------------------------------------

    def new_act(
        self,
        name: str,
        shape: Sequence[int],
        dynamic: Sequence[bool],
        perm: Sequence[int],
        *,
        dtype: int = fb.TensorType.FLOAT32,
        quant: ActQuant | None = None,
    ) -> Act:
        act = Act(-1, tuple(shape), tuple(dynamic), tuple(perm), dtype, quant)
        index = self.builder.tensor(
            name,
            act.tflite_shape(),
            dtype,
            signature=act.signature(),
            quant=None if quant is None else quant.params(),
        )
        return replace(act, index=index)

    def output(self, name: str, perm: Sequence[int] | None = None, **kwargs: Any) -> Act:
        """A new tensor for ONNX value `name`, shaped by shape inference."""
        shape = self.shape(name)
        perm = identity(len(shape)) if perm is None else perm
        return self.new_act(name, shape, self.dynamic(name), perm, **kwargs)

    def set(self, name: str, value: Value) -> None:
        self.values[name] = value

    def emit(
        self,
        code: int,
        inputs: Sequence[Act | int],
        outputs: Sequence[Act],
        options: Any = None,
        *,
        version: int = 1,
    ) -> fb.OperatorT:
        ins = [x.index if isinstance(x, Act) else x for x in inputs]
        return self.builder.op(code, ins, [o.index for o in outputs], options, version=version)

    def int32(self, values: npt.ArrayLike, name: str) -> int:
        """An int32 constant tensor: a shape, axes, a permutation or [[begin, end], ...] pads."""
        return self.builder.constant(name, np.asarray(values, dtype=np.int32))

    def constant(self, const: Const, name: str) -> int:
        """A tensor holding `const` as float32 for float consumers.

        int8/int4 and float16 constants keep their compact storage and go through a
        DEQUANTIZE (computed once when the interpreter prepares the graph).
        """
        quant = const.quant
        if quant is not None and quant.bits is not None:
            data, dtype = quant.storage()
            stored = self.builder.constant(
                f"{name}_int{quant.bits}",
                data,
                dtype=dtype,
                shape=quant.q.shape,
                quant=quant.params(),
            )
            version = 6 if quant.bits == 4 else (5 if quant.axis is not None else 2)
            return self._dequantize(stored, name, quant.q.shape, version)
        if const.fp16:
            stored = self.builder.constant(f"{name}_fp16", const.value.astype(np.float16))
            return self._dequantize(stored, name, const.value.shape, 3)
        value = const.value.astype(np.float32) if const.value.dtype.kind == "f" else const.value
        return self.builder.constant(name, np.ascontiguousarray(value))

    def _dequantize(self, stored: int, name: str, shape: Sequence[int], version: int) -> int:
        out = self.builder.tensor(name, shape)
        self.builder.op(OP.DEQUANTIZE, [stored], [out], version=version)
        return out

    # ---- layouts ---------------------------------------------------------------------

    def view(self, act: Act, perm: tuple[int, ...]) -> Act:
        """`act` in layout `perm`, transposing once and reusing the result."""
        if act.perm == perm:
            return act
        back = inverse(act.perm)
        moved = tuple(back[p] for p in perm)
        key = (act.index, moved)
        if key not in self._views:
            suffix = "_nhwc" if perm == NHWC else ("_onnx" if perm == identity(act.rank) else "_t")
            name = self.builder.tensors[act.index].name + suffix
            out = self.new_act(name, act.shape, act.dynamic, perm, dtype=act.dtype)
            self.emit(
                OP.TRANSPOSE,
                [act, self.int32(moved, f"{name}_perm")],
                [out],
                fb.TransposeOptionsT(),
                version=4 if act.rank > 4 else 1,
            )
            self._views[key] = out.index
        return replace(act, index=self._views[key], perm=perm, producer=None)
