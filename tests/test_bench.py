"""`harness bench` on a user-style file: a model and data the user brings."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import onnx
from click.testing import CliRunner

from harness.cli.commands import cli
from tests.helpers.graphs import gemm_model

FAST = ["--min-runs", "10", "--min-seconds", "0"]


def _user_files(tmp_path: Path) -> tuple[Path, Path, float]:
    model = gemm_model(seed=4, n_in=6, n_out=3)
    path = tmp_path / "user.onnx"
    onnx.save(model, path)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    w = onnx.numpy_helper.to_array(model.graph.initializer[0])
    b = onnx.numpy_helper.to_array(model.graph.initializer[1])
    predicted = (x @ w.T + b).argmax(1)
    y = predicted.copy()
    y[:30] = (y[:30] + 1) % 3  # a quarter of the labels disagree with the model
    np.savez(tmp_path / "data.npz", x=x, y=y)
    return path, tmp_path / "data.npz", float((predicted == y).mean())


def test_bench_an_onnx_file_on_both_runtimes_and_store_it(tmp_path: Path) -> None:
    model, data, expected = _user_files(tmp_path)
    db = tmp_path / "r.db"
    result = CliRunner().invoke(
        cli, ["bench", str(model), "--data", str(data), *FAST, "--store", "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[2:] if line.strip()}
    assert f"{expected * 100:.2f}%" in lines["onnxruntime"]
    assert f"{expected * 100:.2f}%" in lines["litert"]
    assert "agrees with onnxruntime on 100.0%" in lines["litert"]
    rows = (
        sqlite3.connect(db).execute("SELECT runtime, status, accuracy FROM candidates").fetchall()
    )
    assert sorted(rows) == [("litert", "ok", expected), ("onnxruntime", "ok", expected)]


def test_bench_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    model, data, _ = _user_files(tmp_path)
    runner = CliRunner()
    cases = [
        (["bench", str(tmp_path / "x.pt"), "--data", str(data)], "no such model file"),
        (["bench", str(data), "--data", str(data)], "unknown model format '.npz'"),
        (["bench", str(model), "--data", str(tmp_path / "none.npz")], "none.npz: no such file"),
        (["bench", str(model), "--data", str(data), "--runtime", "tvm"], "runtime tvm cannot run"),
    ]
    for args, message in cases:
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert result.output.count("\n") == 1 and message in result.output, result.output


def test_a_model_no_runtime_runs_gives_reasons_and_exit_1(tmp_path: Path) -> None:
    """A valid ONNX file with a framework's custom op: each runtime's reason, then exit 1."""
    _, data, _ = _user_files(tmp_path)
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Fancy", ["input"], ["logits"], domain="com.vendor")], "g",
        [onnx.helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, ["N", 6])],
        [onnx.helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["N", 3])],
    )  # fmt: skip
    custom = onnx.helper.make_model(
        graph,
        opset_imports=[onnx.helper.make_opsetid("", 17), onnx.helper.make_opsetid("com.vendor", 1)],
    )
    path = tmp_path / "custom.onnx"
    onnx.save(custom, path)
    result = CliRunner().invoke(cli, ["bench", str(path), "--data", str(data), *FAST])
    assert result.exit_code == 1, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines()[2:] if " failed " in line}
    assert "com.vendor.Fancy" in rows["litert"] and "custom domain" in rows["litert"]
    assert "Fancy" in rows["onnxruntime"]
    assert "no runtime produced a result for custom.onnx" in result.output


def test_a_file_that_is_not_onnx_is_one_line_exit_2(tmp_path: Path) -> None:
    _, data, _ = _user_files(tmp_path)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x00garbage")
    result = CliRunner().invoke(cli, ["bench", str(broken), "--data", str(data), *FAST])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and "broken.onnx: not a valid ONNX model" in result.output
