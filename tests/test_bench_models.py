"""`harness bench` on models that are not one-input (N, K) classifiers: dense outputs,
several inputs, NHWC, a fixed batch, int64 label + probability outputs (with and without
ZipMap), regressors, external weights; and labels the model cannot produce."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from harness.cli.commands import cli
from harness.measure.formats import onnx_io
from harness.measure.inputs import plan_feeds

FAST = ["--min-runs", "5", "--min-seconds", "0"]
RNG = np.random.default_rng(11)


def _model(nodes, inputs, outputs, inits=None, opsets=(("", 17),)) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "g", inputs, outputs,
        [numpy_helper.from_array(v, k) for k, v in (inits or {}).items()],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])
    model.ir_version = 8
    return model


def _info(name: str, dims: list, kind: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, kind, dims)


def _bench(tmp_path: Path, model: onnx.ModelProto, db: bool = False, *extra: str, **arrays):
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    np.savez(tmp_path / "d.npz", **arrays)
    args = ["bench", str(path), "--data", str(tmp_path / "d.npz"), *FAST, *extra]
    if db:
        args += ["--store", "--db", str(tmp_path / "r.db")]
    result = CliRunner().invoke(cli, args)
    rows = {line.split()[0]: line for line in result.output.splitlines()[2:] if line.strip()}
    return result, rows


def _stored(tmp_path: Path) -> dict[str, tuple]:
    db = sqlite3.connect(tmp_path / "r.db")
    rows = db.execute(
        "SELECT runtime, status, accuracy, parity_max_abs, details_json FROM candidates"
    )
    return {r[0]: (r[1], r[2], r[3], json.loads(r[4])) for r in rows}


def test_a_dense_n_1_64_64_output_is_measured_without_a_score(tmp_path: Path) -> None:
    """A (N, 1, 64, 64) mask head: no accuracy, but both runtimes run and agree."""
    w = RNG.normal(size=(1, 3, 3, 3)).astype(np.float32)
    model = _model(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("Sigmoid", ["c"], ["mask"])],
        [_info("x", ["N", 3, 64, 64])], [_info("mask", ["N", 1, 64, 64])], {"w": w},
    )  # fmt: skip
    x = RNG.normal(size=(4, 3, 64, 64)).astype(np.float32)
    result, rows = _bench(tmp_path, model, True, x=x, y=np.arange(4))
    assert result.exit_code == 0, result.output
    assert rows["onnxruntime"].split()[1:3] == ["ok", "-"]
    assert rows["litert"].split()[1:3] == ["ok", "-"]
    stored = _stored(tmp_path)
    assert stored["onnxruntime"][1] is None and stored["onnxruntime"][3]["task"] == "none"
    status, accuracy, parity, details = stored["litert"]
    assert (status, accuracy) == ("ok", None) and parity < 1e-5
    assert details["parity"][0]["output"] == 0 and details["parity"][0]["max_rel"] < 1e-5


def test_two_inputs_by_name_and_a_whole_fed_scale(tmp_path: Path) -> None:
    """x and 'offset' per sample, 'scale' (1,) given whole to every call."""
    w = RNG.normal(size=(3, 6)).astype(np.float32)
    model = _model(
        [helper.make_node("Add", ["x", "offset"], ["s"]), helper.make_node("Mul", ["s", "scale"], ["t"]),
         helper.make_node("Gemm", ["t", "w"], ["logits"], transB=1)],
        [_info("x", ["N", 6]), _info("offset", ["N", 6]), _info("scale", [1])],
        [_info("logits", ["N", 3])], {"w": w},
    )  # fmt: skip
    x, offset = (RNG.normal(size=(90, 6)).astype(np.float32) for _ in range(2))
    scale = np.array([0.5], np.float32)
    predicted = (((x + offset) * 0.5) @ w.T).argmax(1)
    y = predicted.copy()
    y[:18] = (y[:18] + 1) % 3  # a fifth of the labels disagree: accuracy 80.00%
    result, rows = _bench(tmp_path, model, False, x=x, offset=offset, scale=scale, y=y)
    assert result.exit_code == 0, result.output
    assert "80.00%" in rows["onnxruntime"] and "80.00%" in rows["litert"]
    assert "agrees with onnxruntime on 100.0%" in rows["litert"]


def test_a_missing_or_misshapen_input_is_one_line(tmp_path: Path) -> None:
    model = _model(
        [helper.make_node("Add", ["x", "offset"], ["y"])],
        [_info("x", ["N", 6]), _info("offset", ["N", 6])], [_info("y", ["N", 6])],
    )  # fmt: skip
    x = np.zeros((5, 6), np.float32)
    result, _ = _bench(tmp_path, model, False, x=x)
    assert result.exit_code == 2
    assert "input 'offset' (float32 (N, 6)) has no array; add one named 'offset'" in result.output
    result, _ = _bench(tmp_path, model, False, x=x, offset=np.zeros((5, 4), np.float32))
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "input 'offset' takes (N, 6) but the .npz gives (5, 4)" in result.output
    result, _ = _bench(tmp_path, model, False, x=x, offset=np.zeros((5, 6), np.int64))
    assert "input 'offset' takes float32 but the .npz gives int64" in result.output


def _nhwc_classifier() -> tuple[onnx.ModelProto, np.ndarray]:
    w = RNG.normal(size=(4, 3, 3, 3)).astype(np.float32)
    model = _model(
        [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
         helper.make_node("Conv", ["t", "w"], ["c"]),
         helper.make_node("GlobalAveragePool", ["c"], ["g"]),
         helper.make_node("Flatten", ["g"], ["logits"])],
        [_info("x", ["N", 8, 8, 3])], [_info("logits", ["N", 4])], {"w": w},
    )  # fmt: skip
    return model, w


def test_nhwc_model_layout_is_checked_and_transposed_on_request(tmp_path: Path) -> None:
    model, _ = _nhwc_classifier()
    nhwc = RNG.normal(size=(40, 8, 8, 3)).astype(np.float32)
    y = np.arange(40) % 4
    result, rows = _bench(tmp_path, model, False, x=nhwc, y=y)
    assert result.exit_code == 0, result.output
    expected = rows["onnxruntime"].split()[2]
    assert rows["litert"].split()[2] == expected
    nchw = np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))
    result, _ = _bench(tmp_path, model, False, x=nchw, y=y)
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "x is (40, 3, 8, 8), NCHW (N, C, H, W), but input 'x' takes (N, 8, 8, 3), NHWC" in (
        result.output
    )
    assert "x.transpose(0, 2, 3, 1) or pass --layout nchw" in result.output
    result, rows = _bench(tmp_path, model, False, "--layout", "nchw", x=nchw, y=y)
    assert result.exit_code == 0, result.output
    assert rows["onnxruntime"].split()[2] == expected


def test_a_fixed_batch_of_one_is_fed_one_sample_at_a_time(tmp_path: Path) -> None:
    w = RNG.normal(size=(3, 6)).astype(np.float32)
    model = _model(
        [helper.make_node("Gemm", ["x", "w"], ["logits"], transB=1)],
        [_info("x", [1, 6])], [_info("logits", [1, 3])], {"w": w},
    )  # fmt: skip
    x = RNG.normal(size=(50, 6)).astype(np.float32)
    y = (x @ w.T).argmax(1)
    y[:5] = (y[:5] + 1) % 3  # 45 of 50 right
    result, rows = _bench(tmp_path, model, True, x=x, y=y)
    assert result.exit_code == 0, result.output
    for runtime in ("onnxruntime", "litert"):
        assert "90.00%" in rows[runtime] and "fixed batch 1" in rows[runtime]
    assert _stored(tmp_path)["litert"][3]["latency"]["batch"] == 1


def test_dynamic_batch_written_as_minus_one_is_dynamic(tmp_path: Path) -> None:
    model = _model(
        [helper.make_node("Relu", ["x"], ["y"])], [_info("x", [-1, 4])], [_info("y", [-1, 4])]
    )
    onnx.save(model, tmp_path / "p.onnx")
    feeds = plan_feeds(onnx_io(tmp_path / "p.onnx"), {"x": np.zeros((7, 4), np.float32)}, "d")
    assert feeds.batch is None and feeds.per_sample == ("x",) and feeds.n == 7


def test_a_state_input_sharing_the_batch_name_fixes_the_batch(tmp_path: Path) -> None:
    """A voice-activity-style model: input (batch, 4), state (2, batch, 3), sr scalar."""
    model = _model(
        [helper.make_node("Mul", ["state", "two"], ["state_out"]),
         helper.make_node("ReduceSum", ["x"], ["prob"], keepdims=1, axes=[1]),
         helper.make_node("Cast", ["sr"], ["srf"], to=TensorProto.FLOAT),
         helper.make_node("Mul", ["prob", "srf"], ["out"])],
        [_info("input", ["batch", 4]), _info("state", [2, "batch", 3]), _info("sr", [], TensorProto.INT64)],
        [_info("out", ["batch", 1]), _info("state_out", [2, "batch", 3])],
        {"two": np.array(2.0, np.float32)}, opsets=(("", 12),),
    )  # fmt: skip
    model.graph.node[1].input[0] = "input"
    onnx.save(model, tmp_path / "v.onnx")
    arrays = {"x": np.ones((6, 4)), "state": np.zeros((2, 1, 3)), "sr": np.array(16000)}
    feeds = plan_feeds(onnx_io(tmp_path / "v.onnx"), arrays, "d")
    assert feeds.batch == 1 and feeds.per_sample == ("input",)
    assert feeds.arrays["input"].dtype == np.float32 and feeds.arrays["sr"].dtype == np.int64
    result, rows = _bench(tmp_path, model, True, "--runtime", "onnxruntime", **arrays)
    assert result.exit_code == 0, result.output
    assert "fixed batch 1" in rows["onnxruntime"]


def _sklearn_like(zipmap: bool, string_labels: bool = False) -> onnx.ModelProto:
    """skl2onnx's classifier layout: int64 label first, then the probabilities (as a list
    of maps when ZipMap is on)."""
    w = RNG.normal(size=(4, 3)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["scores"]),
             helper.make_node("Softmax", ["scores"], ["probabilities"], axis=1),
             helper.make_node("ArgMax", ["scores"], ["label"], axis=1, keepdims=0)]  # fmt: skip
    outputs = [_info("label", ["N"], TensorProto.INT64)]
    if string_labels:  # class names as strings, as skl2onnx writes them for string classes
        nodes[-1].output[0] = "index"
        nodes.append(helper.make_node("Cast", ["index"], ["label"], to=TensorProto.STRING))
        outputs = [_info("label", ["N"], TensorProto.STRING)]
    opsets: tuple = (("", 17),)
    if zipmap:
        nodes.append(helper.make_node("ZipMap", ["probabilities"], ["output_probability"],
                                      domain="ai.onnx.ml", classlabels_int64s=[0, 1, 2]))  # fmt: skip
        seq = helper.make_sequence_type_proto(
            helper.make_map_type_proto(TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, []))
        )  # fmt: skip
        outputs.append(helper.make_value_info("output_probability", seq))
        opsets = (("", 17), ("ai.onnx.ml", 1))
    else:
        outputs.append(_info("probabilities", ["N", 3]))
    return _model(nodes, [_info("x", ["N", 4])], outputs, {"w": w}, opsets)


def test_label_and_probability_outputs_with_and_without_zipmap(tmp_path: Path) -> None:
    for zipmap, strings in ((False, False), (True, False), (False, True)):
        model = _sklearn_like(zipmap, strings)
        x = RNG.normal(size=(60, 4)).astype(np.float32)
        w = numpy_helper.to_array(model.graph.initializer[0])
        y = (x @ w).argmax(1)
        y[:15] = (y[:15] + 1) % 3  # 75.00%
        result, rows = _bench(tmp_path, model, False, "--runtime", "onnxruntime", x=x, y=y)
        assert result.exit_code == 0, result.output
        assert "75.00%" in rows["onnxruntime"], (zipmap, result.output)


def test_labels_the_model_cannot_produce_are_refused(tmp_path: Path) -> None:
    model, _ = _nhwc_classifier()
    x = RNG.normal(size=(10, 8, 8, 3)).astype(np.float32)
    for bad, message in ((7, "y holds class 7 but the model scores 4 classes"), (-1, "y holds -1")):
        y = np.zeros(10, np.int64)
        y[3] = bad
        result, _ = _bench(tmp_path, model, False, x=x, y=y)
        assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
        assert message in result.output


def test_a_regressor_gets_mae_not_accuracy(tmp_path: Path) -> None:
    """(N, 1) outputs against float targets: MAE, never a class accuracy."""
    w = np.array([[2.0]], np.float32)
    model = _model(
        [helper.make_node("MatMul", ["x", "w"], ["value"])],
        [_info("x", ["N", 1])], [_info("value", ["N", 1])], {"w": w},
    )  # fmt: skip
    x = np.linspace(-1, 1, 20, dtype=np.float32).reshape(20, 1)
    y = (2 * x[:, 0] + 0.25).astype(np.float32)  # every prediction is 0.25 off
    result, rows = _bench(tmp_path, model, True, x=x, y=y)
    assert result.exit_code == 0, result.output
    assert "MAE 0.25" in rows["onnxruntime"] and "MAE 0.25" in rows["litert"]
    status, accuracy, _, details = _stored(tmp_path)["onnxruntime"]
    assert accuracy is None and details["task"] == "regress"
    assert abs(details["regression"]["rmse"] - 0.25) < 1e-6
    # Every error is exactly 0.25: MAE's interval has no width, and the columns hold it too.
    db = sqlite3.connect(tmp_path / "r.db")
    stored = db.execute("SELECT mae, mae_low, mae_high, rmse FROM candidates").fetchall()
    assert stored and all(r == pytest.approx((0.25,) * 4, abs=1e-6) for r in stored)


def test_external_weights_from_another_folder_count_in_the_size(tmp_path: Path) -> None:
    w = RNG.normal(size=(3, 64)).astype(np.float32)
    model = _model(
        [helper.make_node("Gemm", ["x", "w"], ["logits"], transB=1)],
        [_info("x", ["N", 64])], [_info("logits", ["N", 3])], {"w": w},
    )  # fmt: skip
    folder = tmp_path / "vendor"
    folder.mkdir()
    onnx.save(model, folder / "ext.onnx", save_as_external_data=True, location="ext.data",
              size_threshold=0)  # fmt: skip
    graph_size, data_size = (os.path.getsize(folder / f) for f in ("ext.onnx", "ext.data"))
    x = RNG.normal(size=(30, 64)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=(x @ w.T).argmax(1))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    cwd = os.getcwd()
    try:
        os.chdir(elsewhere)
        args = ["bench", str(folder / "ext.onnx"), "--data", str(tmp_path / "d.npz"), *FAST,
                "--store", "--db", str(tmp_path / "r.db")]  # fmt: skip
        result = CliRunner().invoke(cli, args)
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    db = sqlite3.connect(tmp_path / "r.db")
    rows = dict(
        db.execute("SELECT runtime, file_bytes FROM candidates WHERE runtime = 'onnxruntime'")
    )
    assert rows["onnxruntime"] == graph_size + data_size
    assert "100.00%" in result.output


def test_the_leaderboard_lists_unscored_candidates_as_ok_without_accuracy(tmp_path: Path) -> None:
    from harness.report.data import leaderboard_table
    from harness.store.results import Store

    model = _model(
        [helper.make_node("Relu", ["x"], ["y"])], [_info("x", ["N", 4])], [_info("y", ["N", 4])]
    )
    result, _ = _bench(tmp_path, model, True, x=RNG.normal(size=(8, 4)).astype(np.float32))
    assert result.exit_code == 0, result.output
    with Store.open_existing(tmp_path / "r.db") as store:
        records = store.candidates(store.runs()[-1].id)
    table = leaderboard_table(records, set(), inline=True)
    cells = [[c.text for c in row.cells] for row in table.rows]
    assert len(cells) == 2
    assert not any("accuracy" in c.label for c in table.columns)  # nothing scored: no column
    for row in cells:
        assert row[5].endswith("KB") and row[-1] == "ok"
