"""`harness compare`: exit 1 on a real regression, 0 on an identical rerun."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from harness.cli.commands import cli
from harness.errors import ConfigError
from harness.report.compare import parse_thresholds
from harness.store.results import CandidateRecord
from tests.helpers.records import record, write_runs

RULES = "accuracy<-0.5pt,p50>+10%,size>+0%"


def _record(
    key: str, acc: float, size: int, samples: np.ndarray, **extra: object
) -> CandidateRecord:
    return record(
        key, status=str(extra.get("status", "ok")), error=extra.get("error"),  # type: ignore[arg-type]
        metrics={"accuracy": acc, "file_bytes": size, "latency_p50_ms": float(np.median(samples))},
        details={"latency": {"samples_ms": samples.round(6).tolist()}},
    )  # fmt: skip


def _db(tmp_path: Path, runs: list[list[CandidateRecord]], machines: tuple[str, ...] = ()) -> Path:
    return write_runs(tmp_path / "r.db", runs, machines)


def _samples(seed: int, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).gamma(20.0, 0.05, 300) * scale


def _invoke(db: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["compare", *args, "--fail-on", RULES, "--db", str(db)])
    return result.exit_code, result.output


def test_identical_rerun_passes(tmp_path: Path) -> None:
    rows = [_record("a", 0.97, 1000, _samples(0)), _record("b", 0.95, 500, _samples(1))]
    code, output = _invoke(_db(tmp_path, [rows, rows]))
    assert code == 0, output
    assert "no changes between the two runs" in output


def test_accuracy_regression_fails(tmp_path: Path) -> None:
    base = [_record("a", 0.97, 1000, _samples(0)), _record("b", 0.95, 500, _samples(1))]
    head = [_record("a", 0.960, 1000, _samples(0)), _record("b", 0.948, 500, _samples(1))]
    code, output = _invoke(_db(tmp_path, [base, head]))
    assert code == 1, output
    fail_lines = [line for line in output.splitlines() if "FAIL" in line]
    assert len(fail_lines) == 1  # b dropped 0.2 points, within the 0.5-point allowance
    assert "cnn / none / a / onnxruntime" in fail_lines[0] and "-1.00pt" in fail_lines[0]


def test_size_growth_and_new_failures_fail(tmp_path: Path) -> None:
    base = [_record("a", 0.97, 1000, _samples(0)), _record("b", 0.95, 500, _samples(1))]
    head = [
        _record("a", 0.97, 1001, _samples(0)),
        _record("b", 0.0, 500, _samples(1), status="failed", error="measure: boom"),
    ]
    code, output = _invoke(_db(tmp_path, [base, head]))
    assert code == 1
    assert "now failing: measure: boom" in output
    assert "size>+0%" in output


def test_latency_must_beat_noise_and_share_a_machine(tmp_path: Path) -> None:
    base = [_record("a", 0.97, 1000, _samples(0))]
    slower = [_record("a", 0.97, 1000, _samples(0, scale=1.5))]
    code, output = _invoke(_db(tmp_path / "1", [base, slower]))
    assert code == 1 and "p50>+10%" in output
    # Same distribution, but a p50 that happens to read 15% higher: noise, not a regression.
    noisy = _record("a", 0.97, 1000, _samples(6))  # MWU p = 0.83 against seed 0
    noisy = CandidateRecord(
        **{
            **noisy.__dict__,
            "metrics": {
                **noisy.metrics,
                "latency_p50_ms": base[0].metrics["latency_p50_ms"] * 1.15,
            },
        }
    )
    code, output = _invoke(_db(tmp_path / "2", [base, [noisy]]))
    assert code == 0, output
    assert "within run-to-run noise" in output
    code, output = _invoke(_db(tmp_path / "3", [base, slower], machines=("m1", "m2")))
    assert code == 0, output
    assert "measured on different machines" in output


def test_explicit_runs_and_errors(tmp_path: Path) -> None:
    rows = [_record("a", 0.97, 1000, _samples(0))]
    worse = [_record("a", 0.90, 1000, _samples(0))]
    db = _db(tmp_path, [rows, worse, rows])
    assert _invoke(db)[0] == 0  # latest pair: 2 -> 3 improves
    assert _invoke(db, "1", "2")[0] == 1
    code, output = _invoke(db, "1", "9")
    assert code == 2 and "no run 9" in output
    single = _db(tmp_path / "single", [rows])
    code, output = _invoke(single)
    assert code == 2 and "compare needs two runs" in output
    with pytest.raises(ConfigError, match="unknown metric 'acuracy' .did you mean 'accuracy'"):
        parse_thresholds("acuracy<-1pt")
    with pytest.raises(ConfigError, match="cannot read 'p50 up 10'"):
        parse_thresholds("p50 up 10")
    with pytest.raises(ConfigError, match="'pt' .accuracy points. does not apply to p50"):
        parse_thresholds("p50>1pt")
