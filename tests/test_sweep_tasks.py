"""Sweeps of imported models by task: a regressor scored by MAE and RMSE through int8 and
pruning (checked against numpy on the very files measured), and a model whose output is
no class score measured without one, beside a classifier, on the rendered leaderboard."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from harness.cli.commands import cli
from tests.helpers.cli import folder_args
from tests.helpers.imported_models import logistic_onnx
from tests.helpers.site_tables import table_cells

LATENCY = """
[latency]
warmup = 2
min_runs = 10
min_seconds = 0.0
"""


def _mlp_regressor(path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """x (batch, 6) -> MatMul, Add, Relu, MatMul, Add -> (batch, 2), random weights; the
    hidden layer (batch, 16) is a second output, as feature outputs often are."""
    rng = np.random.default_rng(seed)
    w = {
        "W1": rng.normal(size=(6, 16)).astype(np.float32),
        "b1": (rng.normal(size=16) * 0.1).astype(np.float32),
        "W2": (rng.normal(size=(16, 2)) * 0.3).astype(np.float32),
        "b2": np.array([0.5, -0.25], np.float32),
    }
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["a"]), helper.make_node("Add", ["a", "b1"], ["b"]),
        helper.make_node("Relu", ["b"], ["c"]), helper.make_node("MatMul", ["c", "W2"], ["d"]),
        helper.make_node("Add", ["d", "b2"], ["out"]),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes, "regressor",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 6])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 2]),
         helper.make_tensor_value_info("c", TensorProto.FLOAT, ["batch", 16])],
        [numpy_helper.from_array(v, k) for k, v in w.items()],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return w


def _forward(w: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    return np.maximum(x @ w["W1"] + w["b1"], 0) @ w["W2"] + w["b2"]


def _errors(predicted: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    error = predicted.astype(np.float64) - y.astype(np.float64)
    return float(np.abs(error).mean()), float(np.sqrt((error**2).mean()))


def test_a_regression_sweep_scores_mae_and_rmse_of_every_measured_file(tmp_path: Path) -> None:
    w = _mlp_regressor(tmp_path / "reg.onnx")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    y = (_forward(w, x) + rng.normal(size=(120, 2)) * 0.1).astype(np.float32)
    split = np.array(["train"] * 60 + ["val"] * 20 + ["test"] * 40)
    np.savez(tmp_path / "data.npz", x=x, y=y, split=split)
    (tmp_path / "sweep.toml").write_text(
        """name = "regression"
seed = 1

[dataset]
name = "npz"
path = "data.npz"
normalize = false

[models.reg]
onnx = "reg.onnx"

[compression]
fp32 = []
int8 = [{ pass = "quantize", bits = 8 }]
"prune 50%" = [{ pass = "prune", ratio = 0.5 }]

[runtimes.onnxruntime]
threads = 1

[runtimes.litert]
threads = 1
"""
        + LATENCY
    )
    result = CliRunner().invoke(cli, ["run", str(tmp_path / "sweep.toml"), *folder_args(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "MAE [95% CI]" in result.output  # the terminal leaderboard's score column
    db = sqlite3.connect(tmp_path / "r.db")
    rows = db.execute(
        "SELECT compression, runtime, status, accuracy, mae, mae_low, mae_high, rmse, n_test,"
        " artifact, details_json FROM candidates"
    ).fetchall()
    assert len(rows) == 6 and all(r[2] == "ok" and r[3] is None for r in rows)
    x_test, y_test = x[80:], y[80:]
    by = {(r[0], r[1]): r for r in rows}
    # fp32: the model as written, recomputed in numpy.
    mae, rmse = _errors(_forward(w, x_test), y_test)
    for runtime in ("onnxruntime", "litert"):
        assert by[("fp32", runtime)][4] == pytest.approx(mae, rel=1e-5)
        assert by[("fp32", runtime)][7] == pytest.approx(rmse, rel=1e-5)
    # int8 and pruned: the compressed file ONNX Runtime measured, its outputs scored in numpy.
    for compression in ("int8", "prune 50%"):
        row = by[(compression, "onnxruntime")]
        session = ort.InferenceSession(row[9], providers=["CPUExecutionProvider"])
        predicted = session.run(["out"], {"x": x_test})[0]
        mae_c, rmse_c = _errors(predicted, y_test)
        assert row[4] == pytest.approx(mae_c, rel=1e-6) and row[7] == pytest.approx(
            rmse_c, rel=1e-6
        )
        per_sample = np.abs(predicted.astype(np.float64) - y_test).mean(axis=1)
        half = 1.96 * per_sample.std(ddof=1) / np.sqrt(len(per_sample))
        assert (row[5], row[6]) == pytest.approx((mae_c - half, mae_c + half), rel=1e-6)
        details = json.loads(row[10])
        assert row[8] == 40 and details["task"] == "regress"
        stored = np.frombuffer(bytes.fromhex(details["sample_errors"]), dtype="<f4")
        np.testing.assert_allclose(stored, per_sample, rtol=1e-6)  # for the paired MAE test
    assert by[("int8", "onnxruntime")][4] != by[("fp32", "onnxruntime")][4]  # it did quantize
    # Parity with ONNX Runtime per output: both outputs of the LiteRT file, fp32 exact.
    parity = json.loads(by[("fp32", "litert")][10])["parity"]
    assert [p["output"] for p in parity] == [0, 1] and all(p["max_rel"] < 1e-5 for p in parity)
    assert by[("prune 50%", "onnxruntime")][4] > 2 * mae  # half the weights gone costs error

    pages = [p.read_text() for p in (tmp_path / "site" / "candidates").glob("*.html")]
    litert_page = next(p for p in pages if "Parity with ONNX Runtime, per output" in p)
    assert "output 1" in litert_page and "Error against the targets" in litert_page
    page = (tmp_path / "site" / "index.html").read_text()
    assert "MAE vs file size (lower is better)" in page and "MAE (lower is better)" in page
    columns, table = table_cells(page, "leaderboard")
    assert "MAE [95% CI]" in columns and "RMSE" in columns
    assert not any("accuracy" in c for c in columns)
    mae_at = columns.index("MAE [95% CI]")
    ranked = [row[mae_at][1] for row in table]  # ranked by MAE, lower first
    assert len(ranked) == 6 and ranked == sorted(ranked)
    assert ranked[0] == pytest.approx(min(r[4] for r in rows), rel=1e-5)

    csv_header = (tmp_path / "site" / "results.csv").read_text().splitlines()[0].split(",")
    assert {"mae", "mae_low", "mae_high", "rmse"} <= set(csv_header)
    doc = json.loads((tmp_path / "site" / "results.json").read_text())
    assert {c["task"] for c in doc["candidates"]} == {"regress"}
    assert {c["metrics"]["mae"] for c in doc["candidates"]} == {r[4] for r in rows}

    runner = CliRunner()
    picked = runner.invoke(cli, ["select", "--db", str(tmp_path / "r.db"), "--max-mae", "1"])
    assert picked.exit_code == 0, picked.output
    assert "picked on MAE (lower is better)" in picked.output and "prune" not in picked.output
    refused = runner.invoke(
        cli, ["select", "--db", str(tmp_path / "r.db"), "--min-accuracy", "0.9"]
    )
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines()[-1] == (
        "harness: error: --min-accuracy: no candidate of this run is scored by accuracy "
        "(its tasks: regress); use --max-mae"
    )


def _smoother(path: Path) -> None:
    """pixels (batch, 1, 8, 8) -> 3x3 Conv -> (batch, 1, 8, 8): an image-to-image model,
    no class scores."""
    kernel = np.full((1, 1, 3, 3), 1 / 9, np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["pixels", "K", "B"], ["smooth"], pads=[1, 1, 1, 1])],
        "smoother",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 1, 8, 8])],
        [helper.make_tensor_value_info("smooth", TensorProto.FLOAT, ["batch", 1, 8, 8])],
        [numpy_helper.from_array(kernel, "K"), numpy_helper.from_array(np.zeros(1, np.float32), "B")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def test_an_unscored_model_beside_a_classifier_shows_no_accuracy_and_stays_ok(
    tmp_path: Path,
) -> None:
    """digits: the classifier's task is inferred classify, the (N, 1, 8, 8) model's none;
    the leaderboard shows accuracy for the first and "–" (not 0%) for the other."""
    logistic_onnx(tmp_path / "logreg.onnx")
    _smoother(tmp_path / "smooth.onnx")
    (tmp_path / "sweep.toml").write_text(
        """name = "mixed"
seed = 4

[dataset]
name = "digits"
normalize = false

[models.logreg]
onnx = "logreg.onnx"

[models.smooth]
onnx = "smooth.onnx"

[compression]
fp32 = []
int8 = [{ pass = "quantize", bits = 8 }]

[runtimes.onnxruntime]
threads = 1
"""
        + LATENCY
    )
    runner = CliRunner()
    result = runner.invoke(cli, ["run", str(tmp_path / "sweep.toml"), *folder_args(tmp_path)])
    assert result.exit_code == 0, result.output
    db = sqlite3.connect(tmp_path / "r.db")
    rows = db.execute(
        "SELECT model, compression, status, accuracy, mae, latency_p50_ms, file_bytes,"
        " json_extract(details_json, '$.task') FROM candidates"
    ).fetchall()
    assert {(r[0], r[7]) for r in rows} == {("logreg", "classify"), ("smooth", "none")}
    assert all(r[2] == "ok" and r[5] > 0 and r[6] > 0 for r in rows)
    assert all((r[3] is None) == (r[0] == "smooth") and r[4] is None for r in rows)

    page = (tmp_path / "site" / "index.html").read_text()
    columns, table = table_cells(page, "leaderboard")
    acc = columns.index("accuracy [95% CI]")
    model = columns.index("model")
    shown = {(row[model][0], row[acc][0]) for row in table}
    assert {text for name, text in shown if name == "smooth"} == {"–"}
    assert all(text.endswith("]") and "%" in text for name, text in shown if name == "logreg")
    assert all(row[-1][0] == "ok" for row in table) and len(table) == 4
    assert "p50 latency vs file size (models without a score)" in page
    smooth_page = next(
        p.read_text() for p in (tmp_path / "site" / "candidates").glob("*.html")
        if "smooth" in p.read_text() and "measured without a score" in p.read_text()
    )  # fmt: skip
    assert ">0.0%" not in smooth_page and "<h2>Accuracy</h2>" not in smooth_page

    # select: each task ranked on its own, and says how the unscored one was picked.
    picked = runner.invoke(cli, ["select", "--db", str(tmp_path / "r.db"), "--max-size", "64KB"])
    assert picked.exit_code == 0, picked.output
    assert "picked on size and p50 only" in picked.output
    lines = picked.output.splitlines()
    assert any(" smooth " in line and line.split()[5] == "-" for line in lines)
    refused = runner.invoke(cli, ["select", "--db", str(tmp_path / "r.db"), "--max-mae", "0.1"])
    assert refused.exit_code == 2 and "no candidate of this run is scored by MAE" in refused.output
    assert "use --min-accuracy" in refused.output
