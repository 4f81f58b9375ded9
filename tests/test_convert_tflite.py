"""onnx_to_tflite: every op family runs on LiteRT and matches ONNX Runtime on the same input.

Each graph is built with onnx.helper (seeded random weights) or exported from PyTorch, run
in ONNX Runtime and in LiteRT (XNNPACK and the builtin kernels) at batch 1 and batch 7.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import pytest
from ai_edge_litert import schema_py_generated as fb
from ai_edge_litert.interpreter import Interpreter
from onnx import TensorProto, helper

from harness.convert.tflite import onnx_to_tflite, supported_ops
from harness.errors import ConversionError, UnsupportedOpError
from tests.helpers.litert import (
    check,
    make_model,
    node,
    op_names,
    rng,
    tensor_types,
    weights,
)

# ---- the file itself -----------------------------------------------------------------------


def test_header_signature_and_batch_signature() -> None:
    model = make_model([node("Relu", ["x"])], (1, 3, 4, 4))
    data = onnx_to_tflite(model)
    assert data[4:8] == b"TFL3"
    parsed = fb.ModelT.InitFromPackedBuf(data, 0)
    assert parsed.version == 3
    assert parsed.description
    interpreter = Interpreter(model_content=data)
    detail = interpreter.get_input_details()[0]
    assert detail["name"] == "x"
    assert list(detail["shape"]) == [1, 3, 4, 4]
    assert list(detail["shape_signature"]) == [-1, 3, 4, 4]
    assert interpreter.get_output_details()[0]["name"] == "y"
    assert list(interpreter.get_signature_list()) == ["serving_default"]


# ---- convolutions ------------------------------------------------------------------------

CONV_CASES = {
    "pads": dict(pads=[1, 1, 1, 1]),
    "stride2": dict(pads=[1, 1, 1, 1], strides=[2, 2]),
    "asymmetric_pads": dict(pads=[0, 1, 2, 1], strides=[2, 1]),
    "same_upper": dict(auto_pad="SAME_UPPER", strides=[2, 2]),
    "same_lower": dict(auto_pad="SAME_LOWER", strides=[2, 2]),
    "valid": dict(),
    "dilation": dict(pads=[2, 2, 2, 2], dilations=[2, 2]),
}


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv(case: str, bias: bool) -> None:
    inits = {"w": weights(6, 4, 3, 3)}
    if bias:
        inits["b"] = weights(6, seed=1)
    inputs = ["x", "w", "b"] if bias else ["x", "w"]
    model = make_model([node("Conv", inputs, **CONV_CASES[case])], (1, 4, 9, 8), inits)
    data = check(model, (1, 4, 9, 8))
    assert op_names(data).count("CONV_2D") == 1
    if case == "asymmetric_pads":
        assert "PAD" in op_names(data)


@pytest.mark.parametrize("multiplier", [1, 2])
def test_depthwise_conv(multiplier: int) -> None:
    inits = {"w": weights(4 * multiplier, 1, 3, 3), "b": weights(4 * multiplier, seed=1)}
    conv = node("Conv", ["x", "w", "b"], group=4, pads=[1, 1, 1, 1], strides=[2, 2])
    data = check(make_model([conv], (1, 4, 7, 7), inits), (1, 4, 7, 7))
    assert "DEPTHWISE_CONV_2D" in op_names(data)


def test_grouped_conv() -> None:
    inits = {"w": weights(6, 2, 3, 3), "b": weights(6, seed=1)}
    conv = node("Conv", ["x", "w", "b"], group=2, pads=[1, 1, 1, 1])
    check(make_model([conv], (1, 4, 6, 6), inits), (1, 4, 6, 6))


def test_conv_relu_is_fused() -> None:
    nodes = [node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), node("Relu", ["c"])]
    data = check(make_model(nodes, (1, 3, 5, 5), {"w": weights(4, 3, 3, 3)}), (1, 3, 5, 5))
    assert "RELU" not in op_names(data)


# ---- dense layers ------------------------------------------------------------------------


@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm(trans_b: int) -> None:
    w = weights(5, 12) if trans_b else weights(12, 5)
    gemm = node("Gemm", ["x", "w", "c"], transB=trans_b, alpha=0.7, beta=1.5)
    data = check(make_model([gemm], (1, 12), {"w": w, "c": weights(5, seed=2)}), (1, 12))
    assert op_names(data) == ["FULLY_CONNECTED"]


def test_gemm_without_bias() -> None:
    check(make_model([node("Gemm", ["x", "w"], transB=1)], (1, 6), {"w": weights(3, 6)}), (1, 6))


def test_matmul_add_becomes_one_fully_connected() -> None:
    nodes = [node("MatMul", ["x", "w"], ["m"]), node("Add", ["m", "b"])]
    inits = {"w": weights(10, 4), "b": weights(4, seed=3)}
    data = check(make_model(nodes, (1, 10), inits), (1, 10))
    assert op_names(data) == ["FULLY_CONNECTED"]


def test_matmul_alone_and_on_rank_3() -> None:
    check(make_model([node("MatMul", ["x", "w"])], (1, 10), {"w": weights(10, 4)}), (1, 10))
    check(make_model([node("MatMul", ["x", "w"])], (1, 3, 10), {"w": weights(10, 4)}), (1, 3, 10))


# ---- activations -------------------------------------------------------------------------


def clip(lo: float | None, hi: float | None) -> tuple[onnx.NodeProto, dict[str, np.ndarray]]:
    inits, inputs = {}, ["x"]
    for name, bound in (("lo", lo), ("hi", hi)):
        if bound is None:
            inputs.append("")
        else:
            inits[name] = np.array(bound, np.float32)
            inputs.append(name)
    return node("Clip", inputs), inits


ACTIVATIONS = {
    "relu": (node("Relu", ["x"]), {}, "RELU"),
    "relu6": (*clip(0.0, 6.0), "RELU6"),
    "relu_0_to_1": (*clip(0.0, 1.0), "RELU_0_TO_1"),
    "relu_n1_to_1": (*clip(-1.0, 1.0), "RELU_N1_TO_1"),
    "clip_any": (*clip(-0.3, 0.8), "MINIMUM"),
    "clip_min_only": (*clip(0.25, None), "MAXIMUM"),
    "sigmoid": (node("Sigmoid", ["x"]), {}, "LOGISTIC"),
    "tanh": (node("Tanh", ["x"]), {}, "TANH"),
    "leaky_relu": (node("LeakyRelu", ["x"], alpha=0.2), {}, "LEAKY_RELU"),
    "hard_swish": (node("HardSwish", ["x"]), {}, "HARD_SWISH"),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("shape", [(1, 10), (1, 3, 4, 5)])
def test_activation(name: str, shape: tuple[int, ...]) -> None:
    op, inits, expected = ACTIVATIONS[name]
    data = check(make_model([op], shape, inits), shape)
    assert expected in op_names(data)


def test_activation_on_nhwc_feature_map() -> None:
    nodes = [node("Conv", ["x", "w"], ["c"]), node("Sigmoid", ["c"], ["s"]), node("Relu", ["s"])]
    check(make_model(nodes, (1, 2, 5, 5), {"w": weights(3, 2, 1, 1)}), (1, 2, 5, 5))


# ---- pooling -----------------------------------------------------------------------------

POOLS = {
    "max_2x2": node("MaxPool", ["x"], kernel_shape=[2, 2], strides=[2, 2]),
    "max_same": node("MaxPool", ["x"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    "max_asymmetric": node(
        "MaxPool", ["x"], kernel_shape=[3, 3], pads=[0, 0, 2, 1], strides=[2, 2]
    ),
    "avg_2x2": node("AveragePool", ["x"], kernel_shape=[2, 2], strides=[2, 2]),
    "avg_same_exclude_pad": node("AveragePool", ["x"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    "avg_include_pad": node(
        "AveragePool", ["x"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1
    ),
    "global_avg": node("GlobalAveragePool", ["x"]),
    "global_max": node("GlobalMaxPool", ["x"]),
}


@pytest.mark.parametrize("name", POOLS)
def test_pool(name: str) -> None:
    nodes = [node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), POOLS[name]]
    nodes[1].input[0] = "c"
    check(make_model(nodes, (1, 2, 8, 7), {"w": weights(3, 2, 3, 3)}), (1, 2, 8, 7))


def test_average_pool_with_ceil_mode_that_changes_the_size_is_refused() -> None:
    pool = node("AveragePool", ["x"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)
    with pytest.raises(UnsupportedOpError, match="ceil_mode"):
        onnx_to_tflite(make_model([pool], (1, 2, 7, 7)))


def test_reduce_mean_over_spatial_axes() -> None:
    nodes = [
        node("Conv", ["x", "w"], ["c"]),
        node("ReduceMean", ["c"], axes=[2, 3], keepdims=0),
    ]
    check(make_model(nodes, (1, 2, 5, 6), {"w": weights(4, 2, 1, 1)}), (1, 2, 5, 6))


# ---- reshapes ----------------------------------------------------------------------------


def conv_then(*nodes: onnx.NodeProto, inits: dict | None = None) -> onnx.ModelProto:
    """A 3-channel conv (NHWC inside) on (N, 2, 4, 5), followed by `nodes` reading `c`."""
    conv = node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1])
    return make_model([conv, *nodes], (1, 2, 4, 5), {"w": weights(3, 2, 3, 3), **(inits or {})})


def test_flatten_after_conv_keeps_nchw_order() -> None:
    model = conv_then(
        node("Flatten", ["c"], ["f"]),
        node("Gemm", ["f", "fc"], transB=1),
        inits={"fc": weights(7, 60)},
    )
    check(model, (1, 2, 4, 5))


def test_flatten_after_global_pool_needs_no_transpose() -> None:
    model = conv_then(node("GlobalAveragePool", ["c"], ["g"]), node("Flatten", ["g"]))
    data = check(model, (1, 2, 4, 5))
    assert op_names(data).count("TRANSPOSE") == 1  # only the input's


@pytest.mark.parametrize("target", [[0, -1], [-1, 60], [0, 3, 20], [0, 5, 4, 3]])
def test_reshape_after_conv(target: list[int]) -> None:
    model = conv_then(node("Reshape", ["c", "shape"]), inits={"shape": np.array(target, np.int64)})
    check(model, (1, 2, 4, 5))


def test_reshape_from_shape_arithmetic_like_torch_view() -> None:
    nodes = [
        node("Shape", ["c"], ["s"]),
        node("Gather", ["s", "zero"], ["n"], axis=0),
        node("Unsqueeze", ["n", "axes"], ["n1"]),
        node("Concat", ["n1", "minus_one"], ["target"], axis=0),
        node("Reshape", ["c", "target"]),
    ]
    inits = {
        "zero": np.array(0, np.int64),
        "axes": np.array([0], np.int64),
        "minus_one": np.array([-1], np.int64),
    }
    check(conv_then(*nodes, inits=inits), (1, 2, 4, 5))


def test_shape_arithmetic_used_as_data_is_refused() -> None:
    nodes = [
        node("Shape", ["x"], ["s"]),
        node("Gather", ["s", "zero"], ["n"], axis=0),
        node("Cast", ["n"], ["nf"], to=TensorProto.FLOAT),
        node("Mul", ["x", "nf"]),
    ]
    model = make_model(nodes, (1, 4), {"zero": np.array(0, np.int64)})
    with pytest.raises(UnsupportedOpError, match="batch size"):
        onnx_to_tflite(model)


def test_transpose_squeeze_unsqueeze() -> None:
    nodes = [
        node("Transpose", ["c"], ["t"], perm=[0, 2, 3, 1]),
        node("Unsqueeze", ["t", "axes"], ["u"]),
        node("Squeeze", ["u", "axes"], ["s"]),
        node("Relu", ["s"]),
    ]
    check(conv_then(*nodes, inits={"axes": np.array([1], np.int64)}), (1, 2, 4, 5))


def test_pad_op() -> None:
    nodes = [node("Pad", ["c", "pads", "value"])]
    inits = {
        "pads": np.array([0, 0, 1, 2, 0, 1, 0, 3], np.int64),
        "value": np.array(0.5, np.float32),
    }
    check(conv_then(*nodes, inits=inits), (1, 2, 4, 5))


# ---- elementwise, concat, softmax --------------------------------------------------------


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("const_shape", [(3, 1, 1), (), (1, 3, 4, 5), (5,)])
def test_binary_with_broadcast_constant(op: str, const_shape: tuple[int, ...]) -> None:
    k = np.abs(weights(*const_shape, seed=4)) + 0.5
    check(conv_then(node(op, ["c", "k"]), inits={"k": k}), (1, 2, 4, 5))
    # Constant first (order matters for Sub/Div); dividing by small values needs rtol.
    nodes = [node("Sigmoid", ["c"], ["s"]), node(op, ["k", "s"])]
    check(conv_then(*nodes, inits={"k": k}), (1, 2, 4, 5), rtol=1e-5)


def test_binary_on_two_feature_maps_and_on_2d() -> None:
    nodes = [
        node("Conv", ["x", "w2"], ["d"], pads=[1, 1, 1, 1]),
        node("Add", ["c", "d"], ["s"]),  # a residual add, both NHWC
        node("Mul", ["s", "c"]),
    ]
    check(conv_then(*nodes, inits={"w2": weights(3, 2, 3, 3, seed=5)}), (1, 2, 4, 5))
    check(make_model([node("Mul", ["x", "k"])], (1, 6), {"k": weights(6)}), (1, 6))


def test_concat_on_channel_axis() -> None:
    nodes = [
        node("Conv", ["x", "w2"], ["d"], pads=[1, 1, 1, 1]),
        node("Concat", ["c", "d", "x"], axis=1),
    ]
    data = check(conv_then(*nodes, inits={"w2": weights(4, 2, 3, 3, seed=6)}), (1, 2, 4, 5))
    assert "CONCATENATION" in op_names(data)


def test_concat_on_2d_and_with_a_constant() -> None:
    check(
        make_model(
            [node("Concat", ["x", "k"], axis=1)], (1, 4), {"k": np.ones((1, 3), np.float32)}
        ),
        (1, 4),
        batches=(1,),
    )
    check(make_model([node("Concat", ["x", "x"], axis=-1)], (1, 4)), (1, 4))


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_softmax(op: str) -> None:
    check(make_model([node(op, ["x"])], (1, 10)), (1, 10))
    check(conv_then(node(op, ["c"], axis=1)), (1, 2, 4, 5))
    check(make_model([node(op, ["x"], axis=1)], (1, 4, 3)), (1, 4, 3))


# ---- batch norm, identity, dropout -------------------------------------------------------


def bn_inits(channels: int, seed: int = 7, negative: bool = False) -> dict[str, np.ndarray]:
    r = rng(seed)
    scale = r.uniform(0.5, 1.5, channels).astype(np.float32)
    if negative:
        scale[0] = -scale[0]
    return {
        "gamma": scale,
        "beta": r.normal(size=channels).astype(np.float32),
        "mean": r.normal(size=channels).astype(np.float32),
        "var": r.uniform(0.5, 2.0, channels).astype(np.float32),
    }


def bn(x: str, y: str = "y") -> onnx.NodeProto:
    return node("BatchNormalization", [x, "gamma", "beta", "mean", "var"], [y], epsilon=1e-3)


def test_batchnorm_after_conv_is_folded() -> None:
    data = check(conv_then(bn("c"), inits=bn_inits(3)), (1, 2, 4, 5))
    assert op_names(data) == ["TRANSPOSE", "CONV_2D", "TRANSPOSE"]


def test_batchnorm_standalone() -> None:
    check(make_model([bn("x")], (1, 3, 4, 4), bn_inits(3)), (1, 3, 4, 4))
    check(make_model([bn("x")], (1, 5), bn_inits(5)), (1, 5))
    nodes = [node("Relu", ["c"], ["r"]), bn("r")]
    check(conv_then(*nodes, inits=bn_inits(3)), (1, 2, 4, 5))


def test_identity_and_dropout() -> None:
    nodes = [
        node("Identity", ["x"], ["i"]),
        node("Dropout", ["i"], ["d"], ratio=0.5),
        node("Relu", ["d"]),
    ]
    check(make_model(nodes, (1, 6), opset=11), (1, 6))


# ---- quantized and float16 weights -------------------------------------------------------


def int8_weight(shape: tuple[int, ...], axis: int | None, *, unsigned: bool = False, seed: int = 8):
    """(q, scale, zero_point) like a compression pass writes them."""
    r = rng(seed)
    channels = 1 if axis is None else shape[axis]
    dtype = np.uint8 if unsigned else np.int8
    info = np.iinfo(dtype)
    q = r.integers(info.min, info.max + 1, size=shape).astype(dtype)
    scale = r.uniform(0.002, 0.02, channels).astype(np.float32)
    zp = r.integers(
        info.min // 2 + 64 if unsigned else -10, 140 if unsigned else 10, channels
    ).astype(dtype)
    if axis is None:
        return q, scale.reshape(()), zp.reshape(())
    return q, scale, zp


def dq(name: str, axis: int | None) -> onnx.NodeProto:
    kwargs = {} if axis is None else {"axis": axis}
    return node("DequantizeLinear", [f"{name}_q", f"{name}_scale", f"{name}_zp"], [name], **kwargs)


def quant_inits(name: str, qsz: tuple) -> dict[str, np.ndarray]:
    q, scale, zp = qsz
    return {f"{name}_q": q, f"{name}_scale": scale, f"{name}_zp": zp}


@pytest.mark.parametrize("unsigned", [False, True])
@pytest.mark.parametrize("axis", [0, None])
def test_int8_weights_conv(axis: int | None, unsigned: bool) -> None:
    inits = quant_inits("w", int8_weight((6, 4, 3, 3), axis, unsigned=unsigned))
    inits["b"] = weights(6, seed=1)
    nodes = [dq("w", axis), node("Conv", ["x", "w", "b"], pads=[1, 1, 1, 1])]
    data = check(make_model(nodes, (1, 4, 6, 6), inits), (1, 4, 6, 6), optimize=False)
    assert "INT8" in tensor_types(data) and "DEQUANTIZE" in op_names(data)
    float_data = onnx_to_tflite(
        make_model(
            [node("Conv", ["x", "w", "b"], pads=[1, 1, 1, 1])],
            (1, 4, 6, 6),
            {"w": weights(6, 4, 3, 3), "b": inits["b"]},
        )
    )
    assert len(data) < len(float_data)


def test_int8_weights_depthwise_and_folded_batchnorm() -> None:
    inits = {**quant_inits("w", int8_weight((4, 1, 3, 3), 0)), **bn_inits(4)}
    nodes = [dq("w", 0), node("Conv", ["x", "w"], ["c"], group=4, pads=[1, 1, 1, 1]), bn("c")]
    data = check(make_model(nodes, (1, 4, 5, 5), inits), (1, 4, 5, 5), optimize=False)
    assert "MUL" not in op_names(data) and "INT8" in tensor_types(data)


def test_int8_weights_with_negative_batchnorm_scale_falls_back_to_mul_add() -> None:
    inits = {**quant_inits("w", int8_weight((4, 2, 3, 3), 0)), **bn_inits(4, negative=True)}
    nodes = [dq("w", 0), node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), bn("c")]
    data = check(make_model(nodes, (1, 2, 5, 5), inits), (1, 2, 5, 5), optimize=False)
    assert "MUL" in op_names(data)


@pytest.mark.parametrize("axis", [0, None])
def test_int8_weights_gemm_and_matmul(axis: int | None) -> None:
    gemm_inits = quant_inits("w", int8_weight((5, 12), axis))
    gemm_model = make_model(
        [dq("w", axis), node("Gemm", ["x", "w", "b"], transB=1)],
        (1, 12),
        {**gemm_inits, "b": weights(5)},
    )
    check(gemm_model, (1, 12), optimize=False)
    mm_axis = None if axis is None else 1  # MatMul weights are [in, out]: per output column
    mm_inits = quant_inits("w", int8_weight((12, 5), mm_axis))
    mm_model = make_model([dq("w", mm_axis), node("MatMul", ["x", "w"])], (1, 12), mm_inits)
    data = check(mm_model, (1, 12), optimize=False)
    assert "INT8" in tensor_types(data)


def int4_tensor(
    name: str, shape: tuple[int, ...], unsigned: bool, seed: int = 9
) -> onnx.TensorProto:
    lo, hi = (0, 16) if unsigned else (-8, 8)
    values = rng(seed).integers(lo, hi, size=shape)
    dtype = TensorProto.UINT4 if unsigned else TensorProto.INT4
    return helper.make_tensor(name, dtype, shape, values.reshape(-1).tolist())


@pytest.mark.parametrize("unsigned", [False, True])
def test_int4_weights(unsigned: bool) -> None:
    zp_type = TensorProto.UINT4 if unsigned else TensorProto.INT4
    zps = [8, 7, 9, 6, 8, 10] if unsigned else [0, 1, -1, 2, 0, -2]
    inits = {
        "w_q": int4_tensor("w_q", (6, 3, 3, 3), unsigned),
        "w_scale": rng(10).uniform(0.02, 0.1, 6).astype(np.float32),
        "w_zp": helper.make_tensor("w_zp", zp_type, [6], zps),
        "fc_q": int4_tensor("fc_q", (4, 6 * 25), unsigned, seed=11),
        "fc_scale": np.array(0.01, np.float32),
        "fc_zp": helper.make_tensor("fc_zp", zp_type, [], [8 if unsigned else 0]),
    }
    nodes = [
        dq("w", 0),
        node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        node("Relu", ["c"], ["r"]),
        node("Flatten", ["r"], ["f"]),
        dq("fc", None),
        node("Gemm", ["f", "fc"], transB=1),
    ]
    data = check(make_model(nodes, (1, 3, 5, 5), inits, opset=21), (1, 3, 5, 5), optimize=False)
    assert "INT4" in tensor_types(data)


def test_float16_weights() -> None:
    inits = {
        "w16": weights(6, 4, 3, 3).astype(np.float16),
        "b": weights(6, seed=1),
        "fc16": weights(3, 6 * 16).astype(np.float16),
    }
    nodes = [
        node("Cast", ["w16"], ["w"], to=TensorProto.FLOAT),
        node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
        node("Flatten", ["c"], ["f"]),
        node("Cast", ["fc16"], ["fc"], to=TensorProto.FLOAT),
        node("Gemm", ["f", "fc"], transB=1),
    ]
    data = check(make_model(nodes, (1, 4, 8, 8), inits), (1, 4, 8, 8), optimize=False)
    assert "FLOAT16" in tensor_types(data) and "DEQUANTIZE" in op_names(data)


def test_qdq_activations_are_fake_quantized() -> None:
    scale = np.array(0.05, np.float32)
    nodes = [
        node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        node("QuantizeLinear", ["c", "s", "zp"], ["q"]),
        node("DequantizeLinear", ["q", "s", "zp"], ["d"]),
        node("Relu", ["d"]),
    ]
    for zp in (np.array(128, np.uint8), np.array(-3, np.int8), None):
        inits = {"w": weights(3, 2, 3, 3), "s": scale}
        if zp is None:  # no zero point: uint8 with zero point 0
            nodes[1].input[2] = nodes[2].input[2] = ""
        else:
            inits["zp"] = zp
        model = make_model(nodes, (1, 2, 5, 5), inits)
        data = check(model, (1, 2, 5, 5), atol=float(scale) + 1e-5, optimize=False)
        assert {"QUANTIZE", "DEQUANTIZE"} <= set(op_names(data))


# ---- refusals ----------------------------------------------------------------------------


def test_unsupported_op_is_named() -> None:
    assert "Einsum" not in supported_ops() and "Conv" in supported_ops()
    with pytest.raises(UnsupportedOpError, match=r"^unsupported on litert: Erf"):
        onnx_to_tflite(make_model([node("Erf", ["x"])], (1, 4)))


def test_non_constant_conv_weights_are_refused() -> None:
    nodes = [node("Relu", ["x"], ["w"]), node("Conv", ["x", "w"])]
    graph = make_model(nodes, (1, 1, 1, 1))
    with pytest.raises(UnsupportedOpError, match="unsupported on litert: Conv"):
        onnx_to_tflite(graph)


def test_custom_domain_and_dynamic_spatial_axes_are_refused() -> None:
    model = make_model([node("Relu", ["x"])], (1, 4))
    model.graph.node[0].domain = "com.microsoft"
    with pytest.raises(UnsupportedOpError, match="com.microsoft"):
        onnx_to_tflite(model)
    model = make_model([node("Relu", ["x"])], (1, 3, 4, 4))
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "H"
    with pytest.raises(ConversionError, match="only the batch"):
        onnx_to_tflite(model)


# ---- real PyTorch exports ----------------------------------------------------------------


def export(net, input_shape: tuple[int, ...]) -> onnx.ModelProto:  # noqa: ANN001 (torch module)
    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated and says so
        torch.onnx.export(
            net.eval(),
            (torch.randn(2, *input_shape[1:]),),
            buffer,
            dynamo=False,
            opset_version=17,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
    return onnx.load_from_string(buffer.getvalue())


def test_torch_cnn() -> None:
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 10),
    )
    data = check(export(net, (1, 1, 8, 8)), (1, 1, 8, 8))
    assert op_names(data).count("TRANSPOSE") == 2  # NCHW -> NHWC once, back before Flatten


def test_torch_depthwise_separable_with_batchnorm() -> None:
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 16, 1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 5),
    )
    with torch.no_grad():  # non-trivial running statistics, so folding is really tested
        for module in net:
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    data = check(export(net, (1, 3, 12, 12)), (1, 3, 12, 12))
    assert "DEPTHWISE_CONV_2D" in op_names(data)


def test_torch_mlp() -> None:
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(30, 32), nn.ReLU(), nn.Linear(32, 3))
    data = check(export(net, (1, 30)), (1, 30))
    assert op_names(data) == ["FULLY_CONNECTED", "FULLY_CONNECTED"]


def test_transpose_output_and_its_input_both_in_nhwc() -> None:
    # t shares x's tensor under another layout; both are needed in NHWC by their convs.
    nodes = [
        node("Transpose", ["x"], ["t"], perm=[0, 1, 3, 2]),
        node("Conv", ["x", "w"], ["a"]),
        node("Conv", ["t", "w"], ["b"]),
        node("Add", ["a", "b"]),
    ]
    check(make_model(nodes, (1, 3, 5, 5), {"w": weights(2, 3, 3, 3)}), (1, 3, 5, 5))


def test_depthwise_with_dilation() -> None:
    conv = node("Conv", ["x", "w"], group=3, pads=[2, 2, 2, 2], dilations=[2, 2])
    data = check(make_model([conv], (1, 3, 7, 7), {"w": weights(3, 1, 3, 3)}), (1, 3, 7, 7))
    assert "DEPTHWISE_CONV_2D" in op_names(data)


def test_clip_with_attributes_before_opset_11() -> None:
    model = make_model([node("Clip", ["x"], min=0.0, max=6.0)], (1, 8), opset=6)
    data = check(model, (1, 8))
    assert op_names(data) == ["RELU6"]


def test_gemm_then_batchnorm_is_folded() -> None:
    nodes = [node("Gemm", ["x", "w", "b"], ["g"], transB=1), bn("g")]
    inits = {"w": weights(5, 8), "b": weights(5, seed=1), **bn_inits(5)}
    data = check(make_model(nodes, (1, 8), inits), (1, 8))
    assert op_names(data) == ["FULLY_CONNECTED"]


def test_fake_quantized_float_weights_are_stored_as_int8() -> None:
    # A float initializer through QuantizeLinear -> DequantizeLinear (QAT-style export).
    nodes = [
        node("QuantizeLinear", ["wf", "s", "zp"], ["wq"], axis=0),
        node("DequantizeLinear", ["wq", "s", "zp"], ["w"], axis=0),
        node("Conv", ["x", "w"], pads=[1, 1, 1, 1]),
    ]
    inits = {
        "wf": weights(4, 2, 3, 3),
        "s": np.full(4, 0.01, np.float32),
        "zp": np.zeros(4, np.int8),
    }
    data = check(make_model(nodes, (1, 2, 5, 5), inits), (1, 2, 5, 5), optimize=False)
    assert "INT8" in tensor_types(data)


def test_float16_activations_compute_in_float32() -> None:
    # A whole-model float16 conversion that kept float32 inputs and outputs.
    nodes = [
        node("Cast", ["x"], ["x16"], to=TensorProto.FLOAT16),
        node("Conv", ["x16", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        node("Relu", ["c"], ["r"]),
        node("Cast", ["r"], to=TensorProto.FLOAT),
    ]
    inits = {"w": weights(4, 2, 3, 3).astype(np.float16), "b": weights(4).astype(np.float16)}
    data = check(make_model(nodes, (1, 2, 5, 5), inits), (1, 2, 5, 5), atol=1e-2, rtol=1e-2)
    assert "FLOAT16" in tensor_types(data)


def test_onnxruntime_static_qdq_model(tmp_path) -> None:  # noqa: ANN001 (pytest fixture)
    import torch
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from torch import nn

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(
                {"input": rng(i).normal(size=(1, 1, 8, 8)).astype(np.float32)} for i in range(4)
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 3)
    )
    source, target = tmp_path / "float.onnx", tmp_path / "qdq.onnx"
    onnx.save(export(net, (1, 1, 8, 8)), source)
    quantize_static(
        source,
        target,
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    model = onnx.load(target)
    data = check(model, (1, 1, 8, 8), optimize=False)
    assert {"QUANTIZE", "DEQUANTIZE"} <= set(op_names(data)) and "INT8" in tensor_types(data)


def test_transposed_quantized_weight_stays_int8() -> None:
    nodes = [
        dq("w", 0),
        node("Transpose", ["w"], ["wt"], perm=[1, 0]),
        node("MatMul", ["x", "wt"]),
    ]
    model = make_model(nodes, (1, 12), quant_inits("w", int8_weight((5, 12), 0)))
    data = check(model, (1, 12), optimize=False)
    assert "INT8" in tensor_types(data)


def test_identity_graph() -> None:
    check(make_model([node("Identity", ["x"])], (1, 4)), (1, 4))


def test_int8_weights_without_zero_point() -> None:
    q, scale, _ = int8_weight((5, 12), 0)
    inits = {"w_q": q, "w_scale": scale}
    nodes = [
        node("DequantizeLinear", ["w_q", "w_scale"], ["w"], axis=0),
        node("Gemm", ["x", "w"], transB=1),
    ]
    data = check(make_model(nodes, (1, 12), inits), (1, 12), optimize=False)
    assert "INT8" in tensor_types(data)
