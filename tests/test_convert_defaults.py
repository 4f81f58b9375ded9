"""Converter ops with their attributes left out: the ONNX defaults must be the ones the
converter assumes. Each graph omits every optional attribute the op has and is compared
with ONNX Runtime on the same inputs (tests elsewhere pass attributes explicitly). Then the
converter's padding and bias arithmetic by hand, and which TFLite ops each case becomes."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from harness.convert.tflite import onnx_to_tflite
from harness.convert.tflite_layers import _explicit_pads, _is_row, _same_pads
from harness.errors import UnsupportedOpError
from tests.helpers.litert import check, make_model, node, op_names, weights


def test_conv_defaults_stride_1_no_padding_no_dilation_one_group() -> None:
    model = make_model([node("Conv", ["x", "w"])], (1, 2, 6, 6), {"w": weights(3, 2, 3, 3)})
    data = check(model, (1, 2, 6, 6))
    assert op_names(data).count("CONV_2D") == 1 and "PAD" not in op_names(data)


def test_gemm_defaults_alpha_1_beta_1_and_no_transposes() -> None:
    # transB defaults to 0: B is (K, N). A converter assuming transB=1 reads it transposed.
    inits = {"b": weights(5, 4, seed=1), "c": weights(4, seed=2)}
    check(make_model([node("Gemm", ["x", "b", "c"])], (1, 5), inits), (1, 5))


def test_gemm_with_only_alpha_keeps_beta_at_1() -> None:
    inits = {"b": weights(4, 5, seed=1), "c": weights(4, seed=2) + 3.0}
    gemm = node("Gemm", ["x", "b", "c"], alpha=0.5, transB=1)
    check(make_model([gemm], (1, 5), inits), (1, 5))


def test_batchnorm_default_epsilon_is_1e_5() -> None:
    # Variances near epsilon: 1e-5 against any other default changes the output by tens of %.
    c = 3
    inits = {
        "s": np.array([1.0, 0.5, 2.0], np.float32),
        "b": np.array([0.1, -0.2, 0.0], np.float32),
        "m": np.array([0.0, 0.01, -0.01], np.float32),
        "v": np.array([1e-5, 2e-5, 0.0], np.float32),
    }
    bn = node("BatchNormalization", ["h", "s", "b", "m", "v"])
    conv = node("Conv", ["x", "w"], ["h"])
    model = make_model([conv, bn], (1, 2, 5, 5), {"w": weights(c, 2, 1, 1) * 0.01, **inits})
    check(model, (1, 2, 5, 5), atol=2e-3, rtol=1e-4)


def test_standalone_batchnorm_default_epsilon() -> None:
    inits = {
        "s": np.array([1.0, 0.5], np.float32),
        "b": np.array([0.1, -0.2], np.float32),
        "m": np.array([0.0, 0.1], np.float32),
        "v": np.array([1e-5, 0.0], np.float32),
    }
    model = make_model([node("BatchNormalization", ["x", "s", "b", "m", "v"])], (1, 2, 4, 4), inits)
    check(model, (1, 2, 4, 4), atol=1e-3, rtol=1e-4)


def test_max_pool_defaults_stride_1_no_padding() -> None:
    model = make_model([node("MaxPool", ["x"], kernel_shape=[2, 2])], (1, 2, 5, 5))
    check(model, (1, 2, 5, 5))


def test_average_pool_excludes_padding_by_default() -> None:
    # count_include_pad = 0: a corner output averages 4 values, not 9.
    pool = node("AveragePool", ["x"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    check(make_model([pool], (1, 2, 4, 4)), (1, 2, 4, 4))


def test_reduce_mean_keeps_dims_by_default() -> None:
    model = make_model([node("ReduceMean", ["x"], axes=[2, 3])], (1, 3, 4, 4))
    check(model, (1, 3, 4, 4))


def test_reduce_sum_axes_input_keeps_dims_by_default() -> None:
    model = make_model(
        [node("ReduceSum", ["x", "axes"])], (1, 3, 4), {"axes": np.array([2], np.int64)}
    )
    check(model, (1, 3, 4))


def test_softmax_default_axis_is_the_last_from_opset_13() -> None:
    check(make_model([node("Softmax", ["x"])], (1, 3, 4), opset=17), (1, 3, 4))
    check(make_model([node("LogSoftmax", ["x"])], (1, 3, 4), opset=17), (1, 3, 4))


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_softmax_default_axis_is_1_before_opset_13(op: str) -> None:
    check(make_model([node(op, ["x"])], (1, 6), opset=11), (1, 6))
    # Axis 1 of a rank-3 input flattens axes 1.. into one softmax: refused, with the reason.
    with pytest.raises(UnsupportedOpError, match="opset < 13 softmax over several flattened"):
        onnx_to_tflite(make_model([node(op, ["x"])], (1, 3, 4), opset=11))


def test_leaky_relu_default_alpha_is_0_01() -> None:
    x_scaled = node("Mul", ["x", "k"], ["h"])
    model = make_model(
        [x_scaled, node("LeakyRelu", ["h"])], (1, 8), {"k": np.array(100.0, np.float32)}
    )
    check(model, (1, 8))


def test_flatten_default_axis_is_1() -> None:
    check(make_model([node("Flatten", ["x"])], (1, 2, 3, 4)), (1, 2, 3, 4))


def test_transpose_default_reverses_every_axis() -> None:
    # No perm: every axis reversed, the batch axis included.
    check(make_model([node("Transpose", ["x"])], (1, 2, 3)), (1, 2, 3))


def test_pad_defaults_to_constant_zero() -> None:
    pads = np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)
    model = make_model([node("Pad", ["x", "pads"])], (1, 2, 3, 3), {"pads": pads})
    check(model, (1, 2, 3, 3))


def test_clip_without_bounds_is_the_identity_and_with_min_only_has_no_ceiling() -> None:
    check(make_model([node("Clip", ["x"])], (1, 6)), (1, 6))
    lo = {"lo": np.array(-0.25, np.float32)}
    check(make_model([node("Clip", ["x", "lo"])], (1, 6), lo), (1, 6))
    hi = {"hi": np.array(0.25, np.float32)}
    check(make_model([node("Clip", ["x", "", "hi"])], (1, 6), hi), (1, 6))


@pytest.mark.parametrize("op", ["Relu", "Sigmoid", "Tanh", "HardSwish"])
def test_attribute_free_activations(op: str) -> None:
    check(make_model([node(op, ["x"])], (1, 8)), (1, 8))


# ---- padding and bias arithmetic ------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "dilation", "pads"),
    [
        (5, 3, 1, 1, (1, 1)),  # out 5: 2 pixels of padding, one each side
        (6, 3, 2, 1, (0, 1)),  # out 3: one pixel, the odd one at the end
        (7, 3, 2, 2, (2, 2)),  # dilated kernel spans 5
        (4, 1, 2, 1, (0, 0)),  # needs none (negative total clamps to 0)
        (8, 4, 4, 1, (0, 0)),
        (5, 4, 1, 1, (1, 2)),
    ],
)
def test_same_padding_per_axis(
    size: int, kernel: int, stride: int, dilation: int, pads: tuple[int, int]
) -> None:
    assert _same_pads(size, kernel, stride, dilation) == pads


def _pads(**attrs: object) -> list[tuple[int, int]]:
    n = helper.make_node("Conv", ["x", "w"], ["y"], name="c")
    return _explicit_pads(n, dict(attrs), (6, 5), (3, 3), (2, 1), (1, 1))


def test_explicit_pads_in_every_spelling() -> None:
    assert _pads() == [(0, 0), (0, 0)]
    assert _pads(auto_pad="NOTSET", pads=[1, 2, 3, 4]) == [(1, 3), (2, 4)]  # begins, then ends
    assert _pads(auto_pad="SAME_UPPER") == [(0, 1), (1, 1)]
    assert _pads(auto_pad="SAME_LOWER") == [(1, 0), (1, 1)]  # the odd pixel at the start
    assert _pads(auto_pad="VALID", pads=[1, 1, 1, 1]) == [(0, 0), (0, 0)]
    with pytest.raises(UnsupportedOpError, match="negative pads"):
        _pads(pads=[0, -1, 0, 0])
    with pytest.raises(UnsupportedOpError, match="auto_pad=WEIRD"):
        _pads(auto_pad="WEIRD")


def test_a_row_broadcasts_along_the_last_axis_only() -> None:
    assert _is_row(np.zeros(4), 4, 2) and _is_row(np.zeros((1, 4)), 4, 2)
    assert _is_row(np.float32(1.0), 4, 2) and _is_row(np.zeros((1, 1)), 4, 2)
    assert not _is_row(np.zeros((4, 1)), 4, 2)  # a column
    assert not _is_row(np.zeros(3), 4, 2)  # the wrong size
    assert not _is_row(np.zeros((1, 1, 4)), 4, 2)  # a higher rank than the result


def test_padding_is_same_when_it_matches_else_an_explicit_pad() -> None:
    same = make_model([node("Conv", ["x", "w"], pads=[1, 1, 1, 1])], (1, 2, 5, 5),
                      {"w": weights(3, 2, 3, 3)})  # fmt: skip
    assert "PAD" not in op_names(check(same, (1, 2, 5, 5)))
    lopsided = make_model([node("Conv", ["x", "w"], pads=[2, 0, 0, 1])], (1, 2, 5, 5),
                          {"w": weights(3, 2, 3, 3)})  # fmt: skip
    assert "PAD" in op_names(check(lopsided, (1, 2, 5, 5)))
    pool = make_model([node("MaxPool", ["x"], kernel_shape=[2, 2], pads=[1, 0, 0, 0])],
                      (1, 2, 4, 4))  # fmt: skip
    ops = op_names(check(pool, (1, 2, 4, 4)))
    assert "PADV2" in ops and "PAD" not in ops  # max pools pad with the lowest float
    avg = make_model([node("AveragePool", ["x"], kernel_shape=[2, 2], pads=[1, 0, 0, 0],
                           count_include_pad=1)], (1, 2, 4, 4))  # fmt: skip
    assert "PAD" in op_names(check(avg, (1, 2, 4, 4)))  # padded zeros count


def test_average_pool_padding_that_is_not_same_and_excludes_pads_is_refused() -> None:
    avg = make_model([node("AveragePool", ["x"], kernel_shape=[2, 2], pads=[1, 0, 0, 0])],
                     (1, 2, 4, 4))  # fmt: skip
    with pytest.raises(UnsupportedOpError, match="neither SAME nor expressible as a PAD"):
        onnx_to_tflite(avg)


def test_ceil_mode_average_pooling_is_refused_with_both_sizes() -> None:
    pool = make_model([node("AveragePool", ["x"], kernel_shape=[2, 2], strides=[2, 2],
                            ceil_mode=1)],
                      (1, 1, 5, 5))  # fmt: skip
    with pytest.raises(UnsupportedOpError, match=r"output size 3 where TFLite gives 2 \(ceil_mode"):
        onnx_to_tflite(pool)


@pytest.mark.parametrize("c_shape", [(), (1,), (4,), (1, 4)])
def test_gemm_bias_of_any_broadcastable_shape(c_shape: tuple[int, ...]) -> None:
    c = np.full(c_shape, 0.5, np.float32) if c_shape else np.float32(0.5)
    gemm = node("Gemm", ["x", "b", "c"], transB=1, beta=2.0)
    check(make_model([gemm], (1, 5), {"b": weights(4, 5), "c": np.asarray(c)}), (1, 5))


def test_a_gemm_bias_that_varies_along_the_batch_is_refused() -> None:
    gemm = node("Gemm", ["x", "b", "c"], transB=1)
    model = make_model([gemm], (4, 5), {"b": weights(4, 5), "c": weights(4, 1)})  # a column
    with pytest.raises(UnsupportedOpError, match=r"C of shape \[4, 1\] varies along the batch"):
        onnx_to_tflite(model)
    wrong = make_model([node("Gemm", ["x", "b", "c"], transB=1)], (1, 5),
                       {"b": weights(4, 5), "c": weights(3)})  # fmt: skip
    with pytest.raises(UnsupportedOpError, match=r"C of shape \[3\] is not a vector of 4"):
        onnx_to_tflite(wrong)


def test_matmul_takes_its_bias_add_into_one_fully_connected() -> None:
    nodes = [node("MatMul", ["x", "w"], ["h"]), node("Add", ["h", "b"])]
    data = check(make_model(nodes, (1, 5), {"w": weights(5, 4), "b": weights(1, 4)}), (1, 5))
    assert op_names(data) == ["FULLY_CONNECTED"]
    column = make_model(nodes, (1, 5), {"w": weights(5, 4), "b": weights(4, 1)[:1]})
    assert op_names(check(column, (1, 5))) == ["FULLY_CONNECTED"]  # a (1, 1) bias is a row too


def test_gemm_alpha_scales_the_weights_and_transa_is_refused() -> None:
    gemm = node("Gemm", ["x", "b"], transB=1, alpha=-1.5)
    check(make_model([gemm], (1, 5), {"b": weights(4, 5)}), (1, 5))
    trans_a = make_model([node("Gemm", ["x", "b"], transA=1)], (1, 5), {"b": weights(1, 4)})
    with pytest.raises(UnsupportedOpError, match="transA=1"):
        onnx_to_tflite(trans_a)
