"""A sweep scores classifiers (or measures without a score); a regression model or a
regression dataset is refused before anything runs, in one line that names `harness
bench --task regress`, which does score MAE and RMSE."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner

from harness.cli.commands import cli
from tests.helpers.cli import folder_args
from tests.test_imported import CONFIG, logistic_onnx

HINT = "harness bench MODEL --data"


def _run(tmp_path: Path, text: str):
    (tmp_path / "sweep.toml").write_text(text)
    return CliRunner().invoke(cli, ["run", str(tmp_path / "sweep.toml"), *folder_args(tmp_path)])


def test_an_imported_regression_model_is_refused_naming_bench(tmp_path: Path) -> None:
    logistic_onnx(tmp_path / "logreg.onnx")
    result = _run(tmp_path, CONFIG.replace('onnx = "logreg.onnx"',
                                           'onnx = "logreg.onnx"\ntask = "regress"'))  # fmt: skip
    assert result.exit_code == 2, result.output
    line = result.output.strip().splitlines()[-1]
    assert "models.logreg" in line and "task" in line and "Traceback" not in result.output
    assert "a sweep scores classifiers (classify) or measures without a score (none)" in line
    assert f"`{HINT} D.npz --task regress` (MAE, RMSE)" in line
    assert not (tmp_path / "r.db").exists() or "candidates" not in result.output


def test_a_dataset_of_regression_targets_is_refused_naming_bench(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    np.savez(tmp_path / "sine.npz", x=x, y=np.sin(x[:, 0]))  # float32 targets
    text = CONFIG.replace('name = "digits"', 'name = "npz"\npath = "sine.npz"')
    logistic_onnx(tmp_path / "logreg.onnx", input_dims=("batch", 3), n_classes=2)
    result = _run(tmp_path, text)
    assert result.exit_code == 2, result.output
    line = result.output.strip().splitlines()[-1]
    assert (
        "sine.npz: y holds float32(40,) values, regression targets rather than a 1-D integer array"
        in line
    )
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
