"""Scores by task on stored rows: regression models ranked and put on fronts by MAE (lower
is better), unscored models by size and latency, each task on its own; the leaderboard's
columns follow the tasks present; compare and select say what they can decide."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from harness.cli.commands import cli
from harness.report import scores, ties
from harness.report.compare import compare_runs, parse_thresholds, threshold_problem
from harness.report.data import leaderboard_table, rank
from harness.report.select import Budget, select
from harness.store.results import CandidateRecord
from tests.helpers.records import record, write_runs


def _reg(
    key: str, mae: float, size: int, p50: float, half: float = 0.001, **f: object
) -> CandidateRecord:
    metrics = {"mae": mae, "mae_low": mae - half, "mae_high": mae + half, "rmse": mae * 1.3,
               "file_bytes": size, "latency_p50_ms": p50}  # fmt: skip
    return record(key, metrics=metrics, details={"task": "regress"}, model="reg", **f)  # type: ignore[arg-type]


def _none(key: str, size: int, p50: float, **f: object) -> CandidateRecord:
    metrics = {"file_bytes": size, "latency_p50_ms": p50}
    return record(key, metrics=metrics, details={"task": "none"}, model="unet", **f)  # type: ignore[arg-type]


def _acc(key: str, acc: float, size: int, p50: float, **f: object) -> CandidateRecord:
    metrics = {"accuracy": acc, "accuracy_low": acc - 0.001, "accuracy_high": acc + 0.001,
               "file_bytes": size, "latency_p50_ms": p50}  # fmt: skip
    return record(key, metrics=metrics, **f)  # type: ignore[arg-type]


def test_regression_rows_rank_lower_error_first_and_its_front_minimises_error() -> None:
    rows = [
        _reg("fp32", 0.10, 4000, 1.0, id=1),
        _reg("int8", 0.11, 1000, 1.0, id=2),  # smaller, a little worse: on the front
        _reg("prune", 0.50, 4000, 1.0, id=3),  # as big, as fast, worse: dominated
    ]
    assert [r.compression for r in rank(rows)] == ["fp32", "int8", "prune"]
    assert {r.compression for r in ties.front(rows)} == {"fp32", "int8"}
    pick = ties.best(rows)
    assert pick is not None and pick.record.compression == "fp32" and not pick.tied
    # Inside each other's interval: tied on MAE, so the smaller wins and says so.
    close = [
        _reg("fp32", 0.100, 4000, 1.0, half=0.02, id=1),
        _reg("int8", 0.105, 1000, 1.0, half=0.02, id=2),
    ]
    pick = ties.best(close)
    assert pick is not None and pick.record.compression == "int8"
    assert pick.tied_text().startswith("tied on MAE with none · fp32 · onnxruntime")


def _paired(key: str, errors: np.ndarray, **f: object) -> CandidateRecord:
    """A regression row with its per-sample errors stored, its interval as measured."""
    mae, half = float(errors.mean()), 1.96 * float(errors.std(ddof=1)) / np.sqrt(len(errors))
    r = _reg(key, mae, 1000, 1.0, half=half, **f)
    packed = errors.astype("<f4").tobytes().hex()
    return dataclasses.replace(r, details={"task": "regress", "sample_errors": packed})


def test_mae_ties_are_decided_by_a_paired_test_on_the_same_samples() -> None:
    base = np.random.default_rng(0).gamma(2.0, 0.05, 200)
    # Worse on every sample by 0.002: the intervals overlap wholly, the pairs do not.
    shifted = [_paired("fp32", base, id=1), _paired("int8", base + 0.002, id=2)]
    t = ties.Ties.of(shifted)
    assert t.errors is not None and t.high[1] > t.low[0]  # the intervals alone would tie them
    assert list(t.accuracy_tied(0)) == [True, False]
    # The same errors in another order per sample: equal MAE, tied.
    shuffled = [_paired("fp32", base, id=1), _paired("int8", np.roll(base, 1), id=2)]
    assert list(ties.Ties.of(shuffled).accuracy_tied(0)) == [True, True]
    # Without per-sample errors the interval rule stands in.
    assert ties.Ties.of([_reg("a", 0.1, 1, 1.0), _reg("b", 0.2, 1, 1.0)]).errors is None


def test_unscored_rows_are_ranked_and_fronted_by_size_and_latency_alone() -> None:
    rows = [_none("a", 4000, 1.0, id=1), _none("b", 1000, 3.0, id=2), _none("c", 4000, 3.0, id=3)]
    assert [r.compression for r in rank(rows)] == ["b", "a", "c"]
    assert {r.compression for r in ties.front(rows)} == {"a", "b"}


def test_tasks_are_never_ranked_against_each_other() -> None:
    # An MAE of 0.9 is not "more" than an accuracy of 0.5: each task has its own front.
    rows = [
        _acc("acc", 0.5, 9000, 9.0, id=1),
        _reg("reg", 0.9, 100, 0.1, id=2),
        _none("n", 50, 0.05, id=3),
    ]
    assert {r.compression for r in ties.front(rows)} == {"acc", "reg", "n"}
    assert [scores.task_of(r) for r in rank(rows)] == ["classify", "regress", "none"]


def test_the_leaderboard_shows_each_present_tasks_score_and_dashes_for_the_others() -> None:
    mixed = leaderboard_table(
        [_acc("acc", 0.9, 100, 1.0, id=1), _none("n", 50, 0.5, id=2)], set(), True
    )
    labels = [c.label for c in mixed.columns]
    assert "accuracy [95% CI]" in labels and "MAE [95% CI]" not in labels
    at = labels.index("accuracy [95% CI]")
    assert [(r.cells[1].text, r.cells[at].text) for r in mixed.rows] == [
        ("cnn", "90.0% [89.9, 90.1]"),
        ("unet", "–"),
    ]
    assert all(r.kind == "ok" and r.cells[-1].text == "ok" for r in mixed.rows)
    alone = leaderboard_table([_none("n", 50, 0.5, id=2)], set(), True)
    assert not any("accuracy" in c.label or "MAE" in c.label for c in alone.columns)
    assert [f.column for f in alone.filters] == [4, len(alone.columns) - 1]
    regress = leaderboard_table([_reg("r", 0.0123, 50, 0.5, id=3)], set(), True)
    labels = [c.label for c in regress.columns]
    row = regress.rows[0].cells
    assert row[labels.index("MAE [95% CI]")][:2] == ("0.0123 [0.0113, 0.0133]", 0.0123)
    assert row[labels.index("RMSE")].text == "0.016"


def test_compare_reports_an_mae_change_as_a_plain_difference_and_gates_on_it(
    tmp_path: Path,
) -> None:
    base = [_reg("int8", 0.100, 1000, 1.0, half=0.01)]
    head = [_reg("int8", 0.104, 1000, 1.0, half=0.01)]
    db = write_runs(tmp_path / "r.db", [base, head])
    runner = CliRunner()
    ok = runner.invoke(cli, ["compare", "--db", str(db), "--fail-on", "mae>+5%"])
    assert ok.exit_code == 0, ok.output
    line = next(x for x in ok.output.splitlines() if " mae " in x)
    assert "+4.0%" in line and "plain difference; inside both 95% intervals (tied)" in line
    failed = runner.invoke(cli, ["compare", "--db", str(db), "--fail-on", "mae>+3%"])
    assert failed.exit_code == 1 and "FAIL mae>+3%" in failed.output
    refused = runner.invoke(cli, ["compare", "--db", str(db), "--fail-on", "accuracy<-1pt"])
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines()[-1] == (
        "harness: error: --fail-on: accuracy<-1pt: no candidate of these runs has accuracy "
        "(their tasks: regress); use mae or rmse"
    )


def test_compare_pairs_mae_changes_on_the_test_samples_when_both_runs_kept_them() -> None:
    errors = np.random.default_rng(3).gamma(2.0, 0.05, 200)
    (rule,) = parse_thresholds("mae>+1%")
    worse = compare_runs(
        *_runs(), [_paired("int8", errors)], [_paired("int8", errors + 0.002)], [rule]
    )
    (mae,) = [c for c in worse if c.metric == "mae"]
    assert mae.note == "plain difference; paired on the test samples: beyond the noise"
    assert mae.crossed == ("mae>+1%",)  # the gate is the plain difference, as stated
    same = compare_runs(
        *_runs(), [_paired("int8", errors)], [_paired("int8", np.roll(errors, 1))], []
    )
    assert [c.note for c in same if c.metric == "mae"] in (
        [],
        ["plain difference; paired on the test samples: within the noise (tied)"],
    )


def test_compare_and_select_on_unscored_rows_decide_on_size_and_latency(tmp_path: Path) -> None:
    rows = [_none("fp32", 4000, 1.0), _none("int8", 1000, 1.0)]
    (rule,) = parse_thresholds("accuracy<-0.5pt")
    assert threshold_problem([rule], rows) == (
        "--fail-on: accuracy<-0.5pt: no candidate of these runs has accuracy (their tasks: "
        "none); gate on size and p50"
    )
    assert compare_runs(*_runs(), rows, rows, parse_thresholds("size>+0%")) == []
    assert [r.compression for r in select(rows, Budget(max_size=2000))] == ["int8"]
    db = write_runs(tmp_path / "r.db", [rows])
    out = CliRunner().invoke(cli, ["select", "--db", str(db), "--max-p50", "2ms"])
    assert out.exit_code == 0, out.output
    assert "picked on size and p50 only" in out.output and "score" in out.output


def _runs() -> tuple:
    from harness.store.results import Run

    run = Run(id=1, started_at="t", finished_at="t", status="complete", config={},
              config_hash="h", harness_version="0", git_revision=None, machine={},
              machine_hash="m", timings={})  # fmt: skip
    return run, run


def test_parse_error_reads_a_non_negative_number_and_refuses_the_rest() -> None:
    from harness.errors import ConfigError
    from harness.report.select import parse_error

    assert parse_error(" 0.05 ") == 0.05
    assert parse_error("0") == 0.0  # exactly at the limit: an error of 0 is a valid budget
    for text in ("-0.01", "abc", "nan", ""):
        try:
            parse_error(text)
        except ConfigError as e:
            assert str(e) == f"--max-mae: cannot read '{text}'; write a number >= 0, e.g. 0.05"
        else:
            raise AssertionError(f"{text!r} was accepted")


def test_budget_limits_list_every_constraint_in_order_with_its_label() -> None:
    budget = Budget(max_size=2048, max_p50=0.5, min_accuracy=0.9, max_mae=0.25)
    assert budget.limits() == [
        ("size <= 2 KB", "file_bytes", 2048),
        ("p50 <= 0.5 ms", "latency_p50_ms", 0.5),
        ("accuracy >= 0.9", "accuracy", 0.9),
        ("MAE <= 0.25", "mae", 0.25),
    ]


def test_a_score_budget_no_candidate_is_scored_by_is_named_with_what_applies() -> None:
    from harness.report.select import score_budget_problem

    regs = [_reg("a", 0.1, 100, 1.0)]
    unscored = [_none("u", 100, 1.0)]
    assert score_budget_problem(regs, Budget(min_accuracy=0.9)) == (
        "--min-accuracy: no candidate of this run is scored by accuracy (its tasks: regress);"
        " use --max-mae"
    )
    assert score_budget_problem(unscored, Budget(max_mae=0.1)) == (
        "--max-mae: no candidate of this run is scored by MAE (its tasks: none);"
        " budget --max-size and --max-p50 only"
    )
    failed = [record("f", status="failed")]
    assert score_budget_problem(failed, Budget(min_accuracy=0.9)) == (
        "--min-accuracy: no candidate of this run is scored by accuracy (its tasks: none"
        " measured); budget --max-size and --max-p50 only"
    )
    assert score_budget_problem(regs, Budget(max_mae=0.1)) is None
    assert score_budget_problem([_acc("c", 0.9, 1, 1.0), *unscored], Budget(max_mae=0.1)) == (
        "--max-mae: no candidate of this run is scored by MAE (its tasks: classify, none);"
        " use --min-accuracy"
    )
    assert score_budget_problem(regs + [_acc("c", 0.9, 1, 1.0)], Budget(min_accuracy=0.5)) is None
    assert score_budget_problem(regs, Budget(max_size=10)) is None


def test_what_a_pick_is_decided_on_is_said_per_task_present() -> None:
    from harness.report.select import decides

    regs, unscored, accs = (
        [_reg("a", 0.1, 100, 1.0)],
        [_none("u", 100, 1.0)],
        [_acc("c", 0.9, 1, 1.0)],
    )
    regress = "regression models: picked on MAE (lower is better), then size, then p50"
    none = (
        "models measured without a score: picked on size and p50 only (no accuracy or error"
        " to compare)"
    )
    apart = "each task is ranked on its own: an accuracy and an error are not one scale"
    assert decides(accs, Budget()) == []
    assert decides(regs, Budget()) == [regress]
    assert decides(unscored, Budget()) == [none]
    assert decides(accs + regs, Budget()) == [regress, apart]
    assert decides(accs + regs + unscored, Budget()) == [regress, none, apart]
    # decided on what is eligible: the regressor is not on this runtime
    assert decides(accs + regs, Budget(runtime="litert")) == []


def test_an_mae_budget_admits_a_model_exactly_at_it_and_explains_when_none_fits() -> None:
    from harness.report.select import explain_none

    regs = [_reg("a", 0.1, 4096, 1.0), _reg("b", 0.3, 1024, 0.5), _reg("c", 0.2, 2048, 2.0)]
    assert [r.key for r in select(regs, Budget(max_mae=0.2))] == ["a", "c"]  # b is over
    picked = [r.key for r in select(regs, Budget(max_mae=0.2, max_size=2048))]
    assert picked == ["c"]  # 0.2 is exactly the limit: within it
    assert [r.key for r in select(regs, Budget(max_mae=0.19999, max_size=2048))] == []
    assert explain_none(regs, Budget(max_mae=0.15, max_size=2048)) == [
        "size <= 2 KB: 2 of 3 candidates meet it alone; smallest under the other limits: 4.0 KB"
        " <- binds: relaxing it alone admits a candidate",
        "MAE <= 0.15: 1 of 3 candidates meet it alone; lowest MAE under the other limits: 0.2"
        " <- binds: relaxing it alone admits a candidate",
    ]
