"""Quantize a converted .tflite with ai-edge-quantizer, LiteRT's own quantizer.

`int8` is full-integer (int8 weights and activations, calibrated on the same training
samples as ONNX Runtime's static quantizer), `dynamic` is dynamic-range (int8 weights,
activations quantized on the fly), `weight_only` stores int8 weights for float kernels.
The quantizer works on files, so this stage uses a temporary folder.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx

from harness.errors import ConversionError, UnsupportedError

RECIPES = {
    "int8": "static_wi8_ai8",
    "dynamic": "dynamic_wi8_afp32",
    "weight_only": "weight_only_wi8_afp32",
}
SIGNATURE = "serving_default"


QUANTIZED_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}


def check_float(model: onnx.ModelProto, mode: str) -> None:
    """ai-edge-quantizer re-quantizes a partly quantized model into one LiteRT cannot
    prepare; say so up front instead of failing in the runtime."""
    found = sorted({n.op_type for n in model.graph.node} & QUANTIZED_OPS)
    if found:
        raise UnsupportedError(
            "litert",
            f"quantize={mode} needs a float model, but this compression already "
            f"quantized it ({', '.join(found)}); pair it with float compressions (fp32, prune, svd)",
        )


@contextlib.contextmanager
def _native_stderr_into(path: Path) -> Iterator[None]:
    """Send file descriptor 2 to `path` for the duration: LiteRT's C++ side logs ("Created
    TensorFlow Lite XNNPACK delegate") straight to it, past sys.stderr, over the progress bar."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with path.open("wb") as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


# What makes a quantized flatbuffer besides the harness: the quantizer, and the LiteRT
# interpreter its calibration runs on. Their versions are part of the file's cache key.
QUANTIZER_LIBRARIES = ("ai-edge-quantizer", "ai-edge-litert")


def quantize_tflite(
    model: bytes, mode: str, calibration: np.ndarray | None, input_name: str
) -> bytes:
    """The quantized flatbuffer; ConversionError with the quantizer's reason if it fails."""
    try:
        from ai_edge_quantizer import quantizer, recipe
    except ImportError:
        raise ConversionError(
            "ai-edge-quantizer is not installed; pip install ai-edge-quantizer"
        ) from None
    with tempfile.TemporaryDirectory(prefix=f"harness-aeq-{os.getpid()}-") as tmp:
        path = Path(tmp) / "float.tflite"
        path.write_bytes(model)
        # The quantizer prints a size summary to stdout (the sweep's output is the progress
        # bar), and warns that its calibration interpreter keeps all tensors: by design.
        quiet = io.StringIO()
        with (
            contextlib.redirect_stdout(quiet),
            contextlib.redirect_stderr(quiet),  # its calibration progress bar
            _native_stderr_into(Path(tmp) / "native.log"),
            warnings.catch_warnings(),
        ):
            warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors")
            try:
                q = quantizer.Quantizer(str(path))
                q.load_quantization_recipe(getattr(recipe, RECIPES[mode])())
                stats = None
                if q.need_calibration:
                    if calibration is None:
                        raise ConversionError(f"litert quantize={mode} needs calibration data")
                    samples = [
                        {input_name: calibration[i : i + 1]} for i in range(len(calibration))
                    ]
                    stats = q.calibrate({SIGNATURE: samples})
                result = q.quantize(stats)
            except ConversionError:
                raise
            except Exception as exc:  # the quantizer raises plain ValueError/RuntimeError
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise ConversionError(f"ai-edge-quantizer ({mode}): {first}") from None
    return bytes(result.quantized_model)
