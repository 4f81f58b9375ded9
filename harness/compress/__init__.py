"""Compression passes: ONNX graph in, ONNX graph out, chained in the order a config lists.

Passes are registered by "module:Class" path, so importing this package (or parsing a
config) imports neither onnxruntime nor torch; `apply_chain` loads onnxruntime only to
check the result. May import only the base modules (errors, registry, hashing, specs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from harness.compress.base import Pass, PassContext, PassResult
from harness.compress.constants import constants_as_initializers, same_graph
from harness.compress.graph import graph_inputs
from harness.errors import CompressionError
from harness.registry import Registry

if TYPE_CHECKING:
    import onnxruntime

__all__ = [
    "PASSES",
    "PASSES_VERSION",
    "Pass",
    "PassContext",
    "PassResult",
    "apply_chain",
    "check_runs",
    "for_cpu",
]

# Bump when any pass (or fine-tuning) makes a different graph from the same settings: it is
# part of every compressed model's cache key, so models made by older code are not reused.
# 2: fine-tuning starts at the training learning rate, not a tenth; 3: structured pruning
# scores channels by every weight their removal cuts (harness/compress/importance.py);
# 4: structured pruning takes `tied` (residual-tied channels kept whole) and notes it.
PASSES_VERSION = "4"

PASSES: Registry[type[Pass]] = Registry("compression pass")
PASSES.register("quantize", "harness.compress.quantize:Quantize")
PASSES.register("float16", "harness.compress.quantize:Float16")
PASSES.register("ort_int8", "harness.compress.ort_quant:OrtInt8")
PASSES.register("prune", "harness.compress.prune:Prune")
PASSES.register("svd", "harness.compress.lowrank:Svd")
PASSES.register("distill", "harness.compress.training_steps:Distill")
PASSES.register("qat", "harness.compress.training_steps:Qat")


def for_cpu(passes: Sequence[Pass], arch: str, flags: Sequence[str]) -> tuple[Pass, ...]:
    """The passes with every CPU-dependent setting resolved for the CPU that will run the
    model (ort_int8's `isa = "auto"`); a pass that has none is returned as it is. The
    resolved specs are part of the compressed model's cache key."""
    return tuple(p.for_cpu(arch, flags) if hasattr(p, "for_cpu") else p for p in passes)


def apply_chain(
    model: onnx.ModelProto, passes: Sequence[Pass], ctx: PassContext
) -> tuple[onnx.ModelProto, list[dict[str, Any]]]:
    """Apply passes in order, then prove the result is a valid model that runs.

    Returns the model and one notes dict per pass ({"pass": name, ...}; "unchanged": why,
    when the pass left the graph as it found it). Weights in Constant nodes are made
    initializers first, so passes treat them as weights. The empty chain
    (the uncompressed baseline) returns the model itself, unchecked: nothing changed.
    Raises CompressionError with a one-line reason when the result fails onnx's checker
    or onnxruntime cannot load or run it on a calibration (or zero) batch.
    """
    notes: list[dict[str, Any]] = []
    current = constants_as_initializers(model) if passes else model
    for p in passes:
        result = p.apply(current, ctx)
        note = {"pass": p.name, **result.notes}
        if same_graph(current, result.model):  # the caller decides: a no-op is not a result
            note["unchanged"] = f"{p.label()} changed nothing: {_why_unchanged(result.notes)}"
        notes.append(note)
        current = result.model
    if passes:
        where = " -> ".join(p.label() for p in passes)
        _check(current, where)
        check_runs(current, ctx, expected=model, where=where)
    return current, notes


def _why_unchanged(notes: dict[str, Any]) -> str:
    """The pass's own reasons for the layers it left whole, shortest first."""
    skipped = notes.get("skipped") or {}
    if isinstance(skipped, dict) and skipped:
        reasons = sorted({str(v) for v in skipped.values()}, key=len)
        return f"{len(skipped)} layer(s) left whole ({'; '.join(reasons[:3])})"
    return "no layer it applies to"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check(model: onnx.ModelProto, where: str) -> None:
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise CompressionError(f"{where}: invalid ONNX model: {_first_line(exc)}") from None


def _session(model: onnx.ModelProto) -> onnxruntime.InferenceSession:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: no console noise from a sweep
    options.intra_op_num_threads = 1
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def _feed(model: onnx.ModelProto, ctx: PassContext) -> dict[str, np.ndarray]:
    """One calibration sample for the main input (zeros without calibration data), zeros of
    batch 1 for any other input."""
    inputs = graph_inputs(model.graph)
    main = ctx.input_name or (inputs[0].name if inputs else None)
    feed = {}
    for v in inputs:
        t = v.type.tensor_type
        # A dynamic axis may be symbolic, or -1 as PaddlePaddle writes it.
        dims = [d.dim_value if d.dim_value > 0 else 1 for d in t.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)
        if v.name == main and ctx.calibration is not None and len(ctx.calibration):
            feed[v.name] = np.asarray(ctx.calibration[:1], dtype=dtype)
        else:
            feed[v.name] = np.zeros(dims, dtype)
    return feed


def check_runs(
    model: onnx.ModelProto,
    ctx: PassContext,
    expected: onnx.ModelProto | None = None,
    where: str = "compressed model",
) -> list[np.ndarray]:
    """Run the model once in onnxruntime; raise CompressionError if it cannot, if an output's
    static shape differs from `expected`'s declared outputs, or if a calibration sample
    gives NaN/inf."""
    try:
        outputs = _session(model).run(None, _feed(model, ctx))
    except Exception as exc:  # onnxruntime raises its own untyped exceptions
        raise CompressionError(f"{where}: onnxruntime cannot run it: {_first_line(exc)}") from None
    declared = list((expected or model).graph.output)
    if len(outputs) != len(declared):
        raise CompressionError(f"{where}: {len(outputs)} outputs, expected {len(declared)}")
    for value, out in zip(outputs, declared, strict=True):
        dims = [d.dim_value if d.dim_value > 0 else None for d in out.type.tensor_type.shape.dim]
        shape = np.shape(value)
        if dims and (
            len(dims) != len(shape)
            or any(d is not None and d != s for d, s in zip(dims, shape, strict=True))
        ):
            raise CompressionError(
                f"{where}: output '{out.name}' has shape {shape}, expected {tuple(dims)}"
            )
        if ctx.calibration is not None and np.issubdtype(np.asarray(value).dtype, np.floating):
            if not np.all(np.isfinite(value)):
                raise CompressionError(
                    f"{where}: output '{out.name}' is NaN or inf on calibration data"
                )
    return outputs
