"""Run one model in ONNX Runtime and in LiteRT (XNNPACK and the builtin kernels) and
compare: the converter tests' common check."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from ai_edge_litert import schema_py_generated as fb
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from onnx import TensorProto, helper, numpy_helper

from harness.convert.tflite import onnx_to_tflite

RESOLVERS = (OpResolverType.AUTO, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
RNG_SEED = 1234


def rng(seed: int = RNG_SEED) -> np.random.Generator:
    return np.random.default_rng(seed)


def weights(*shape: int, seed: int = 0) -> np.ndarray:
    return rng(seed).normal(0.0, 0.5, size=shape).astype(np.float32)


def make_model(
    nodes: list[onnx.NodeProto],
    input_shape: tuple[int, ...],
    inits: dict[str, np.ndarray | onnx.TensorProto] | None = None,
    *,
    outputs: tuple[str, ...] = ("y",),
    opset: int = 17,
) -> onnx.ModelProto:
    """A one-input graph `x` (batch axis symbolic) whose nodes compute `outputs`."""
    initializers = []
    for name, value in (inits or {}).items():
        tensor = value if isinstance(value, onnx.TensorProto) else numpy_helper.from_array(value)
        tensor.name = name
        initializers.append(tensor)
    graph = helper.make_graph(
        nodes,
        "test",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *input_shape[1:]])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10 if opset >= 21 else 8
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)  # fills output shapes
    onnx.checker.check_model(model, full_check=True)
    return model


def run_ort(model: onnx.ModelProto, x: np.ndarray, *, optimize: bool = True) -> np.ndarray:
    options = ort.SessionOptions()
    if not optimize:  # reference semantics for Q/DQ: no fusing into integer kernels
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def run_litert(data: bytes, x: np.ndarray, resolver: OpResolverType) -> np.ndarray:
    interpreter = Interpreter(model_content=data, experimental_op_resolver_type=resolver)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, list(x.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, x)
    interpreter.invoke()
    return np.array(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))


def check(
    model: onnx.ModelProto,
    input_shape: tuple[int, ...],
    *,
    atol: float = 1e-4,
    rtol: float = 0.0,
    batches: tuple[int, ...] = (1, 7),
    optimize: bool = True,
) -> bytes:
    """Convert, then compare with ONNX Runtime on the same random inputs; returns the bytes.

    `optimize=False` runs ONNX Runtime unoptimized, for its reference semantics: optimized,
    it turns DequantizeLinear -> MatMul into a dynamically quantized MatMul (~1e-2 off).
    """
    data = onnx_to_tflite(model)
    for batch in batches:
        x = rng(batch).normal(size=(batch, *input_shape[1:])).astype(np.float32)
        expected = run_ort(model, x, optimize=optimize)
        for resolver in RESOLVERS:
            got = run_litert(data, x, resolver)
            assert got.shape == expected.shape, (resolver, batch)
            diff = float((np.abs(got - expected) - rtol * np.abs(expected)).max())
            assert diff < atol, f"batch {batch}, {resolver}: max diff {diff}"
    return data


def op_names(data: bytes) -> list[str]:
    model = fb.ModelT.InitFromPackedBuf(data, 0)
    names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    codes = [names[code.builtinCode] for code in model.operatorCodes]
    return [codes[op.opcodeIndex] for op in model.subgraphs[0].operators]


def tensor_types(data: bytes) -> set[str]:
    model = fb.ModelT.InitFromPackedBuf(data, 0)
    names = {v: k for k, v in vars(fb.TensorType).items() if not k.startswith("_")}
    return {names[t.type] for t in model.subgraphs[0].tensors}


def node(op: str, inputs: list[str], outputs: list[str] | None = None, **kwargs) -> onnx.NodeProto:
    return helper.make_node(op, inputs, outputs or ["y"], **kwargs)
