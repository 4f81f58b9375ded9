"""An imported model with symbolic image sides: the sweep fixes them from the dataset.

The model is scikit-learn's logistic regression on the digits written as one Conv whose
kernel covers the whole 8x8 image, so its input can leave H and W open while its answer on
8x8 samples is scikit-learn's own: accuracy is known independently of the harness.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from harness.cli.commands import cli
from harness.convert.input_sizes import sized_for_samples
from harness.train.datasets import load, split
from tests.helpers.cli import folder_args

SEED = 4


def conv_logistic(path: Path) -> float:
    """Write the digits' logistic regression as Conv(8x8) -> Flatten with input
    (batch, 1, height, width); return its test accuracy from scikit-learn."""
    from sklearn.linear_model import LogisticRegression

    splits = split(load("digits", {}), SEED, 0.15, 0.25, normalize=False)
    x_train, y_train = splits.train
    clf = LogisticRegression(max_iter=500).fit(x_train.reshape(len(x_train), -1), y_train)
    x_test, y_test = splits.test
    accuracy = float(clf.score(x_test.reshape(len(x_test), -1), y_test))
    w = clf.coef_.reshape(10, 1, 8, 8).astype(np.float32)
    b = clf.intercept_.astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["pixels", "W", "B"], ["maps"]),
            helper.make_node("Flatten", ["maps"], ["scores"]),
        ],
        "conv_logistic",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 1, "height", "width"])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", "K"])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return accuracy


CONFIG = f"""
name = "imported-sizes"
seed = {SEED}

[dataset]
name = "digits"
normalize = false

[models.convlr]
onnx = "convlr.onnx"

[compression]
fp32 = []
int8 = [{{ pass = "quantize", bits = 8 }}]

[runtimes.onnxruntime]
threads = 1

[runtimes.litert]
threads = 1

[latency]
warmup = 1
min_runs = 5
min_seconds = 0.0
rounds = 1
"""


def test_open_image_sides_are_fixed_from_the_data_so_litert_and_int8_run(tmp_path: Path) -> None:
    expected = conv_logistic(tmp_path / "convlr.onnx")
    (tmp_path / "sweep.toml").write_text(CONFIG)
    args = ["run", str(tmp_path / "sweep.toml"), *folder_args(tmp_path), "--executor", "serial"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    rows = sqlite3.connect(tmp_path / "r.db").execute(
        "SELECT compression, runtime, status, accuracy, parity_max_abs, error FROM candidates"
    )
    seen = {(c, rt): (status, acc, diff, err) for c, rt, status, acc, diff, err in rows}
    assert len(seen) == 4 and all(v[0] == "ok" for v in seen.values()), seen
    for runtime in ("onnxruntime", "litert"):
        assert seen[("fp32", runtime)][1] == pytest.approx(expected, abs=1e-9)
    assert seen[("fp32", "litert")][2] < 1e-4
    assert seen[("int8", "onnxruntime")][1] > expected - 0.02
    # The cached import has the sides the data has; the batch stays open.
    cached = [onnx.load(p) for p in (tmp_path / "art").rglob("*.onnx")]
    dims = {
        tuple(d.dim_value or d.dim_param for d in m.graph.input[0].type.tensor_type.shape.dim)
        for m in cached
    }
    assert dims == {("N", 1, 8, 8)}, dims


def test_fixed_sides_leave_the_file_as_it_is() -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 4])],
    )
    data = helper.make_model(graph).SerializeToString()
    assert sized_for_samples(data, (3, 4)) == (data, "")


def test_open_sides_are_named_in_the_note_and_the_model_checks() -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "h", None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, "h", 7])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    data, note = sized_for_samples(model.SerializeToString(), (3, 5, 6))
    assert note == "input x: h=5, ?=6 fixed to the dataset's sample shape"
    fixed = onnx.load_from_string(data)
    onnx.checker.check_model(fixed, full_check=True)
    dims = fixed.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value or d.dim_param for d in dims] == ["N", 3, 5, 6]
    # The declared output (7 wide) contradicted the new input; its sizes are left open.
    assert len(fixed.graph.output[0].type.tensor_type.shape.dim) == 4
