"""ONNX Runtime's int8 quantizer as a pass: static QDQ with calibration, dynamic."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from harness.compress import apply_chain
from harness.compress.base import PassContext
from harness.compress.ort_quant import OrtInt8
from harness.errors import CompressionError, ParamError
from harness.measure.size import onnx_size
from tests.helpers.graphs import (
    conv_net,
    ctx_for,
    inputs_for,
    make_pass,
    mlp,
    nodes_of,
    rel_err,
    run,
)


def test_static_qdq_is_small_and_close(capsys: pytest.CaptureFixture[str]) -> None:
    model = conv_net()
    out, notes = apply_chain(model, [make_pass("ort_int8")], ctx_for(model, 32))
    assert onnx_size(out).file_bytes <= 0.35 * onnx_size(model).file_bytes
    x = inputs_for(model)
    assert rel_err(run(out, x), run(model, x)) < 0.1
    assert notes[0]["format"] == "QDQ" and notes[0]["calibration_samples"] == 32
    assert notes[0]["quant_ops"]["QuantizeLinear"] >= 4
    assert nodes_of(out, "QuantizeLinear") and nodes_of(out, "DequantizeLinear")
    assert capsys.readouterr().out == ""  # the calibrators' progress prints are swallowed


@pytest.mark.parametrize("calibrate", ["entropy", "percentile"])
def test_histogram_calibrations_run(calibrate: str, capsys: pytest.CaptureFixture[str]) -> None:
    model = mlp()
    out, notes = apply_chain(
        model, [make_pass("ort_int8", calibrate=calibrate, per_channel=False)], ctx_for(model, 32)
    )
    assert notes[0]["calibrate"] == calibrate
    x = inputs_for(model)
    assert rel_err(run(out, x), run(model, x)) < 0.2
    assert capsys.readouterr().out == ""


def test_dynamic_needs_no_calibration() -> None:
    model = mlp()
    out, notes = apply_chain(model, [make_pass("ort_int8", mode="dynamic")], PassContext())
    assert notes[0]["quant_ops"]["MatMulInteger"] == 2
    x = inputs_for(model)
    assert rel_err(run(out, x), run(model, x)) < 0.05


def test_static_without_calibration_is_a_compression_error() -> None:
    with pytest.raises(CompressionError, match="ort_int8 static needs calibration data"):
        OrtInt8().apply(mlp(), PassContext())


def test_a_fixed_batch_input_is_calibrated_one_sample_at_a_time() -> None:
    model = mlp()
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    model.graph.output[0].type.tensor_type.shape.dim[0].dim_value = 1
    calibration = np.random.default_rng(0).standard_normal((5, 64)).astype(np.float32)
    out, notes = apply_chain(model, [OrtInt8()], PassContext(calibration, "input"))
    assert notes[0]["calibration_samples"] == 5
    assert run(out, calibration[:1]).shape == (1, 10)


def test_apply_never_mutates_its_input() -> None:
    model = conv_net()
    before = model.SerializeToString()
    OrtInt8().apply(model, ctx_for(model))
    assert model.SerializeToString() == before
    assert isinstance(OrtInt8(mode="dynamic").apply(model, PassContext()).model, onnx.ModelProto)


@pytest.mark.parametrize(
    ("params", "key", "message"),
    [
        ({"mode": "dynamc"}, "mode", "'dynamc' is not allowed (did you mean 'dynamic'?)"),
        ({"calibrate": "kl"}, "calibrate", "choose from: minmax, entropy, percentile"),
        ({"per_channel": "no"}, "per_channel", "must be true or false"),
        ({"calibration": "minmax"}, "calibration", "did you mean 'calibrate'"),
    ],
)
def test_bad_params_are_param_errors(params: dict, key: str, message: str) -> None:
    with pytest.raises(ParamError) as info:
        OrtInt8.from_params(params)
    assert info.value.key == key and message in info.value.message


def test_spec_and_label() -> None:
    p = OrtInt8.from_params({})
    assert p.spec() == {
        "pass": "ort_int8", "mode": "static", "calibrate": "minmax", "per_channel": True
    }  # fmt: skip
    assert p.label() == "ort-int8 static"
    assert OrtInt8(mode="dynamic").label() == "ort-int8 dynamic"
    assert (
        OrtInt8(calibrate="entropy", per_channel=False).label()
        == "ort-int8 static entropy per-tensor"
    )
