"""What a model file declares at its boundary: input and output names, shapes and dtypes.

Read from the file itself (ONNX graph, or the LiteRT interpreter's tensor details), so a
model card says what an application will really bind, including a full-integer model's
int8 input and its scale and zero point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import HarnessError

Tensor = dict[str, Any]  # name, shape (None for a dynamic axis), dtype[, quantization]


def _onnx_io(path: Path) -> tuple[list[Tensor], list[Tensor]]:
    import onnx
    from onnx.helper import tensor_dtype_to_np_dtype

    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    constants = {t.name for t in graph.initializer}
    made_by = {out: n.op_type for n in graph.node for out in n.output}

    def tensor(v: onnx.ValueInfoProto) -> Tensor:
        t = v.type.tensor_type
        dims = [d.dim_value if d.dim_value > 0 else None for d in t.shape.dim]  # -1: dynamic
        out: Tensor = {
            "name": v.name,
            "shape": dims,
            "dtype": tensor_dtype_to_np_dtype(t.elem_type).name,
        }
        if made_by.get(v.name) == "Softmax":
            out["softmax"] = True
        return out

    inputs = [tensor(v) for v in graph.input if v.name not in constants]
    return inputs, [tensor(v) for v in graph.output]


def _tflite_io(path: Path) -> tuple[list[Tensor], list[Tensor]]:
    from harness.measure.runtimes.litert import interpreter_module

    interpreter = interpreter_module().Interpreter(model_path=str(path))

    def tensor(d: dict[str, Any]) -> Tensor:
        signature = d.get("shape_signature", d["shape"])
        out: Tensor = {
            "name": d["name"],
            "shape": [None if int(s) < 0 else int(s) for s in signature],
            "dtype": d["dtype"].__name__,
        }
        scale, zero_point = d.get("quantization", (0.0, 0))
        if scale:
            out["quantization"] = {"scale": float(scale), "zero_point": int(zero_point)}
        return out

    return (
        [tensor(d) for d in interpreter.get_input_details()],
        [tensor(d) for d in interpreter.get_output_details()],
    )


READERS = {".onnx": _onnx_io, ".tflite": _tflite_io}


def model_io(path: Path) -> dict[str, list[Tensor]]:
    """{"inputs": [...], "outputs": [...]} of a .onnx or .tflite file."""
    reader = READERS.get(path.suffix)
    if reader is None:
        raise HarnessError(f"{path.name}: cannot read the inputs of a '{path.suffix}' file")
    inputs, outputs = reader(path)
    return {"inputs": inputs, "outputs": outputs}
