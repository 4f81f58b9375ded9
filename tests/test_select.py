"""`harness select` picks what a brute-force check over the table picks."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from harness.cli.commands import cli
from harness.errors import ConfigError
from harness.report.data import fp32_baselines
from harness.report.modelcard import export_name
from harness.report.select import (
    Budget,
    parse_accuracy,
    parse_duration,
    parse_size,
    select,
    unknown_target,
)
from harness.store.results import CandidateRecord
from tests.helpers.records import write_runs


def _records(n: int = 60, seed: int = 0) -> list[CandidateRecord]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        out.append(
            CandidateRecord(
                key=f"k{i}", dataset="digits", model="cnn", policy=f"p{i % 3}",
                compression=f"c{i}", runtime=("onnxruntime", "litert")[i % 2],
                status="failed" if i % 17 == 0 else "ok", error=None,
                metrics={
                    "accuracy": round(float(rng.uniform(0.85, 0.99)), 3),
                    "file_bytes": int(rng.integers(5_000, 120_000)),
                    "latency_p50_ms": round(float(rng.uniform(0.01, 2.0)), 3),
                },
            )
        )  # fmt: skip
    return out


def _brute_force(records: list[CandidateRecord], budget: Budget) -> set[str]:
    ok = [
        r for r in records
        if r.status == "ok"
        and (budget.runtime is None or r.runtime == budget.runtime)
        and (budget.max_size is None or r.metrics["file_bytes"] <= budget.max_size)
        and (budget.max_p50 is None or r.metrics["latency_p50_ms"] <= budget.max_p50)
        and (budget.min_accuracy is None or r.metrics["accuracy"] >= budget.min_accuracy)
    ]  # fmt: skip

    def dominates(a: CandidateRecord, b: CandidateRecord) -> bool:
        # These rows have no per-sample results, intervals or rounds: accuracy ties only
        # when equal, latency within the 10% floor (LATENCY_TIE_FLOOR).
        ma, mb = a.metrics, b.metrics
        lat_tie = abs(math.log(ma["latency_p50_ms"] / mb["latency_p50_ms"])) <= math.log(1.1)
        no_worse = (
            ma["accuracy"] >= mb["accuracy"]
            and ma["file_bytes"] <= mb["file_bytes"]
            and (lat_tie or ma["latency_p50_ms"] < mb["latency_p50_ms"])
        )
        better = (
            ma["accuracy"] > mb["accuracy"]
            or ma["file_bytes"] < mb["file_bytes"]
            or (not lat_tie and ma["latency_p50_ms"] < mb["latency_p50_ms"])
        )
        return no_worse and better

    return {r.key for r in ok if not any(dominates(o, r) for o in ok)}


@pytest.mark.parametrize(
    "budget",
    [
        Budget(),
        Budget(max_size=64 * 1024),
        Budget(max_p50=0.5, min_accuracy=0.9),
        Budget(max_size=30_000, max_p50=1.0, runtime="litert"),
        Budget(min_accuracy=0.95, runtime="onnxruntime"),
    ],
)
def test_select_matches_brute_force(budget: Budget) -> None:
    records = _records()
    picks = select(records, budget)
    assert {r.key for r in picks} == _brute_force(records, budget)
    accuracies = [r.metrics["accuracy"] for r in picks]
    assert accuracies == sorted(accuracies, reverse=True)


def test_units_parse_and_bad_values_say_how_to_write_them() -> None:
    assert parse_size("64KB") == 65536 and parse_size("1.5MB") == 1.5 * 1024**2
    assert parse_size("2000") == 2000
    assert parse_duration("1ms") == 1.0 and parse_duration("250us") == 0.25
    assert parse_duration("0.002s") == 2.0
    assert parse_accuracy("97%") == pytest.approx(0.97) and parse_accuracy("0.9") == 0.9
    for parse, text in [
        (parse_size, "64 parsecs"),
        (parse_duration, "fast"),
        (parse_accuracy, "1.5"),
    ]:
        with pytest.raises(ConfigError, match="cannot read"):
            parse(text)


def _store(tmp_path: Path, records: list[CandidateRecord]) -> Path:
    return write_runs(tmp_path / "r.db", [records])


def test_cli_select_export_and_explanation(tmp_path: Path) -> None:
    model = tmp_path / "best.onnx"
    model.write_bytes(b"model bytes")
    records = _records()
    best = max(
        (r for r in records if r.status == "ok" and r.metrics["file_bytes"] <= 64 * 1024),
        key=lambda r: r.metrics["accuracy"],
    )
    records = [
        CandidateRecord(**{**r.__dict__, "artifact": str(model)}) if r is best else r
        for r in records
    ]
    db = _store(tmp_path, records)
    runner = CliRunner()
    out = tmp_path / "export"
    result = runner.invoke(
        cli, ["select", "--max-size", "64KB", "--db", str(db), "--export", str(out)]
    )
    assert result.exit_code == 0, result.output
    first_row = result.output.splitlines()[3]
    assert first_row.split()[3] == best.compression
    assert (out / export_name(best, ".onnx")).read_bytes() == b"model bytes"
    card = json.loads((out / "model_card.json").read_text())
    assert card["compression"]["name"] == best.compression
    assert card["metrics"]["accuracy"] == best.metrics["accuracy"]
    assert "# Model card" in (out / "MODEL_CARD.md").read_text()

    none = runner.invoke(
        cli, ["select", "--max-size", "6KB", "--min-accuracy", "0.99", "--db", str(db)]
    )
    assert none.exit_code == 1
    assert "no candidate of run 1 meets the budget" in none.output
    assert "size <= 6 KB:" in none.output and "accuracy >= 0.99:" in none.output

    bad = runner.invoke(cli, ["select", "--runtime", "litrt", "--db", str(db)])
    assert bad.exit_code == 2
    assert "did you mean 'litert'" in bad.output


def test_pareto_of_many_random_tables() -> None:
    for seed, budget in itertools.product(range(5), [Budget(), Budget(max_p50=1.0)]):
        records = _records(80, seed)
        assert {r.key for r in select(records, budget)} == _brute_force(records, budget)


def _target(
    key: str, target: str, engine: str, quantize: str, acc: float, kb: float
) -> CandidateRecord:
    return CandidateRecord(
        key=key, dataset="d", model="m", policy="p", compression="fp32", runtime=target,
        status="ok", metrics={"accuracy": acc, "file_bytes": kb * 1024, "latency_p50_ms": 0.05},
        details={"runtime_info": {"name": engine, "settings": {"threads": 1, "quantize": quantize}}},
    )  # fmt: skip


TARGETS = [
    _target("a", "onnxruntime", "onnxruntime", "none", 0.97, 40),
    _target("b", "litert", "litert", "none", 0.97, 40),
    _target("c", "litert int8", "litert", "int8", 0.969, 11),
]


def test_select_by_target_name_or_by_the_runtime_behind_it() -> None:
    by_name = select(TARGETS, Budget(runtime="litert int8"))
    assert [r.key for r in by_name] == ["c"]
    by_engine = {r.key for r in select(TARGETS, Budget(runtime="litert"))}
    assert by_engine == {"b", "c"}  # the int8 target is a litert candidate too
    assert unknown_target(TARGETS, "litert int8") is None
    assert unknown_target(TARGETS, "tvm") == (
        "no candidate of this run ran on 'tvm'; "
        "targets and runtimes here: litert, litert int8, onnxruntime"
    )


def test_a_device_is_a_target_name_too() -> None:
    on_board = [replace(r, device="rpi5") for r in TARGETS]
    assert unknown_target(on_board, "rpi5") is None
    assert unknown_target(on_board, "tvm") == (
        "no candidate of this run ran on 'tvm'; "
        "targets and runtimes here: litert, litert int8, onnxruntime, rpi5"
    )


def test_fp32_baselines_are_the_float_models_only() -> None:
    baselines = fp32_baselines(TARGETS)
    assert sorted(r.key for r in baselines.values()) == ["a", "b"]


def test_cli_select_accepts_a_target_name(tmp_path: Path) -> None:
    db = _store(tmp_path, TARGETS)
    result = CliRunner().invoke(cli, ["select", "--target", "litert int8", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "litert int8" in result.output and "onnxruntime" not in result.output.split("\n", 2)[2]
