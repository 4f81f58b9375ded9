"""A sweep scores classifiers (or measures without a score); a regression model or a
regression dataset is refused before anything runs, in one line that names `harness
bench --task regress`, which does score MAE and RMSE."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from harness.cli.commands import cli
from tests.helpers.cli import folder_args

HINT = "harness bench MODEL --data"
CONFIG = """
name = "regression"
seed = 1

[dataset]
name = "{dataset}"
normalize = false
{path}

[models.linear]
onnx = "linear.onnx"
{task}

[compression]
fp32 = []

[runtimes.onnxruntime]
threads = 1
"""


def _linear_onnx(path: Path, features: int, outputs: int) -> None:
    """x (batch, features) -> Gemm -> (batch, outputs), random weights."""
    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "W", "B"], ["y"], transB=1)], "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", outputs])],
        [numpy_helper.from_array(rng.normal(size=(outputs, features)).astype(np.float32), "W"),
         numpy_helper.from_array(np.zeros(outputs, np.float32), "B")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def _run(tmp_path: Path, text: str):
    (tmp_path / "sweep.toml").write_text(text)
    return CliRunner().invoke(cli, ["run", str(tmp_path / "sweep.toml"), *folder_args(tmp_path)])


def test_an_imported_regression_model_is_refused_naming_bench(tmp_path: Path) -> None:
    _linear_onnx(tmp_path / "linear.onnx", 30, 2)
    text = CONFIG.format(dataset="breast_cancer", path="", task='task = "regress"')
    result = _run(tmp_path, text)
    assert result.exit_code == 2, result.output
    line = result.output.strip().splitlines()[-1]
    assert "models.linear" in line and "task" in line and "Traceback" not in result.output
    assert "a sweep scores classifiers (classify) or measures without a score (none)" in line
    assert f"`{HINT} D.npz --task regress` (MAE, RMSE)" in line


def test_a_dataset_of_regression_targets_is_refused_naming_bench(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    np.savez(tmp_path / "sine.npz", x=x, y=np.sin(x[:, 0]))  # float32 targets
    _linear_onnx(tmp_path / "linear.onnx", 3, 1)
    result = _run(tmp_path, CONFIG.format(dataset="npz", path='path = "sine.npz"', task=""))
    assert result.exit_code == 2, result.output
    line = result.output.strip().splitlines()[-1]
    assert "sine.npz: y must be a 1-D integer array of class ids, but it holds float32(40,)" in line
    assert f"`{HINT} sine.npz --task regress` (MAE, RMSE)" in line


def test_class_ids_stored_as_floats_keep_the_class_id_message(tmp_path: Path) -> None:
    from harness.errors import DataError
    from harness.train.datasets import labels

    try:
        labels(np.array([0.0, 1.0, 1.0]), tmp_path / "d.npz")
    except DataError as exc:
        assert "y must be a 1-D integer array of class ids; got float64(3,)" in str(exc)
    else:
        raise AssertionError("float class ids were accepted")
