"""Tiny ONNX models the compression, size and conversion tests share.

The models are built with onnx.helper from seeded random weights (He-scaled, so the
activations stay in a sane range) and mimic the torch exports the harness trains:
opset 17, IR version 8, a dynamic batch axis.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from harness.compress import PASSES
from harness.compress.base import PassContext

OPSET = 17
IR_VERSION = 8


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def he(r: np.random.Generator, *shape: int, fan_in: int | None = None) -> np.ndarray:
    fan = fan_in or int(np.prod(shape[1:]))
    return (r.standard_normal(shape) * np.sqrt(2.0 / fan)).astype(np.float32)


def node(op: str, inputs: list[str], outputs: list[str], **kwargs: Any) -> onnx.NodeProto:
    return helper.make_node(op, inputs, outputs, name=f"{op.lower()}_{outputs[0]}", **kwargs)


def make_model(
    nodes: list[onnx.NodeProto],
    inits: dict[str, np.ndarray],
    input_shape: tuple[Any, ...],
    output_shape: tuple[Any, ...],
    opset: int = OPSET,
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", *input_shape[1:]])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", *output_shape[1:]])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=IR_VERSION
    )
    onnx.checker.check_model(model, full_check=True)
    return model


CONV_INPUT = (1, 1, 16, 16)


def conv_net(seed: int = 0, flatten: str = "Flatten") -> onnx.ModelProto:
    """Conv(1->8)-Relu-MaxPool-Conv(8->16)-Relu-Flatten-Gemm(1024->32)-Relu-Gemm(32->10).

    `flatten="Reshape"` flattens with a Reshape to the literal shape [-1, 1024] instead.
    """
    r = rng(seed)
    inits = {
        "c1.w": he(r, 8, 1, 3, 3),
        "c1.b": (r.standard_normal(8) * 0.1).astype(np.float32),
        "c2.w": he(r, 16, 8, 3, 3),
        "c2.b": (r.standard_normal(16) * 0.1).astype(np.float32),
        "fc1.w": he(r, 32, 1024),
        "fc1.b": (r.standard_normal(32) * 0.1).astype(np.float32),
        "fc2.w": he(r, 10, 32),
        "fc2.b": (r.standard_normal(10) * 0.1).astype(np.float32),
    }
    if flatten == "Reshape":
        inits["flat_shape"] = np.array([-1, 1024], np.int64)
        flat = node("Reshape", ["r2", "flat_shape"], ["f"])
    else:
        flat = node("Flatten", ["r2"], ["f"], axis=1)
    nodes = [
        node("Conv", ["input", "c1.w", "c1.b"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        node("Relu", ["c1"], ["r1"]),
        node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        node("Conv", ["p1", "c2.w", "c2.b"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        node("Relu", ["c2"], ["r2"]),
        flat,
        node("Gemm", ["f", "fc1.w", "fc1.b"], ["h"], transB=1),
        node("Relu", ["h"], ["hr"]),
        node("Gemm", ["hr", "fc2.w", "fc2.b"], ["output"], transB=1),
    ]
    return make_model(nodes, inits, CONV_INPUT, (1, 10))


MLP_INPUT = (1, 64)


def mlp(seed: int = 1) -> onnx.ModelProto:
    """MatMul(64x48)+Add-Relu-MatMul(48x10)+Add: weights stored (in, out)."""
    r = rng(seed)
    inits = {
        "w1": he(r, 64, 48, fan_in=64),
        "b1": (r.standard_normal(48) * 0.1).astype(np.float32),
        "w2": he(r, 48, 10, fan_in=48),
        "b2": (r.standard_normal(10) * 0.1).astype(np.float32),
    }
    nodes = [
        node("MatMul", ["input", "w1"], ["m1"]),
        node("Add", ["m1", "b1"], ["a1"]),
        node("Relu", ["a1"], ["r1"]),
        node("MatMul", ["r1", "w2"], ["m2"]),
        node("Add", ["m2", "b2"], ["output"]),
    ]
    return make_model(nodes, inits, MLP_INPUT, (1, 10))


USER_INPUT = (1, 3, 8, 8)


def bn_inits(r: np.random.Generator, prefix: str, c: int) -> dict[str, np.ndarray]:
    return {
        f"{prefix}.scale": r.uniform(0.5, 1.5, c).astype(np.float32),
        f"{prefix}.bias": (r.standard_normal(c) * 0.1).astype(np.float32),
        f"{prefix}.mean": (r.standard_normal(c) * 0.1).astype(np.float32),
        f"{prefix}.var": r.uniform(0.5, 1.5, c).astype(np.float32),
    }


def bn_node(prefix: str, x: str, y: str) -> onnx.NodeProto:
    names = [f"{prefix}.{p}" for p in ("scale", "bias", "mean", "var")]
    return node("BatchNormalization", [x, *names], [y])


def user_model(seed: int = 2) -> onnx.ModelProto:
    """Conv-BN-Relu, a residual block (Conv-BN + skip, Add), a Concat with a 1x1 Conv branch,
    GlobalAveragePool, Flatten, Gemm: what a user's own export looks like."""
    r = rng(seed)
    inits = {
        "stem.w": he(r, 8, 3, 3, 3),
        **bn_inits(r, "bn1", 8),
        "res.w": he(r, 8, 8, 3, 3),
        **bn_inits(r, "bn2", 8),
        "side.w": he(r, 4, 8, 1, 1),
        "side.b": (r.standard_normal(4) * 0.1).astype(np.float32),
        "fc.w": he(r, 5, 12),
        "fc.b": (r.standard_normal(5) * 0.1).astype(np.float32),
    }
    pads = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    nodes = [
        node("Conv", ["input", "stem.w"], ["s"], **pads),
        bn_node("bn1", "s", "sb"),
        node("Relu", ["sb"], ["sr"]),
        node("Conv", ["sr", "res.w"], ["rc"], **pads),
        bn_node("bn2", "rc", "rb"),
        node("Add", ["rb", "sr"], ["sum"]),
        node("Relu", ["sum"], ["block"]),
        node("Conv", ["block", "side.w", "side.b"], ["side"], kernel_shape=[1, 1]),
        node("Concat", ["block", "side"], ["cat"], axis=1),
        node("GlobalAveragePool", ["cat"], ["gap"]),
        node("Flatten", ["gap"], ["flat"]),
        node("Gemm", ["flat", "fc.w", "fc.b"], ["output"], transB=1),
    ]
    return make_model(nodes, inits, USER_INPUT, (1, 5))


MOBILE_INPUT = (1, 3, 8, 8)


def mobile_net(seed: int = 3) -> onnx.ModelProto:
    """Conv-BN-Relu, depthwise Conv-BN-Relu, 1x1 Conv-BN-Relu, GlobalAveragePool, Flatten,
    Gemm: structured pruning has to pass through BatchNorm and the depthwise Conv."""
    r = rng(seed)
    inits = {
        "stem.w": he(r, 8, 3, 3, 3),
        **bn_inits(r, "bn1", 8),
        "dw.w": he(r, 8, 1, 3, 3),
        **bn_inits(r, "bn2", 8),
        "pw.w": he(r, 16, 8, 1, 1),
        **bn_inits(r, "bn3", 16),
        "fc.w": he(r, 4, 16),
        "fc.b": np.zeros(4, np.float32),
    }
    nodes = [
        node("Conv", ["input", "stem.w"], ["s"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        bn_node("bn1", "s", "sb"),
        node("Relu", ["sb"], ["sr"]),
        node("Conv", ["sr", "dw.w"], ["d"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=8),
        bn_node("bn2", "d", "db"),
        node("Clip", ["db", "lo", "hi"], ["dr"]),
        node("Conv", ["dr", "pw.w"], ["p"], kernel_shape=[1, 1]),
        bn_node("bn3", "p", "pb"),
        node("Relu", ["pb"], ["pr"]),
        node("GlobalAveragePool", ["pr"], ["gap"]),
        node("Flatten", ["gap"], ["flat"]),
        node("Gemm", ["flat", "fc.w", "fc.b"], ["output"], transB=1),
    ]
    inits["lo"], inits["hi"] = np.array(0, np.float32), np.array(6, np.float32)
    return make_model(nodes, inits, MOBILE_INPUT, (1, 4))


def lstm_model(seed: int = 4) -> onnx.ModelProto:
    """An LSTM (an op the passes do not handle) feeding a Gemm: input (batch, 5, 6)."""
    r = rng(seed)
    hidden = 8
    inits = {
        "W": (r.standard_normal((1, 4 * hidden, 6)) * 0.3).astype(np.float32),
        "R": (r.standard_normal((1, 4 * hidden, hidden)) * 0.3).astype(np.float32),
        "perm_shape": np.array([-1, hidden], np.int64),
        "fc.w": he(r, 3, hidden),
        "fc.b": np.zeros(3, np.float32),
    }
    nodes = [
        node("Transpose", ["input"], ["seq"], perm=[1, 0, 2]),
        helper.make_node("LSTM", ["seq", "W", "R"], ["", "h"], name="lstm", hidden_size=hidden),
        node("Reshape", ["h", "perm_shape"], ["flat"]),
        node("Gemm", ["flat", "fc.w", "fc.b"], ["output"], transB=1),
    ]
    return make_model(nodes, inits, (1, 5, 6), (1, 3))


def inputs_for(model: onnx.ModelProto, n: int = 8, seed: int = 99) -> np.ndarray:
    dims = [d.dim_value or n for d in model.graph.input[0].type.tensor_type.shape.dim]
    return rng(seed).standard_normal(dims).astype(np.float32)


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def run_simulated(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """The QDQ graph as written (DequantizeLinear, float op, QuantizeLinear): the int8
    arithmetic on float kernels, the same on every CPU (graph optimizations off, so ONNX
    Runtime fuses nothing into its int8 kernels)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def ctx_for(model: onnx.ModelProto, n: int = 16) -> PassContext:
    return PassContext(calibration=inputs_for(model, n, seed=7), input_name="input")


def make_pass(name: str, **params: Any) -> Any:
    return PASSES.get(name).from_params(params)


def gemm_net(trans_b: int, alpha: float = 1.0, beta: float = 1.0, seed: int = 5) -> onnx.ModelProto:
    """Gemm(40 -> 24, transB as given, alpha/beta) - Relu - Gemm(24 -> 6)."""
    r = rng(seed)
    w1 = he(r, 24, 40)
    inits = {
        "w1": w1 if trans_b else np.ascontiguousarray(w1.T),
        "b1": (r.standard_normal((1, 24)) * 0.1).astype(np.float32),
        "w2": he(r, 6, 24),
    }
    nodes = [
        node("Gemm", ["input", "w1", "b1"], ["h"], transB=trans_b, alpha=alpha, beta=beta),
        node("Relu", ["h"], ["hr"]),
        node("Gemm", ["hr", "w2"], ["output"], transB=1),
    ]
    return make_model(nodes, inits, (1, 40), (1, 6))


def initializer(model: onnx.ModelProto, name: str) -> onnx.TensorProto:
    return next(t for t in model.graph.initializer if t.name == name)


def nodes_of(model: onnx.ModelProto, op: str) -> list[onnx.NodeProto]:
    return [n for n in model.graph.node if n.op_type == op]


def with_initializers_as_inputs(model: onnx.ModelProto) -> onnx.ModelProto:
    """How exporters before IR version 4 listed weights: as graph inputs too."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    for t in model.graph.initializer:
        out.graph.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    return out


def gemm_model(seed: int = 0, n_in: int = 6, n_out: int = 3) -> onnx.ModelProto:
    """One Gemm(n_in -> n_out) with a bias: the smallest classifier a runtime can run."""
    r = np.random.default_rng(seed)
    w = numpy_helper.from_array(r.normal(size=(n_out, n_in)).astype(np.float32), "w")
    b = numpy_helper.from_array(r.normal(size=(n_out,)).astype(np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["input", "w", "b"], ["logits"], transB=1)],
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", n_in])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n_out])],
        [w, b],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
