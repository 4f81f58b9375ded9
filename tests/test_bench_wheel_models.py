"""What models shipped in public wheels brought to `harness bench` (benchmarks/
wheel_models.py), each rebuilt here in miniature: an output declared with another rank than
it has (ddddocr's OCR model), a .tflite op only its own framework registers (MediaPipe's
Landmarks2TransformMatrix), and image sides left symbolic (PP-OCR's detector), which LiteRT
needs fixed."""

from __future__ import annotations

from pathlib import Path

import flatbuffers
import numpy as np
import onnx
from ai_edge_litert import schema_py_generated as fb
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from harness.cli.commands import cli
from harness.convert.tflite import onnx_to_tflite

FAST = ["--min-runs", "5", "--min-seconds", "0"]


def _bench(model: Path, data: Path, **arrays: np.ndarray):
    np.savez(data, **arrays)  # type: ignore[arg-type]
    result = CliRunner().invoke(cli, ["bench", str(model), "--data", str(data), *FAST])
    rows = {line.split()[0]: line for line in result.output.splitlines()[2:] if line.strip()}
    return result, rows


def test_an_output_declared_with_the_wrong_rank_is_timed(tmp_path: Path) -> None:
    """Declared (1, L), produced (N, 4, 1): an IR-6 model keeps its declaration, and ONNX
    Runtime refuses a bound output of the real shape on the second call."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Concat", ["s", "one"], ["s3"], axis=0),
             helper.make_node("Reshape", ["x", "s3"], ["y"])]  # fmt: skip
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "L"])],
        [numpy_helper.from_array(np.array([1], np.int64), "one")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])
    model.ir_version = 6
    onnx.save(model, tmp_path / "m.onnx")
    result, rows = _bench(tmp_path / "m.onnx", tmp_path / "d.npz", x=np.ones((5, 4), np.float32))
    assert result.exit_code == 0, result.output
    assert rows["onnxruntime"].split()[1] == "ok"


def _with_custom_op(data: bytes, name: str) -> bytes:
    """The .tflite with its first operator's code replaced by a custom op `name`."""
    model = fb.ModelT.InitFromPackedBuf(data, 0)
    code = model.operatorCodes[0]
    code.builtinCode = code.deprecatedBuiltinCode = fb.BuiltinOperator.CUSTOM
    code.customCode = name
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_a_framework_custom_op_is_named_in_one_line(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "m.tflite"
    path.write_bytes(_with_custom_op(onnx_to_tflite(model), "Landmarks2TransformMatrix"))
    result, rows = _bench(path, tmp_path / "d.npz", x=np.ones((2, 3), np.float32))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert rows["litert"].split()[1] == "failed"
    assert (
        "litert worker failed (exit status 1): unsupported on litert: custom op "
        "Landmarks2TransformMatrix (the framework that wrote the model registers it"
    ) in rows["litert"]


def test_symbolic_image_sides_are_fixed_to_the_data_for_litert(tmp_path: Path) -> None:
    """(N, 3, H, W) into a 3x3 conv: LiteRT runs it at the fed 20 x 28 and agrees."""
    rng = np.random.default_rng(2)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, "H", "W"])],
        [numpy_helper.from_array(rng.normal(size=(2, 3, 3, 3)).astype(np.float32), "w")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, tmp_path / "m.onnx")
    x = rng.normal(size=(3, 3, 20, 28)).astype(np.float32)
    result, rows = _bench(tmp_path / "m.onnx", tmp_path / "d.npz", x=x)
    assert result.exit_code == 0, result.output
    assert rows["litert"].split()[1] == "ok"
    max_abs = float(rows["litert"].split("max |diff| ")[1].split()[0])
    assert max_abs < 1e-4
