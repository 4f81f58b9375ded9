"""LiteRT's own quantizer on converted models, and float I/O around full-integer models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.convert.litert_quant import quantize_tflite
from harness.convert.tflite import onnx_to_tflite
from harness.errors import ConversionError
from harness.measure.runtimes import RUNTIMES
from tests.helpers.graphs import gemm_model


@pytest.fixture(scope="module")
def float_model() -> bytes:
    return onnx_to_tflite(gemm_model(seed=3, n_in=128, n_out=64))


def _run(data: bytes, tmp_path: Path, x: np.ndarray) -> tuple[np.ndarray, object]:
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    litert = RUNTIMES.get("litert")
    session = litert.load(str(path), litert.parse_settings({}))
    return session.run(x), session


@pytest.mark.parametrize("mode", ["int8", "dynamic", "weight_only"])
def test_quantized_models_stay_close_to_float(
    float_model: bytes, tmp_path: Path, mode: str
) -> None:
    rng = np.random.default_rng(0)
    calibration = rng.normal(size=(256, 128)).astype(np.float32)
    quantized = quantize_tflite(float_model, mode, calibration, "input")
    assert len(quantized) < 0.6 * len(float_model)
    x = rng.normal(size=(50, 128)).astype(np.float32)
    expected, _ = _run(float_model, tmp_path, x)
    got, session = _run(quantized, tmp_path, x)
    assert got.dtype == np.float32 and got.shape == expected.shape
    spread = float(np.abs(expected).max())
    # Mean, not max: a full-integer output saturates where calibration never reached.
    assert float(np.abs(got - expected).mean()) < 0.03 * spread
    assert (got.argmax(1) == expected.argmax(1)).mean() > 0.8
    if mode == "int8":
        assert session.input_dtype == np.int8  # real integer kernels, float I/O around them
        session.bind(x[:1])()


def test_the_quantizer_leaves_the_terminal_to_the_progress_bar() -> None:
    """LiteRT's C++ logs go to file descriptor 2 once per process, so a fresh one is used."""
    probe = (
        "import numpy as np\n"
        "from harness.convert.litert_quant import quantize_tflite\n"
        "from harness.convert.tflite import onnx_to_tflite\n"
        "from tests.helpers.graphs import gemm_model\n"
        "model = onnx_to_tflite(gemm_model(seed=3, n_in=16, n_out=4))\n"
        "x = np.random.default_rng(0).normal(size=(8, 16)).astype(np.float32)\n"
        "assert len(quantize_tflite(model, 'int8', x, 'input')) > 0\n"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")


def test_full_integer_without_calibration_is_a_conversion_error(float_model: bytes) -> None:
    with pytest.raises(ConversionError, match="quantize=int8 needs calibration data"):
        quantize_tflite(float_model, "int8", None, "input")


def test_an_already_quantized_graph_is_refused_with_the_reason() -> None:
    from harness.compress import PASSES, apply_chain
    from harness.compress.base import PassContext
    from harness.convert.litert_quant import check_float

    model = gemm_model(seed=3, n_in=32, n_out=8)
    check_float(model, "int8")  # a float graph passes
    quantized, _ = apply_chain(
        model, [PASSES.get("quantize").from_params({"bits": 8})], PassContext()
    )
    with pytest.raises(ConversionError, match=r"needs a float model.*\(DequantizeLinear\)"):
        check_float(quantized, "int8")
