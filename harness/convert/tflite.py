"""ONNX -> .tflite without TensorFlow.

The .tflite model takes the ONNX model's input as it is (NCHW, float32) and returns the
same output shape, so one numpy array feeds both runtimes. Inside, conv activations are
NHWC: one TRANSPOSE after the input, and back to ONNX order only where an op needs it
(Flatten/Reshape of a feature map, the graph output). Shapes come from ONNX shape
inference run at batch 1 and at batch 2: axes that differ follow the batch and get -1 in
`shape_signature`, so `resize_tensor_input` works for any batch.

Weights quantized by the compression passes (an int8/uint8/int4/uint4 initializer into
DequantizeLinear, per-tensor or per-channel) are stored as int8 or as packed INT4 (two
values per byte; LiteRT's DEQUANTIZE reads INT4 directly), and float16 initializers as
FLOAT16, each behind a DEQUANTIZE op whose float output feeds the conv or dense layer.
QuantizeLinear/DequantizeLinear pairs on activations become QUANTIZE/DEQUANTIZE (fake
quantization, same scales). int16/int32 DequantizeLinear constants (QDQ biases) are stored
as float32, and float16 activations (a whole-model float16 graph) are computed in float32.

Not supported (UnsupportedOpError, never a silently different model): convolutions and
pooling that are not 2-D, ConvTranspose, Resize, recurrent ops, MatMul of two runtime
tensors, Gemm with transA, pooling whose ceil_mode changes the output size, non-constant
Pad modes, per-axis or non-8-bit quantization of activations, blocked quantization, and
inputs with a dynamic axis other than the batch (ConversionError).

Layout of the package: tflite_builder.py writes the flatbuffer, tflite_values.py holds
what an ONNX value becomes, tflite_context.py the conversion state and op registry,
tflite_layers.py, tflite_ops.py and tflite_consts.py the converters.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from ai_edge_litert import schema_py_generated as fb
from onnx import numpy_helper

# Importing the converter modules fills CONVERTERS and FOLDERS.
from harness.convert import (  # noqa: F401
    tflite_consts,
    tflite_layers,
    tflite_math,
    tflite_ops,
    tflite_resize,
    tflite_slice,
)
from harness.convert.as_2d import as_2d
from harness.convert.control_flow import straightened
from harness.convert.decompose import decomposed
from harness.convert.folding import KEEP, NO_BUILTIN, fold, is_standard, simplified
from harness.convert.recurrent import unrolled
from harness.convert.run_shapes import completed
from harness.convert.tflite_context import (
    CONVERTERS,
    FOLDERS,
    RUNTIME,
    Context,
    unsupported,
)
from harness.convert.tflite_values import Const, identity
from harness.errors import ConversionError, UnsupportedOpError

__all__ = ["onnx_to_tflite", "supported_ops"]

ONNX_DOMAINS = ("", "ai.onnx")
DOMAINS = {
    "ai.onnx.ml": "a classical-ML operator (scikit-learn via skl2onnx); LiteRT has no builtin for it",
    "com.microsoft": "an ONNX Runtime contrib operator; LiteRT has no builtin for it",
}
Shapes = dict[str, tuple[int, ...]]


# Ops written as other ops before conversion (recurrent.py, decompose.py, control_flow.py).
REWRITTEN = {
    "LSTM": "unrolled into MatMul/Sigmoid/Tanh steps (a sequence of fixed length)",
    "GRU": "unrolled into MatMul/Sigmoid/Tanh steps (a sequence of fixed length)",
    "LayerNormalization": "written out as ReduceMean/Sub/Mul/Sqrt/Div",
    "If": "the branch taken, when constants or static shapes decide it; else unsupported",
    "Loop": "unrolled, when its trip count is known before running; else unsupported",
}


def supported_ops() -> list[str]:
    """ONNX op types the converter handles (some only on constants, e.g. Gather, Slice;
    Erf only inside an exact GELU)."""
    always = {op for op in REWRITTEN if op not in ("If", "Loop")}
    return sorted(set(CONVERTERS) | set(FOLDERS) | always)


def onnx_to_tflite(model: onnx.ModelProto) -> bytes:
    """Convert an ONNX graph to a .tflite flatbuffer without TensorFlow; a graph that does
    not convert as it is gets onnxslim's folding and shape inference, then one more try."""
    try:
        return _onnx_to_tflite(model)
    except UnsupportedOpError:
        raise
    except ConversionError:
        slim = simplified(model)
        if slim is None:
            raise
        try:
            return _onnx_to_tflite(slim)
        except ConversionError:
            pass
        raise


def _onnx_to_tflite(model: onnx.ModelProto) -> bytes:
    opset = _opset(model)
    # If/Loop decided before running, LSTM, GRU and LayerNormalization as the ops below
    model = decomposed(unrolled(straightened(model, opset), opset), opset)
    _check_ops(model.graph)
    model = as_2d(model, opset)  # 1-D conv and pooling as their 2-D forms
    graph = model.graph
    shapes, dynamic = _infer(model)
    ctx = Context(graph, shapes, dynamic, opset)
    for init in graph.initializer:
        ctx.set(init.name, Const.of(_to_array(init)))
    if graph.sparse_initializer:
        raise ConversionError("sparse initializers are not supported")
    inputs = [_graph_input(ctx, value) for value in graph.input if value.name not in ctx.values]
    for node in graph.node:
        if node.output[0] not in ctx.done:
            _convert(ctx, node)
    outputs = [_graph_output(ctx, value, inputs) for value in graph.output]
    producer = f"{model.producer_name} {model.producer_version}".strip() or "unknown"
    return ctx.builder.finish(
        inputs,
        outputs,
        description=f"edge-harness onnx_to_tflite from ONNX opset {opset} ({producer})",
    )


def _check_ops(graph: onnx.GraphProto) -> None:
    """Fail fast, before shape inference, on an operator that can never convert: one of
    another domain, or without a LiteRT builtin. Other standard ops may still fold."""
    for node in graph.node:
        if node.domain not in ONNX_DOMAINS:
            why = DOMAINS.get(node.domain, "custom domain")
            raise UnsupportedOpError(RUNTIME, f"{node.domain}.{node.op_type}", why)
        if node.op_type in NO_BUILTIN:
            raise unsupported(node, NO_BUILTIN[node.op_type])
        if node.op_type not in CONVERTERS and node.op_type not in FOLDERS:
            if not is_standard(node):
                raise unsupported(node, "not an ONNX operator")


def _opset(model: onnx.ModelProto) -> int:
    for entry in model.opset_import:
        if entry.domain in ONNX_DOMAINS:
            return entry.version
    raise ConversionError("the model imports no ONNX opset")


def _to_array(tensor: onnx.TensorProto) -> np.ndarray:
    try:
        return numpy_helper.to_array(tensor)
    except Exception as e:  # external data that was not loaded, unknown types
        raise ConversionError(f"cannot read initializer '{tensor.name}': {e}") from e


def _convert(ctx: Context, node: onnx.NodeProto) -> None:
    """Fold a node whose inputs are all constants when a folder exists, else convert it."""
    values = [ctx.input(node, i) for i in range(len(node.input))]
    present = [v for v in values if v is not None]
    consts = [v for v in present if isinstance(v, Const)]
    if node.op_type in FOLDERS and present and len(consts) == len(present):

        def by_folder(arrays: list) -> list[np.ndarray]:
            try:
                return FOLDERS[node.op_type](node, arrays, ctx.opset)
            except (ValueError, IndexError, TypeError) as e:
                raise ConversionError(f"cannot fold {node.op_type} '{node.name}': {e}") from e

        _set_folded(ctx, node, values, consts, by_folder)
        return
    if node.op_type not in KEEP and present and len(consts) == len(present):
        if all(v.quant is None and not v.fp16 for v in consts):
            _fold_by_reference(ctx, node, values, consts)
            return
    if node.op_type not in CONVERTERS:
        known = node.op_type in FOLDERS
        raise unsupported(
            node, "only on constants" if known else "no converter to a LiteRT builtin"
        )
    CONVERTERS[node.op_type](ctx, node)


def _fold_by_reference(ctx: Context, node: onnx.NodeProto, values: list, consts: list) -> None:
    def by_reference(arrays: list) -> list[np.ndarray]:
        try:
            return fold(node, arrays, ctx.opset)
        except Exception as e:  # the reference evaluator raises whatever numpy raises
            raise ConversionError(f"cannot fold {node.op_type} '{node.name}': {e}") from e

    _set_folded(ctx, node, values, consts, by_reference)


def _set_folded(
    ctx: Context, node: onnx.NodeProto, values: list, consts: list[Const], run: Callable
) -> None:
    """The node's outputs computed from constant inputs. A value derived from a runtime
    shape is computed again from its batch-2 value (`Const.alt`): an output equal at both
    batches (an image side read off a feature map) is a plain constant; one that differs
    depends on the batch and may only steer a Reshape."""
    results = run([v.value if isinstance(v, Const) else None for v in values])
    sticky = any(v.dynamic and v.alt is None for v in consts)  # no second value to compare
    alts: list | None = None
    if not sticky and any(v.alt is not None for v in consts):
        try:
            alts = run([(v.value if v.alt is None else v.alt) if isinstance(v, Const) else None
                        for v in values])  # fmt: skip
        except ConversionError:
            sticky = True  # the graph only computes at batch 1
    for i, (name, result) in enumerate(zip(node.output, results, strict=False)):
        alt = None if alts is None else np.asarray(alts[i])
        differs = alt is not None and (
            alt.shape != np.shape(result) or not np.array_equal(alt, result)
        )
        dynamic = sticky or differs
        ctx.set(name, Const(result, dynamic=dynamic, alt=alt if differs else None))


# ---- graph inputs and outputs ------------------------------------------------------------


def _graph_input(ctx: Context, value: onnx.ValueInfoProto) -> int:
    if value.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        raise ConversionError(f"input '{value.name}' must be float32")
    shape = ctx.shape(value.name)
    act = ctx.new_act(value.name, shape, ctx.dynamic(value.name), identity(len(shape)))
    ctx.set(value.name, act)
    return act.index


def _graph_output(ctx: Context, value: onnx.ValueInfoProto, inputs: list[int]) -> int:
    if value.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        raise ConversionError(f"output '{value.name}' must be float32")
    act = ctx.values.get(value.name)
    if isinstance(act, Const) or act is None:
        raise ConversionError(f"output '{value.name}' is a constant; there is nothing to run")
    if act.dtype != fb.TensorType.FLOAT32:
        raise ConversionError(f"output '{value.name}' is quantized; end the graph with a float")
    act = ctx.view(act, identity(act.rank))
    if act.index not in inputs:  # an input passed straight through keeps its own name
        ctx.builder.rename(act.index, value.name)
    return act.index


# ---- shape inference ---------------------------------------------------------------------


def _infer(model: onnx.ModelProto) -> tuple[Shapes, dict[str, tuple[bool, ...]]]:
    """Static shapes at batch 1, and which axes follow the batch (they change at batch 2)."""
    fixed, has_batch = _with_batch(model, 1)
    shapes = completed(fixed, _shapes(fixed, strict=True))
    if not has_batch:
        return shapes, {}
    try:
        at_2 = _with_batch(model, 2)[0]
        doubled = completed(at_2, _shapes(at_2, strict=True))
    except ConversionError:
        return shapes, {}  # the graph only works at batch 1 (e.g. a hard-coded reshape)
    dynamic = {
        name: tuple(a != b for a, b in zip(shape, doubled[name], strict=True))
        for name, shape in shapes.items()
        if name in doubled and len(doubled[name]) == len(shape)
    }
    return shapes, dynamic


def _with_batch(model: onnx.ModelProto, batch: int) -> tuple[onnx.ModelProto, bool]:
    """A copy with the symbolic batch axis of every input fixed to `batch`."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    graph = copy.graph
    initializers = {init.name for init in graph.initializer}
    has_batch = False
    for value in graph.input:
        if value.name in initializers:
            continue
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if dim.dim_value > 0:  # -1 (PaddlePaddle's dynamic axis) is dynamic too
                continue
            if axis != 0:
                raise ConversionError(
                    f"input '{value.name}' has a dynamic axis {axis}; only the batch may be"
                )
            dim.dim_value = batch
            has_batch = True
    # Shapes recorded for another batch would contradict this one; infer afresh.
    del graph.value_info[:]
    for value in graph.output:
        value.type.tensor_type.ClearField("shape")
    return copy, has_batch


def _shapes(model: onnx.ModelProto, *, strict: bool) -> Shapes:
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=strict, data_prop=True)
    except Exception as e:  # onnx raises InferenceError, ValidationError or RuntimeError
        raise ConversionError(f"ONNX shape inference failed: {e}") from e
    graph = inferred.graph
    shapes: Shapes = {init.name: tuple(int(d) for d in init.dims) for init in graph.initializer}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        tensor = value.type.tensor_type
        if tensor.HasField("shape"):
            shapes[value.name] = tuple(
                d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim
            )
    return shapes
