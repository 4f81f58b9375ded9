"""Size metrics: bytes, zlib bytes, parameters, nonzeros and MACs counted by hand."""

from __future__ import annotations

import json
import zlib

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from harness.compress import apply_chain
from harness.compress.base import PassContext
from harness.compress.quantize import Quantize
from harness.measure.size import file_size, macs, onnx_size, parameters
from tests.helpers.graphs import (
    conv_net,
    lstm_model,
    make_model,
    make_pass,
    mobile_net,
    node,
)

CONV_NET_PARAMS = 8 * 9 + 8 + 16 * 72 + 16 + 32 * 1024 + 32 + 10 * 32 + 10


def test_conv_net_macs_by_hand() -> None:
    conv1 = (8 * 16 * 16) * (1 * 3 * 3)  # output elements * Cin * kh * kw
    conv2 = (16 * 8 * 8) * (8 * 3 * 3)  # after the 2x2 max-pool
    fc1 = 1 * 1024 * 32  # M * K * N
    fc2 = 1 * 32 * 10
    assert macs(conv_net()) == conv1 + conv2 + fc1 + fc2 == 125_248


def test_grouped_conv_counts_cin_per_group() -> None:
    stem = (8 * 8 * 8) * (3 * 9)
    depthwise = (8 * 8 * 8) * (1 * 9)  # group = 8: one input channel per filter
    pointwise = (16 * 8 * 8) * 8
    fc = 16 * 4
    assert macs(mobile_net()) == stem + depthwise + pointwise + fc


def test_strided_conv_and_batched_matmul() -> None:
    inits = {
        "w": np.ones((4, 2, 3, 3), np.float32),
        "shape": np.array([0, 4, 16], np.int64),
        "t": np.ones((16, 5), np.float32),
    }
    nodes = [
        node("Conv", ["input", "w"], ["c"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        node("Reshape", ["c", "shape"], ["r"]),  # (1, 4, 16): a batch of 4 rows per sample
        node("MatMul", ["r", "t"], ["output"]),
    ]
    model = make_model(nodes, inits, (1, 2, 8, 8), (1, 4, 5))
    assert macs(model) == (4 * 4 * 4) * (2 * 9) + (4 * 5) * 16


def test_recurrent_rule_and_ignored_elementwise_ops() -> None:
    # LSTM: steps * batch * (|W| + |R|); Transpose and Reshape count nothing.
    assert macs(lstm_model()) == 5 * 1 * (32 * 6 + 32 * 8) + 8 * 3


def test_params_and_nonzeros_over_weight_initializers() -> None:
    model = conv_net(flatten="Reshape")  # the int64 shape constant is not a parameter
    stats = onnx_size(model)
    assert stats.params == stats.nonzeros == CONV_NET_PARAMS
    pruned, _ = apply_chain(model, [make_pass("prune", ratio=0.5)], PassContext())
    weights = 8 * 9 + 16 * 72 + 32 * 1024 + 10 * 32
    assert onnx_size(pruned).nonzeros == CONV_NET_PARAMS - weights // 2


def test_int4_params_count_logical_elements_and_skip_scales() -> None:
    model = conv_net()
    out = Quantize(bits=4, symmetric=False).apply(model, PassContext()).model
    params, nonzeros = parameters(out.graph)
    assert params == CONV_NET_PARAMS
    int4 = [t for t in out.graph.initializer if t.data_type == TensorProto.UINT4]
    assert sum(int(np.prod(t.dims)) for t in int4) == 8 * 9 + 16 * 72 + 32 * 1024 + 10 * 32 + 66
    assert nonzeros <= params


def test_quantized_nonzeros_are_counted_against_the_zero_point() -> None:
    q = helper.make_tensor("q", TensorProto.UINT8, [2, 3], [5, 5, 7, 9, 1, 9])
    zp = numpy_helper.from_array(np.array([5, 9], np.uint8), "zp")
    scale = numpy_helper.from_array(np.array([0.1, 0.2], np.float32), "s")
    dq = helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["w"], axis=0)
    graph = helper.make_graph(
        [dq], "g", [], [helper.make_tensor_value_info("w", 1, [2, 3])], [q, zp, scale]
    )
    assert parameters(graph) == (6, 2)  # 7 in row 0, 1 in row 1


def test_file_size_is_bytes_and_zlib_bytes() -> None:
    data = bytes(1000) + bytes(range(256))
    assert file_size(data) == (1256, len(zlib.compress(data, 9)))
    model = conv_net()
    stats = onnx_size(model)
    assert stats.file_bytes == len(model.SerializeToString())
    assert stats.compressed_bytes < stats.file_bytes
    json.dumps(stats.__dict__)
