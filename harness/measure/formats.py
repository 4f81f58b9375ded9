"""Model file formats: per suffix, the runtimes that run such a file and the one reader of
its boundary. Every fact about an input or output (name, shape, dtype, layout, an int8
tensor's scale and zero point, the op that produces it) is read here, once per file, and
shared by the feeding checks (harness.measure.inputs), bench, the fixed-batch feed of a
sweep and the model card (harness.measure.model_io formats it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.registry import Registry

Dim = int | str  # a fixed size, or a symbolic name ("?" when unnamed or -1)


def model_layout(dims: tuple[Dim, ...] | None) -> str | None:
    """'nchw' or 'nhwc' for a 4-D tensor, from which of axes 1 and 3 looks like channels."""
    if dims is None or len(dims) != 4:
        return None
    c1, c3 = (d if isinstance(d, int) else None for d in (dims[1], dims[3]))
    if c1 is not None and (c3 is None or c1 < c3):
        return "nchw"
    if c3 is not None and (c1 is None or c3 < c1):
        return "nhwc"
    return None


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: np.dtype
    dims: tuple[Dim, ...] | None  # None: the model does not say (any rank)
    scale: float = 0.0  # an integer tensor's quantization scale; 0: not quantized
    zero_point: int = 0
    made_by: str | None = None  # the op that produces it (ONNX outputs), e.g. "Softmax"

    @property
    def quantized(self) -> bool:
        """An integer tensor with a scale: float data is quantized for it by the runtime."""
        return bool(self.scale)

    @property
    def layout(self) -> str | None:
        return model_layout(self.dims)


@dataclass(frozen=True)
class ModelIO:
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]


def _onnx_dims(value: Any) -> tuple[Dim, ...] | None:
    if not value.type.tensor_type.HasField("shape"):
        return None
    dims: list[Dim] = []
    for d in value.type.tensor_type.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(int(d.dim_value))
        else:
            dims.append(d.dim_param or "?")
    return tuple(dims)


def _onnx_dtype(value: Any) -> np.dtype:
    from onnx import helper

    kind = value.type.WhichOneof("value")
    if kind != "tensor_type":
        return np.dtype(np.float32)  # sequences and maps (ZipMap) are outputs only
    return np.dtype(helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type))


def onnx_io(path: Path) -> ModelIO:
    """Inputs (initializers listed as inputs left out) and outputs of an .onnx file."""
    import onnx

    from harness.compress.graph import graph_inputs

    graph = onnx.load(str(path), load_external_data=False).graph
    made_by = {out: n.op_type for n in graph.node for out in n.output}

    def info(v: Any) -> TensorInfo:
        return TensorInfo(v.name, _onnx_dtype(v), _onnx_dims(v), made_by=made_by.get(v.name))

    return ModelIO(
        tuple(info(v) for v in graph_inputs(graph)), tuple(info(v) for v in graph.output)
    )


def tflite_io(path: Path) -> ModelIO:
    """Inputs and outputs of a .tflite file, -1 in its shape signature as dynamic."""
    from harness.measure.runtimes.litert import interpreter_module

    interpreter = interpreter_module().Interpreter(model_path=str(path))

    def info(detail: dict[str, Any]) -> TensorInfo:
        signature = detail.get("shape_signature", detail["shape"])
        dims = tuple("?" if int(d) < 0 else int(d) for d in signature)
        scale, zero_point = detail.get("quantization") or (0.0, 0)
        return TensorInfo(
            detail["name"], np.dtype(detail["dtype"]), dims, float(scale), int(zero_point)
        )

    return ModelIO(
        tuple(info(d) for d in interpreter.get_input_details()),
        tuple(info(d) for d in interpreter.get_output_details()),
    )


@dataclass(frozen=True)
class ModelFormat:
    runtimes: tuple[str, ...]  # the runtimes that can run a file of this format
    read: Callable[[Path], ModelIO]


FORMATS: Registry[ModelFormat] = Registry("model format")
FORMATS.register(".onnx", ModelFormat(("onnxruntime", "litert"), onnx_io))
FORMATS.register(".tflite", ModelFormat(("litert",), tflite_io))


def model_format(path: Path) -> ModelFormat | None:
    """The format of a file, by its suffix; None for a file no reader takes."""
    suffix = path.suffix.lower()
    return FORMATS.get(suffix) if suffix in FORMATS else None


def read_io(path: Path) -> ModelIO:
    """The inputs and outputs a .onnx or .tflite file declares."""
    found = model_format(path)
    if found is None:
        raise HarnessError(f"{path.name}: cannot read the inputs of a '{path.suffix}' file")
    return found.read(path)
