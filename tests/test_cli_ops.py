"""`harness ops MODEL...`: each operator's status, the conversion outcome, exit 1 if blocked."""

from __future__ import annotations

from pathlib import Path

import onnx
from click.testing import CliRunner
from onnx import TensorProto, helper

from harness.cli.commands import cli


def _save(path: Path, nodes: list, opsets=(("", 17),)) -> Path:
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])
    onnx.save(model, path)
    return path


def test_ops_lists_each_op_and_what_blocks_conversion(tmp_path: Path) -> None:
    good = _save(tmp_path / "good.onnx", [helper.make_node("HardSigmoid", ["x"], ["h"]),
                                          helper.make_node("Mul", ["x", "h"], ["y"])])  # fmt: skip
    bad = _save(tmp_path / "bad.onnx", [helper.make_node("Erf", ["x"], ["e"]),
                                        helper.make_node("Relu", ["e"], ["y"])])  # fmt: skip
    result = CliRunner().invoke(cli, ["ops", str(good), str(bad)])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("good.onnx: litert: converts (")
    assert any(line.split() == ["HardSigmoid", "1", "converts"] for line in lines)
    blocked = next(line for line in lines if line.startswith("bad.onnx"))
    assert blocked == (
        "bad.onnx: litert: unsupported on litert: Erf (LiteRT has no erf; only erf inside an "
        "exact GELU converts; node 'e')"
    )
    assert "1 of 2 model(s) do not convert to litert" in result.output
