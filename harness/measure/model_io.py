"""What a model file declares at its boundary, as a model card shows it: input and output
names, shapes (None for a dynamic axis) and dtypes, a Softmax output flagged, and a
full-integer model's int8 tensors with their scale and zero point, so the card says what
an application will really bind. The facts come from the one reader per format
(harness.measure.formats); this module only formats them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.measure.formats import TensorInfo, read_io

Tensor = dict[str, Any]  # name, shape (None for a dynamic axis), dtype[, quantization]


def card_tensor(info: TensorInfo) -> Tensor:
    """One tensor as the card's JSON holds it."""
    out: Tensor = {
        "name": info.name,
        "shape": [d if isinstance(d, int) else None for d in info.dims or ()],
        "dtype": info.dtype.name,
    }
    if info.made_by == "Softmax":
        out["softmax"] = True
    if info.quantized:
        out["quantization"] = {"scale": info.scale, "zero_point": info.zero_point}
    return out


def model_io(path: Path) -> dict[str, list[Tensor]]:
    """{"inputs": [...], "outputs": [...]} of a .onnx or .tflite file."""
    io = read_io(path)
    return {
        "inputs": [card_tensor(t) for t in io.inputs],
        "outputs": [card_tensor(t) for t in io.outputs],
    }
