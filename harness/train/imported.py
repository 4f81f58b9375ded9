"""Models trained elsewhere: an ONNX file a sweep compresses and measures instead of training.

The config names the file (`[models.mine] onnx = "mine.onnx"`); it is checked when the
config loads (readable, valid ONNX, one float32 input) and again once the dataset is
loaded (its input and output shapes fit the data), so a wrong file stops the sweep with
one line before anything runs. The file's content hash is its cache key.
"""

from __future__ import annotations

from pathlib import Path

import onnx

from harness.compress.graph import graph_inputs
from harness.errors import ConfigError
from harness.measure.model_files import load_onnx, model_digest

__all__ = ["check_fits", "load_onnx", "read_model"]

# ONNX element types the harness can feed: the dataset is float32 throughout.
_FLOAT = onnx.TensorProto.FLOAT


def _dims(value: onnx.ValueInfoProto) -> list[int | str]:
    """Each axis as its size, or its symbolic name ('?' when it has neither, or is -1 as
    PaddlePaddle writes a dynamic axis)."""
    return [
        d.dim_value if d.dim_value > 0 else (d.dim_param or "?")
        for d in value.type.tensor_type.shape.dim
    ]


def read_model(path: Path) -> tuple[onnx.ModelProto, str]:
    """(the model with any external weights, sha256 over its files); a one-line ValueError
    saying what is wrong. External data files are read from beside the .onnx."""
    try:
        model = load_onnx(path)
        digest = model_digest(path)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read it ({exc.strerror})") from None
    try:
        onnx.checker.check_model(model if model.ByteSize() < 2**31 - 1 else str(path))
    except Exception as exc:  # onnx raises ValidationError and others
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{path.name}: not a valid ONNX model ({first})") from None
    inputs = graph_inputs(model.graph)
    if len(inputs) != 1:
        raise ValueError(
            f"{path.name}: has {len(inputs)} inputs; the harness feeds one tensor of samples"
        )
    if inputs[0].type.tensor_type.elem_type != _FLOAT:
        kind = onnx.TensorProto.DataType.Name(inputs[0].type.tensor_type.elem_type).lower()
        raise ValueError(
            f"{path.name}: its input is {kind}; the harness feeds float32 samples "
            "(export the model with a float input and quantize it here)"
        )
    return model, digest


def check_fits(
    model: onnx.ModelProto,
    name: str,
    input_shape: tuple[int, ...],
    n_classes: int,
    task: str = "classify",
) -> None:
    """ConfigError unless the model takes a batch of samples shaped `input_shape` and returns
    one score per class."""
    where = f"models.{name}"
    dims = _dims(graph_inputs(model.graph)[0])
    want: list[int | str] = ["batch", *input_shape]
    if len(dims) != len(want) or any(
        isinstance(d, int) and d != w for d, w in zip(dims[1:], input_shape, strict=False)
    ):
        raise ConfigError(
            f"{where}: the model takes input {_shape(dims)} but the dataset gives "
            f"{_shape(want)} (images as N, C, H, W); export it for this data"
        )
    out = _dims(model.graph.output[0])
    if task == "classify" and out and isinstance(out[-1], int) and out[-1] != n_classes:
        raise ConfigError(
            f"{where}: the model returns {out[-1]} scores per sample but the dataset has "
            f"{n_classes} classes"
        )


def _shape(dims: list[int | str]) -> str:
    return "(" + ", ".join(str(d) for d in dims) + ")"
