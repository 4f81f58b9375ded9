"""Weight-only quantization and float16 storage: sizes, closeness, layout, parameters."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, numpy_helper

from harness.compress import apply_chain
from harness.compress.base import PassContext
from harness.compress.graph import attr
from harness.compress.quantize import (
    Float16,
    Quantize,
    dequantize_array,
    quantize_array,
    storage,
)
from harness.errors import ParamError
from harness.measure.size import onnx_size
from tests.helpers.graphs import (
    conv_net,
    ctx_for,
    gemm_net,
    initializer,
    inputs_for,
    make_pass,
    mlp,
    nodes_of,
    rel_err,
    run,
)


def quantized(model, **params):  # noqa: ANN001, ANN201
    out, notes = apply_chain(model, [make_pass("quantize", **params)], ctx_for(model))
    return out, notes[0]


def test_int8_is_a_third_of_the_file_and_close() -> None:
    model = conv_net()
    out, notes = quantized(model, bits=8)
    assert onnx_size(out).file_bytes <= 0.35 * onnx_size(model).file_bytes
    x = inputs_for(model)
    assert rel_err(run(out, x), run(model, x)) < 0.03
    assert notes["storage"] == "int8" and notes["levels"] == 256 and notes["tensors"] == 4
    assert "opset" not in notes  # per-channel int8 runs at the model's opset 17
    for name in ("c1.w", "c2.w", "fc1.w", "fc2.w"):
        assert initializer(out, f"{name}_quantized").data_type == TensorProto.INT8
    assert initializer(out, "c1.b").data_type == TensorProto.FLOAT  # biases stay float


def test_two_passes_limited_to_conv_and_dense_layers_make_a_mixed_precision_model() -> None:
    model = conv_net()
    chain = [
        make_pass("quantize", bits=8, layers="conv"),
        make_pass("quantize", bits=4, layers="dense"),
    ]
    out, notes = apply_chain(model, chain, ctx_for(model))
    assert sorted(notes[0]["layers"]) == ["conv_c1", "conv_c2"]
    assert notes[0]["skipped"]["gemm_h"] == "not selected (layers = conv)"
    assert sorted(notes[1]["layers"]) == ["gemm_h", "gemm_output"]
    for name in ("c1.w", "c2.w"):
        assert initializer(out, f"{name}_quantized").data_type == TensorProto.INT8
    for name in ("fc1.w", "fc2.w"):
        assert initializer(out, f"{name}_quantized").data_type == TensorProto.INT4
    int8, _ = quantized(model, bits=8)
    int4, _ = quantized(model, bits=4)
    assert onnx_size(int4).file_bytes < onnx_size(out).file_bytes < onnx_size(int8).file_bytes
    x = inputs_for(model)
    assert rel_err(run(out, x), run(model, x)) < 0.3


def test_int4_is_a_quarter_of_the_file_and_bumps_the_opset_to_21() -> None:
    model = conv_net()
    out, notes = quantized(model, bits=4)
    assert onnx_size(out).file_bytes <= 0.25 * onnx_size(model).file_bytes
    assert notes["opset"] == {"from": 17, "to": 21} and notes["storage"] == "int4"
    assert out.opset_import[0].version == 21 and out.ir_version >= 10
    assert initializer(out, "fc1.w_quantized").data_type == TensorProto.INT4
    q = numpy_helper.to_array(initializer(out, "fc1.w_quantized")).astype(np.int64)
    assert q.min() >= -7 and q.max() <= 7
    x = inputs_for(model)
    assert rel_err(run(out, x), run(model, x)) < 0.3
    assert onnx_size(out).params == onnx_size(model).params  # int4 counted per element


def test_affine_int4_uses_uint4_with_zero_points() -> None:
    out, notes = quantized(mlp(), bits=4, symmetric=False)
    assert notes["storage"] == "uint4" and notes["range"] == [0, 15]
    assert initializer(out, "w1_zero_point").data_type == TensorProto.UINT4


@pytest.mark.parametrize("bits", [5, 6, 7])
def test_5_to_7_bits_use_that_many_levels_in_int8(bits: int) -> None:
    out, notes = quantized(conv_net(), bits=bits)
    assert notes["storage"] == "int8" and notes["levels"] == 2**bits
    q = numpy_helper.to_array(initializer(out, "fc1.w_quantized"))
    assert q.dtype == np.int8 and np.abs(q).max() == 2 ** (bits - 1) - 1


def test_per_channel_axis_is_the_stored_output_channel_axis() -> None:
    # Conv and Gemm(transB=1) store (out, in): axis 0; MatMul and Gemm(transB=0) store (in, out): axis 1.
    for model, weight, axis, channels in [
        (conv_net(), "c2.w", 0, 16),
        (conv_net(), "fc1.w", 0, 32),
        (mlp(), "w1", 1, 48),
        (gemm_net(trans_b=0), "w1", 1, 24),
        (gemm_net(trans_b=1), "w1", 0, 24),
    ]:
        out, _ = quantized(model, bits=8)
        dq = next(n for n in nodes_of(out, "DequantizeLinear") if n.output[0] == weight)
        assert attr(dq, "axis") == axis
        assert tuple(initializer(out, dq.input[1]).dims) == (channels,)
        x = inputs_for(model)
        assert rel_err(run(out, x), run(model, x)) < 0.03


def test_per_tensor_has_one_scale_and_no_axis() -> None:
    out, notes = quantized(gemm_net(trans_b=0), bits=8, per_channel=False)
    dq = nodes_of(out, "DequantizeLinear")[0]
    assert attr(dq, "axis") is None and tuple(initializer(out, dq.input[1]).dims) == ()
    assert notes["layers"]["gemm_h"]["axis"] is None


def test_quantize_array_round_trip_error_is_at_most_half_a_step() -> None:
    w = np.random.default_rng(0).standard_normal((6, 20)).astype(np.float32)
    w[2] = 0.0  # an all-zero (pruned) channel
    for symmetric in (True, False):
        q, scale, zp = quantize_array(w, 8, 0, symmetric)
        restored = dequantize_array(q, scale, zp, 0)
        assert np.all(np.abs(restored - w) <= scale[:, None] / 2 + 1e-7)
        assert np.all(restored[2] == 0.0)


def test_pruned_zeros_stay_exact_zeros_after_quantization() -> None:
    model = conv_net()
    pruned, _ = apply_chain(model, [make_pass("prune", ratio=0.6)], ctx_for(model))
    out, _ = apply_chain(pruned, [make_pass("quantize", bits=4, symmetric=False)], ctx_for(model))
    # Affine zero points put 0.0 exactly on the grid: no pruned weight comes back nonzero.
    assert onnx_size(out).nonzeros <= onnx_size(pruned).nonzeros < 0.41 * onnx_size(model).nonzeros


def test_float16_halves_the_file_and_stays_within_1e_3() -> None:
    model = conv_net()
    out, notes = apply_chain(model, [make_pass("float16")], ctx_for(model))
    assert onnx_size(out).file_bytes <= 0.52 * onnx_size(model).file_bytes
    assert initializer(out, "fc1.w_fp16").data_type == TensorProto.FLOAT16
    assert len(nodes_of(out, "Cast")) == 4 and notes[0]["tensors"] == 4
    x = inputs_for(model)
    assert rel_err(run(out, x), run(model, x)) < 1e-3


def test_apply_never_mutates_its_input() -> None:
    model = conv_net()
    before = model.SerializeToString()
    for p in (Quantize(bits=4), Quantize(bits=8, symmetric=False), Float16()):
        p.apply(model, PassContext())
    assert model.SerializeToString() == before


@pytest.mark.parametrize(
    ("params", "key", "message"),
    [
        ({"bits": 9}, "bits", "must be an integer in [2, 8], got 9"),
        ({"bits": 1}, "bits", "must be an integer in [2, 8], got 1"),
        ({"bits": "8"}, "bits", "must be an integer in [2, 8], got '8'"),
        ({"bits": True}, "bits", "must be an integer"),
        ({}, "bits", "is required"),
        ({"bitz": 8}, "bitz", "unknown key (did you mean 'bits'?)"),
        ({"bits": 8, "per_channel": "yes"}, "per_channel", "must be true or false"),
        (
            {"bits": 8, "layers": "fc"},
            "layers",
            "'fc' is not allowed; choose from: all, dense, conv",
        ),
    ],
)
def test_bad_params_are_param_errors(params: dict, key: str, message: str) -> None:
    with pytest.raises(ParamError) as info:
        Quantize.from_params(params)
    assert info.value.key == key and message in info.value.message


def test_float16_takes_no_params() -> None:
    with pytest.raises(ParamError, match="unknown key"):
        Float16.from_params({"bits": 16})


def test_spec_and_label() -> None:
    q = Quantize.from_params({"bits": 4, "per_channel": False})
    assert q.spec() == {"pass": "quantize", "bits": 4, "per_channel": False, "symmetric": True}
    assert q.label() == "int4 per-tensor"
    assert Quantize(bits=8).label() == "int8" and Float16().label() == "fp16"
    dense = Quantize.from_params({"bits": 4, "layers": "dense"})
    assert dense.spec()["layers"] == "dense" and dense.label() == "int4 dense"
    assert "layers" not in Quantize(bits=4).spec()  # the default keeps older cache keys
    assert Float16().spec() == {"pass": "float16"}


def test_notes_say_onnx_runtime_dequantizes_every_call_and_how_to_avoid_it() -> None:
    model = conv_net()
    _, notes = apply_chain(model, [make_pass("quantize", bits=4)], ctx_for(model))
    assert "dequantizes these weights on every call" in notes[0]["runtime"]
    assert "fold_dequantize = true" in notes[0]["runtime"]


# ---- exact values by hand (powers of two keep every step exact) -----------------------------


@pytest.mark.parametrize(
    ("bits", "symmetric", "name", "lo", "hi"),
    [(2, True, "int4", -1, 1), (4, True, "int4", -7, 7), (5, True, "int8", -15, 15),
     (8, True, "int8", -127, 127), (2, False, "uint4", 0, 3), (4, False, "uint4", 0, 15),
     (5, False, "uint8", 0, 31), (8, False, "uint8", 0, 255)],
)  # fmt: skip
def test_storage_types_and_ranges(bits: int, symmetric: bool, name: str, lo: int, hi: int) -> None:
    st = storage(bits, symmetric)
    assert (st.name, st.lo, st.hi) == (name, lo, hi)
    assert np.dtype(st.dtype).name == name


def test_symmetric_per_tensor_by_hand() -> None:
    w = np.array([[-127 / 64, 0.5], [0.0, 0.2578125]], np.float32)  # max |w| = 127/64
    q, scale, zp = quantize_array(w, 8, None, symmetric=True)
    assert scale.shape == () and scale == np.float32(1 / 64) and zp is None
    assert q.dtype == np.int64 and q.tolist() == [[-127, 32], [0, 16]]  # 16.5 rounds to even
    back = dequantize_array(q, scale, zp, None)
    assert back.dtype == np.float32 and back.tolist() == [[-127 / 64, 0.5], [0.0, 0.25]]


def test_affine_per_channel_by_hand() -> None:
    # Row 0 spans [-1, 2] in 15 steps of 0.2, zero point 5; row 1 [0, 1.5] (the range
    # always holds 0) in steps of 0.1, zero point 0; an all-zero row gets scale 1.
    w = np.array([[-1.0, 2.0], [0.5, 1.5], [0.0, 0.0]], np.float32)
    q, scale, zp = quantize_array(w, 4, 0, symmetric=False)
    assert scale.shape == (3,) and scale.tolist() == pytest.approx([0.2, 0.1, 1.0])
    assert zp.tolist() == [5, 0, 0] and zp.dtype == np.int64
    assert q.tolist() == [[0, 15], [5, 15], [0, 0]]
    back = dequantize_array(q, scale, zp, 0)
    np.testing.assert_allclose(back, [[-1.0, 2.0], [0.5, 1.5], [0.0, 0.0]], atol=1e-6)


def test_affine_range_is_widened_to_hold_zero_on_both_sides() -> None:
    positive = np.array([[2.0, 255 / 64]], np.float32)  # lo becomes 0, not 2: step 1/64
    q, scale, zp = quantize_array(positive, 8, None, symmetric=False)
    assert scale == np.float32(1 / 64) and zp == 0 and q.tolist() == [[128, 255]]
    negative = np.array([[-255 / 64, -2.0]], np.float32)  # hi becomes 0, not -2
    q, scale, zp = quantize_array(negative, 8, None, symmetric=False)
    assert scale == np.float32(1 / 64) and zp == 255 and q.tolist() == [[0, 127]]


def test_symmetric_per_channel_on_the_last_axis_by_hand() -> None:
    w = np.array([[0.75, -0.375], [-0.375, 0.1875]], np.float32)  # column maxima 3/4, 3/8
    q, scale, zp = quantize_array(w, 3, 1, symmetric=True)  # levels -3..3
    assert scale.tolist() == [0.25, 0.125] and zp is None
    assert q.tolist() == [[3, -3], [-2, 2]]  # -1.5 and 1.5 round to even
    back = dequantize_array(q, scale, None, 1)
    assert back.tolist() == [[0.75, -0.375], [-0.5, 0.25]]


def test_defaults_and_every_label() -> None:
    q = Quantize.from_params({"bits": 6})
    assert (q.per_channel, q.symmetric, q.layers) == (True, True, "all")
    assert Quantize(bits=8, symmetric=False).label() == "int8 affine"
    assert Quantize(bits=2, per_channel=False, symmetric=False, layers="conv").label() == (
        "int2 per-tensor affine conv"
    )
    assert Quantize(bits=8, symmetric=False).spec() == {
        "pass": "quantize", "bits": 8, "per_channel": True, "symmetric": False,
    }  # fmt: skip


def test_float16_counts_every_weight_clipped_to_its_range() -> None:
    model = gemm_net(trans_b=1)
    for name, big in (("w1", [1e5, -7e4, 65504.0]), ("w2", [1e6])):
        w = numpy_helper.to_array(initializer(model, name)).copy()
        w.flat[: len(big)] = big  # 65504 itself fits
        initializer(model, name).CopyFrom(numpy_helper.from_array(w, name))
    out, notes = apply_chain(model, [Float16()], ctx_for(model))
    assert notes[0]["clipped"] == 3 and notes[0]["tensors"] == 2
    # What the candidate's page shows for the pass, exactly.
    assert notes[0] == {"pass": "float16", "storage": "float16", "tensors": 2,
                        "weights": ["w1", "w2"], "clipped": 3, "skipped": {}}  # fmt: skip
    assert np.isfinite(run(out, inputs_for(model))).all()


@pytest.mark.parametrize(
    ("symmetric", "error"),
    # Symmetric int8, scale 1/127: -0.5 is -63.5 steps, stored as -64: off by 64/127 - 0.5.
    # Affine uint8 over [-0.5, 1], scale 1.5/255, zero point 85: 0.301 is stored as 51 steps,
    # read back as 0.300: off by 0.001.
    [(True, 64 / 127 - 0.5), (False, 0.001)],
)
def test_the_largest_weight_error_a_candidate_page_shows_by_hand(
    symmetric: bool, error: float
) -> None:
    model = gemm_net(trans_b=1)
    w = np.zeros((24, 40), np.float32)
    w[0, :3] = [1.0, -0.5, 0.301]
    initializer(model, "w1").CopyFrom(numpy_helper.from_array(w, "w1"))
    _, notes = apply_chain(model, [Quantize(bits=8, per_channel=False, symmetric=symmetric)],
                           ctx_for(model))  # fmt: skip
    (first,) = [v for v in notes[0]["layers"].values() if v["weight"] == "w1"]
    assert first == {"weight": "w1", "axis": None, "max_abs_error": pytest.approx(error, rel=1e-3)}


def test_a_scope_that_selects_no_layer_returns_the_model_unchanged_and_says_why() -> None:
    model = mlp()
    out, notes = quantized(model, bits=8, layers="conv")
    assert out.SerializeToString() == model.SerializeToString()
    left = "not selected (layers = conv)"
    assert notes == {
        "pass": "quantize", "bits": 8, "storage": "int8", "levels": 256, "range": [-127, 127],
        "per_channel": True, "symmetric": True, "tensors": 0,
        "skipped": {"matmul_m1": left, "matmul_m2": left},
        "unchanged": f"int8 conv changed nothing: 2 layer(s) left whole ({left})",
    }  # fmt: skip
