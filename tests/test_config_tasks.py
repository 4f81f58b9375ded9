"""The task of an imported model in a sweep (`task = "classify" | "regress" | "none"`, or
inferred as bench infers it), decided when the config loads: what cannot be scored as
declared is one line naming the model's key, exit 2, before anything runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from harness.cli.commands import cli
from harness.config.load import load_config
from harness.errors import ConfigError
from harness.train.datasets import labels
from tests.helpers.cli import folder_args

CONFIG = """
name = "tasks"
seed = 1

[dataset]
name = "{dataset}"
normalize = false
{path}

[models.linear]
onnx = "linear.onnx"
{task}
{extra}
[compression]
fp32 = []
{chain}
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


def _config(
    tmp_path: Path, y: np.ndarray | None, outputs: int, task: str = "", **parts: str
) -> Path:
    """A sweep of linear.onnx (3 features -> `outputs`) on data.npz holding `y`, or on
    breast_cancer (30 features, class ids) when y is None."""
    features = 30 if y is None else 3
    _linear_onnx(tmp_path / "linear.onnx", features, outputs)
    if y is not None:
        x = np.random.default_rng(1).normal(size=(len(y), 3)).astype(np.float32)
        np.savez(tmp_path / "data.npz", x=x, y=y)
    text = CONFIG.format(
        dataset="breast_cancer" if y is None else "npz",
        path="" if y is None else 'path = "data.npz"',
        task=f'task = "{task}"' if task else "",
        extra=parts.get("extra", ""),
        chain=parts.get("chain", ""),
    )
    (tmp_path / "sweep.toml").write_text(text)
    return tmp_path / "sweep.toml"


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


TARGETS = np.sin(np.linspace(0, 6, 40)).astype(np.float32)


@pytest.mark.parametrize(
    ("y", "outputs", "task", "expected"),
    [
        (None, 2, "", "classify"),  # class ids, two class scores
        (TARGETS, 1, "", "regress"),  # float targets, one value per sample
        (np.stack([TARGETS, TARGETS], 1), 2, "", "regress"),  # (N, 2) targets, (N, 2) output
        (TARGETS, 1, "none", "none"),  # declared: measured, not scored
        (None, 2, "none", "none"),
    ],
)
def test_the_task_is_inferred_as_bench_infers_it_or_taken_as_declared(
    tmp_path: Path, y: np.ndarray | None, outputs: int, task: str, expected: str
) -> None:
    config = load_config(_config(tmp_path, y, outputs, task))
    assert [m.task for m in config.models] == [expected]


def test_a_declared_task_is_part_of_the_model_key_an_inferred_classify_is_not(
    tmp_path: Path,
) -> None:
    inferred = load_config(_config(tmp_path, None, 2)).models[0]
    declared = load_config(_config(tmp_path, None, 2, "classify")).models[0]
    assert inferred.spec() == declared.spec() and "task" not in inferred.spec()
    regress = load_config(_config(tmp_path, TARGETS, 1)).models[0]
    assert regress.spec()["task"] == "regress"


def test_regress_on_class_ids_is_refused_in_one_line_with_exit_2(tmp_path: Path) -> None:
    path = _config(tmp_path, None, 2, "regress")
    result = CliRunner().invoke(cli, ["run", str(path), *folder_args(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1] == (
        f"harness: error: {path}:models.linear.task: breast_cancer: task regress needs float "
        "target values in y, got integer (N,); save y as float32 targets, or use task classify "
        "for class ids"
    )


@pytest.mark.parametrize(
    ("y", "outputs", "task", "extra", "message"),
    [
        (np.stack([TARGETS] * 3, 1), 2, "regress", "",
         "models.linear.task: data.npz: no output has (3,) per sample to compare with y (40, 3);"
         " the outputs are (N, 2)"),
        (TARGETS, 2, "classify", "",
         "models.linear.task: data.npz: task classify needs one integer class id per sample in y,"
         " got float (40,); for target values use task regress"),
        (TARGETS, 4, "", "",
         "models.linear: data.npz holds one float per sample but the model's outputs are (N, 4):"
         " save class ids as integers (y.astype(int)) to score accuracy, or say task ="
         ' "regress" or "none"'),
        (TARGETS, 1, "regres", "",
         "models.linear.task: 'regres' is not a task (did you mean 'regress'?); choose from:"
         " classify, regress, none"),
        (TARGETS, 1, "", '\n[models.cnn]\narch = "mlp"\n',
         "models.cnn: a built-in model trains as a classifier on class ids, but data.npz holds"
         ' float targets; import your trained regression model (onnx = "model.onnx", task ='
         ' "regress") to score it by MAE and RMSE'),
    ],
)  # fmt: skip
def test_what_cannot_be_scored_as_declared_names_the_model_and_the_fix(
    tmp_path: Path, y: np.ndarray, outputs: int, task: str, extra: str, message: str
) -> None:
    assert f"sweep.toml:{message}" in _error(_config(tmp_path, y, outputs, task, extra=extra))


def test_a_training_chain_is_refused_for_a_model_that_is_not_a_classifier(tmp_path: Path) -> None:
    chain = 'student = [{ pass = "distill", student = { arch = "mlp" }, epochs = 1 }]\n'
    error = _error(_config(tmp_path, TARGETS, 1, chain=chain))
    assert (
        "sweep.toml:compression.student: distill trains a classifier on class ids, but "
        "models.linear has task regress; drop this chain or that model"
    ) in error


def test_class_ids_stored_as_floats_keep_the_class_id_message(tmp_path: Path) -> None:
    from harness.errors import DataError

    with pytest.raises(
        DataError, match=r"y must be a 1-D integer array of class ids; got float64\(3,\)"
    ):
        labels(np.array([0.0, 1.0, 1.0]), tmp_path / "d.npz")


def test_float_targets_load_as_a_regression_dataset_split_without_strata(tmp_path: Path) -> None:
    from harness.train.datasets import load, split

    y = np.random.default_rng(2).normal(size=(40, 2)).astype(np.float64)
    np.savez(tmp_path / "d.npz", x=np.zeros((40, 3)), y=y)
    ds = load("npz", {"path": str(tmp_path / "d.npz")})
    assert ds.classes == () and ds.y.dtype == np.float32 and ds.y.shape == (40, 2)
    parts = split(ds, 0, 0.15, 0.25, normalize=False)
    assert sum(len(p[1]) for p in (parts.train, parts.val, parts.test)) == 40
    assert len(parts.test[1]) == 10
    np.testing.assert_array_equal(
        np.sort(np.concatenate([parts.train[1], parts.val[1], parts.test[1]]), axis=0),
        np.sort(y.astype(np.float32), axis=0),
    )
