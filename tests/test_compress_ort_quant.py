"""ONNX Runtime's int8 quantizer as a pass: static QDQ with calibration, dynamic.

CPUs differ: ORT's u8s8 kernels saturate on x86 without VNNI unless the weights are 7-bit.
So accuracy is asserted for the model made for *this* CPU (what the sweep makes), against
the same limits on every CPU, and the int8 kernels are checked against the QDQ arithmetic run
on float kernels (graph optimizations off), which does not depend on the CPU: they agree
exactly when the choice is right and differ by ~0.17 of the output range when it is not.
"""

from __future__ import annotations

import platform

import numpy as np
import onnx
import pytest

from harness.compress import apply_chain, for_cpu
from harness.compress.base import PassContext
from harness.compress.int8_isa import FAMILIES, isa_family
from harness.compress.ort_quant import OrtInt8
from harness.errors import CompressionError, ParamError
from harness.measure.machine import cpu_isa
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
    run_simulated,
)

THIS_CPU = isa_family(platform.machine(), cpu_isa())


def for_this_cpu(**params: object) -> OrtInt8:
    """The pass as the sweep runs it on this machine: `isa = "auto"` resolved."""
    (p,) = for_cpu([make_pass("ort_int8", **params)], platform.machine(), cpu_isa())
    assert isinstance(p, OrtInt8)
    return p


def weight_ranges(model: onnx.ModelProto) -> set[int]:
    """max |q| of each int8 weight tensor (per-channel symmetric: every channel's largest
    weight lands on the top code, 127, or 64 with 7-bit weights)."""
    weights = {n.input[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    return {
        int(np.abs(onnx.numpy_helper.to_array(t)).max())
        for t in model.graph.initializer
        if t.name in weights and t.data_type == onnx.TensorProto.INT8 and len(t.dims) > 1
    }


def test_static_qdq_is_small_and_close(capsys: pytest.CaptureFixture[str]) -> None:
    model = conv_net()
    out, notes = apply_chain(model, [for_this_cpu()], ctx_for(model, 32))
    assert onnx_size(out).file_bytes <= 0.35 * onnx_size(model).file_bytes
    x = inputs_for(model)
    assert rel_err(run(out, x), run(model, x)) < 0.1
    # ORT's int8 kernels on this CPU compute exactly the quantized arithmetic: no saturation.
    assert rel_err(run(out, x), run_simulated(out, x)) < 1e-3
    assert notes[0]["isa"] == THIS_CPU
    assert notes[0]["reduce_range"] is FAMILIES[THIS_CPU].reduce_range
    assert weight_ranges(out) == {64 if notes[0]["reduce_range"] else 127}
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


@pytest.mark.parametrize("reduce_range", [False, True])
def test_either_weight_range_is_accurate_in_the_quantized_arithmetic(reduce_range: bool) -> None:
    """8-bit and 7-bit weights both meet the limit on float kernels (any CPU); which one the
    int8 kernels reproduce depends on the CPU, hence the choice per ISA."""
    model = conv_net()
    out, notes = apply_chain(model, [for_this_cpu(reduce_range=reduce_range)], ctx_for(model, 32))
    x = inputs_for(model)
    assert rel_err(run_simulated(out, x), run(model, x)) < 0.1
    assert weight_ranges(out) == {64 if reduce_range else 127}
    assert notes[0]["reduce_range"] is reduce_range
    forced = reduce_range is not FAMILIES[THIS_CPU].reduce_range
    assert ("forced" in notes[0]["why"]) is forced
    if reduce_range or not FAMILIES[THIS_CPU].reduce_range:  # 7-bit is exact on every kernel
        assert rel_err(run(out, x), run_simulated(out, x)) < 1e-3


def test_dynamic_needs_no_calibration() -> None:
    model = mlp()
    out, notes = apply_chain(model, [for_this_cpu(mode="dynamic")], PassContext())
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
        ({"isa": "avx"}, "isa", "choose from: auto, vnni, avx512, avx2, sse, arm64, any"),
        ({"isa": "vnn"}, "isa", "did you mean 'vnni'"),
        ({"reduce_range": "auto"}, "reduce_range", "must be true or false, got 'auto'"),
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


def test_spec_keeps_old_keys_and_names_a_target_or_forced_range() -> None:
    assert "isa" not in OrtInt8().spec() and "reduce_range" not in OrtInt8().spec()
    forced = OrtInt8.from_params({"isa": "avx2", "reduce_range": False})
    assert forced.spec()["isa"] == "avx2" and forced.spec()["reduce_range"] is False
    assert forced.label() == "ort-int8 static 8-bit for avx2"
    assert OrtInt8(reduce_range=True).label() == "ort-int8 static 7-bit"


@pytest.mark.parametrize(
    ("arch", "flags", "isa", "reduce_range"),
    [
        ("x86_64", ["avx2", "fma"], "avx2", True),  # the AMD Zen 3
        ("x86_64", ["avx2", "avx512f", "avx512bw", "avx512_vnni"], "vnni", False),
        ("aarch64", ["asimd", "asimddp"], "arm64", False),
    ],
)
def test_auto_resolves_to_the_cpu_that_runs_the_model(
    arch: str, flags: list[str], isa: str, reduce_range: bool
) -> None:
    (p,) = for_cpu([OrtInt8(mode="dynamic")], arch, flags)
    assert p == OrtInt8(mode="dynamic", isa=isa) and p.choice().reduce_range is reduce_range
    (kept,) = for_cpu([OrtInt8(isa="avx2")], "aarch64", ["asimd"])  # a forced target stays
    assert kept.isa == "avx2"


def test_unresolved_auto_takes_the_range_exact_on_any_cpu() -> None:
    model = mlp()
    _, notes = apply_chain(model, [OrtInt8(mode="dynamic")], PassContext())
    assert notes[0]["isa"] == "any" and notes[0]["reduce_range"] is True
    assert notes[0]["weights"] == "int8 in 7 bits (reduce_range)"
