"""The machine's single-core compute peak, measured by a short calibration loop.

A model's latency is compute-bound when its MACs per second approach what one core can do
at best, and overhead-bound when they fall far short. The best a core does on float32 is
what an optimized GEMM reaches on a large square matrix product, so the peak is ONNX
Runtime's own MatMul (its MLAS kernels, which also run the models' convolutions) on one
thread, timed repeatedly, the fastest call kept. (numpy's BLAS on one thread reaches about
the same: 53 against 56 GMAC/s on the AVX-512 machine this was written on.)
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["PEAK_SIZE", "peak_macs_per_second"]

PEAK_SIZE = 512  # 134 M MACs a call: a few ms, large enough for the GEMM to reach its peak


def _matmul_model(size: int) -> bytes:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "peak",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [size, size])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return bytes(onnx.shape_inference.infer_shapes(model).SerializeToString())


def peak_macs_per_second(seconds: float = 0.3, size: int = PEAK_SIZE) -> float:
    """Float32 multiply-accumulates per second of one thread: the best of repeated timed
    GEMMs over about `seconds` (the best, not the median, estimates an unloaded core)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(_matmul_model(size), options, providers=["CPUExecutionProvider"])
    feed = {"x": np.random.default_rng(1).standard_normal((size, size), dtype=np.float32)}
    session.run(None, feed)  # warm-up: page in, pick the kernel
    best = float("inf")
    deadline = time.perf_counter() + seconds
    runs = 0
    while runs < 3 or time.perf_counter() < deadline:
        start = time.perf_counter()
        session.run(None, feed)
        best = min(best, time.perf_counter() - start)
        runs += 1
    return size**3 / best
