"""Models trained elsewhere: an ONNX file swept through compression and runtimes, untrained.

The imported model is a logistic regression fitted by scikit-learn on the digits training
split and written as Flatten -> Gemm, so its accuracy is known independently of the harness.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import numpy_helper

from harness.cli.commands import cli
from tests.helpers.cli import folder_args
from tests.helpers.configs import chains, latency_table, sweep_config
from tests.helpers.imported_models import SEED, logistic_onnx
from tests.helpers.site_tables import table_cells

EVERY_KIND = {
    **chains("fp32", "int8", "prune 50%"),
    "svd r8": [{"pass": "svd", "rank": 8}],
    "prune ft": {"steps": [{"pass": "prune", "ratio": 0.5}], "finetune_epochs": 2},
}
TWO = chains("fp32", "int8")


def _config(
    logreg: dict[str, str] | None = None,
    normalize: bool = False,
    compression: dict[str, Any] = EVERY_KIND,
) -> str:
    """The sweep of the imported logistic regression (no training, no policies)."""
    return sweep_config(
        "imported",
        SEED,
        dataset={"name": "digits", "normalize": normalize},
        models={"logreg": logreg or {"onnx": "logreg.onnx"}},
        compression=compression,
        runtimes=("onnxruntime", "litert"),
        latency=latency_table(2, 10),
    )


CONFIG = _config()


def test_an_imported_model_is_compressed_and_measured_not_trained(tmp_path: Path) -> None:
    expected = logistic_onnx(tmp_path / "logreg.onnx")
    (tmp_path / "sweep.toml").write_text(CONFIG)
    runner = CliRunner()
    first = runner.invoke(cli, ["run", str(tmp_path / "sweep.toml"), *folder_args(tmp_path)])
    assert first.exit_code == 3, first.output  # completed, with failed candidates
    assert "8 candidates measured, 2 failed" in first.output
    assert "2 of 10 candidates failed; first reasons:" in first.output
    assert "models: 0 trained, 1 imported, 0 reused from cache" in first.output

    db = sqlite3.connect(tmp_path / "r.db")
    rows = {
        (c, rt): (policy, status, acc, size, error)
        for policy, c, rt, status, acc, size, error in db.execute(
            "SELECT policy, compression, runtime, status, accuracy, file_bytes, error"
            " FROM candidates"
        )
    }
    assert {r[0] for r in rows.values()} == {"pretrained"}
    # The harness measures the same accuracy scikit-learn does, on both runtimes.
    for runtime in ("onnxruntime", "litert"):
        assert rows[("fp32", runtime)][1] == "ok"
        assert rows[("fp32", runtime)][2] == pytest.approx(expected, abs=1e-9)
    assert rows[("int8", "onnxruntime")][3] < 0.5 * rows[("fp32", "onnxruntime")][3]
    assert rows[("int8", "onnxruntime")][2] > expected - 0.02
    for compression in ("prune 50%", "svd r8"):
        assert rows[(compression, "onnxruntime")][1] == "ok"
    failed = rows[("prune ft", "onnxruntime")]
    assert failed[1] == "failed" and "finetune works on built-in models only" in failed[4]

    page = next((tmp_path / "site" / "candidates").glob("*.html")).read_text()
    assert "trained elsewhere (imported ONNX file)" in page

    second = runner.invoke(cli, ["run", str(tmp_path / "sweep.toml"), *folder_args(tmp_path)])
    assert "models: 0 trained, 1 reused from cache" in second.output


def test_a_fixed_batch_of_one_is_swept_one_sample_at_a_time(tmp_path: Path) -> None:
    """A vendor's file with batch 1 baked in: fed and timed at batch 1, same accuracy."""
    expected = logistic_onnx(tmp_path / "logreg.onnx", input_dims=(1, 1, 8, 8))
    text = _config(compression=TWO)
    (tmp_path / "sweep.toml").write_text(text)
    result = CliRunner().invoke(cli, ["run", str(tmp_path / "sweep.toml"), *folder_args(tmp_path)])
    assert result.exit_code == 0, result.output
    db = sqlite3.connect(tmp_path / "r.db")
    rows = db.execute("SELECT compression, runtime, status, accuracy, details_json FROM candidates")
    seen = {(c, rt): (status, acc, details) for c, rt, status, acc, details in rows}
    assert len(seen) == 4 and all(v[0] == "ok" for v in seen.values()), seen
    for runtime in ("onnxruntime", "litert"):
        assert seen[("fp32", runtime)][1] == pytest.approx(expected, abs=1e-9)
        assert '"batch": 1' in seen[("fp32", runtime)][2]


@pytest.mark.parametrize(
    ("make", "edit", "message"),
    [
        (
            {"input_dims": ("batch", 1, 4, 4)},
            {},
            "harness: error: models.logreg: the model takes input (batch, 1, 4, 4) but the "
            "dataset gives (batch, 1, 8, 8) (images as N, C, H, W); export it for this data",
        ),
        (
            {"n_classes": 3},
            {},
            "harness: error: models.logreg: the model returns 3 scores per sample but the "
            "dataset has 10 classes",
        ),
        (
            {},
            {"normalize": True},
            "sweep.toml:dataset.normalize: models.logreg is a model trained elsewhere, fed the "
            "samples as stored; set normalize = false",
        ),
        (
            {},
            {"logreg": {"onnx": "logreg.onnx", "arch": "mlp"}},
            "sweep.toml:models.logreg.arch: give either arch (a built-in model to train) or "
            "onnx (your own trained model file), not both",
        ),
        (
            {},
            {"logreg": {"onnx": "missing.onnx"}},
            "sweep.toml:models.logreg.onnx: missing.onnx: no such file (relative to the "
            "config file)",
        ),
        (
            {},
            {"logreg": {"onnx": "sweep.toml"}},
            "sweep.toml:models.logreg.onnx: sweep.toml: not a valid ONNX model",
        ),
    ],
)
def test_a_model_that_does_not_fit_stops_the_sweep_with_one_line(
    tmp_path: Path, make: dict, edit: dict, message: str
) -> None:
    logistic_onnx(tmp_path / "logreg.onnx", **make)
    (tmp_path / "sweep.toml").write_text(_config(**edit))
    result = CliRunner().invoke(cli, ["run", str(tmp_path / "sweep.toml"), *folder_args(tmp_path)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert "Traceback" not in result.output
    if (tmp_path / "r.db").exists():  # nothing was recorded: the check ran before the run
        assert sqlite3.connect(tmp_path / "r.db").execute(
            "SELECT count(*) FROM runs"
        ).fetchone() == (0,)


def test_the_sweep_keys_an_imported_model_by_its_content(tmp_path: Path) -> None:
    from harness.config.load import load_config
    from harness.sweep.plan import make_plan

    logistic_onnx(tmp_path / "logreg.onnx")
    (tmp_path / "sweep.toml").write_text(CONFIG)
    before = make_plan(load_config(tmp_path / "sweep.toml"))
    assert [(t.model.name, t.policy.name) for t in before.trains] == [("logreg", "pretrained")]
    model = onnx.load(tmp_path / "logreg.onnx")
    model.graph.initializer[1].float_data[:] = []  # a different bias: a different model
    b = numpy_helper.to_array(model.graph.initializer[1]) + 1
    model.graph.initializer[1].CopyFrom(numpy_helper.from_array(b.astype(np.float32), "B"))
    onnx.save(model, tmp_path / "logreg.onnx")
    after = make_plan(load_config(tmp_path / "sweep.toml"))
    assert before.trains[0].key != after.trains[0].key
    assert {c.key for c in before.candidates}.isdisjoint(c.key for c in after.candidates)


def test_task_none_measures_a_feature_extractor_without_scoring_it(tmp_path: Path) -> None:
    """16 features per sample for a 10-class dataset: refused as a classifier, measured
    (latency, size, parity) with task = "none"."""
    logistic_onnx(tmp_path / "logreg.onnx", n_classes=16)
    (tmp_path / "sweep.toml").write_text(_config(compression=TWO))
    runner = CliRunner()
    refused = runner.invoke(cli, ["run", str(tmp_path / "sweep.toml"), *folder_args(tmp_path)])
    assert refused.exit_code == 2 and "returns 16 scores per sample" in refused.output
    text = _config({"onnx": "logreg.onnx", "task": "none"}, compression=TWO)
    (tmp_path / "sweep.toml").write_text(text)
    result = runner.invoke(cli, ["run", str(tmp_path / "sweep.toml"), *folder_args(tmp_path)])
    assert result.exit_code == 0, result.output
    db = sqlite3.connect(tmp_path / "r.db")
    rows = db.execute(
        "SELECT compression, runtime, status, accuracy, latency_p50_ms, parity_max_abs"
        " FROM candidates"
    ).fetchall()
    assert len(rows) == 4 and all(r[2] == "ok" and r[3] is None and r[4] > 0 for r in rows)
    litert_fp32 = next(r for r in rows if r[:2] == ("fp32", "litert"))
    assert litert_fp32[5] < 1e-4
    # Nothing scored in the run: the rendered leaderboard has no score column at all.
    columns, cells = table_cells((tmp_path / "site" / "index.html").read_text(), "leaderboard")
    assert not any("accuracy" in c or "MAE" in c for c in columns) and len(cells) == 4
    assert all(row[columns.index("status")][0] == "ok" for row in cells)
