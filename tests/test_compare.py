"""`harness compare`: exit 1 on a real regression, 0 on an identical rerun, 4 when a latency
change crosses a threshold inside the noise."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from harness.cli.commands import cli
from harness.errors import ConfigError
from harness.report.compare import parse_thresholds
from harness.store.results import CandidateRecord, Store
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


def _timed(key: str, sha: str, p50: float) -> tuple[CandidateRecord, list[dict[str, object]]]:
    """A candidate timed in 3 rounds at p50 * e^-0.02, p50, p50 * e^0.02 (log sd 0.02)."""
    p50s = [p50 * math.exp(-0.02), p50, p50 * math.exp(0.02)]
    record = CandidateRecord(
        key=key, dataset="digits", model="cnn", policy="none", compression=key,
        runtime="onnxruntime", status="ok", artifact_sha256=sha, runtime_version="ort 1",
        metrics={"accuracy": 0.97, "file_bytes": 1000, "latency_p50_ms": p50},
        details={"latency": {"round_p50_ms": p50s}},
    )  # fmt: skip
    rounds = [
        {"round": i, "p50_ms": v, "p90_ms": v, "p99_ms": v, "mean_ms": v, "min_ms": v, "runs": 9}
        for i, v in enumerate(p50s)
    ]
    return record, rounds


def _rounds_db(path: Path, runs: list[list[tuple[CandidateRecord, list]]]) -> Path:
    db = path / "r.db"
    path.mkdir(parents=True, exist_ok=True)
    with Store(db) as store:
        for i, rows in enumerate(runs):
            run_id = store.start_run(
                started_at=f"t{i}", config={}, config_hash="h", harness_version="0",
                git_revision=None, machine={}, machine_hash="m",
            )  # fmt: skip
            for record, rounds in rows:
                store.add_candidate(run_id, record, "t", rounds)
    return db


def _head(b_file: str, b_p50: float, same: tuple[float, float, float]) -> list:
    return [_timed("b", b_file, b_p50), *(
        _timed(k, k.upper(), p50) for k, p50 in zip("acd", same, strict=True)
    )]  # fmt: skip


BASE = [_timed("b", "B", 1.0), _timed("a", "A", 1.0), _timed("c", "C", 2.0), _timed("d", "D", 0.5)]


def test_latency_fails_only_beyond_threshold_and_noise_else_inconclusive(tmp_path: Path) -> None:
    # Quiet rerun: the unchanged files a, c, d moved x1.02, x0.99, x1.01; root mean square of
    # their logs 0.0140; each run's round noise sd 0.02 over 3 rounds; so the sd of a change
    # is sqrt(0.0140^2 + 2 * 0.02^2 / 3) = 0.0215 and the band e^(3 * 0.0215) - 1 = 6.7%.
    quiet = (1.02, 2.0 * 0.99, 0.5 * 1.01)
    code, output = _invoke(_rounds_db(tmp_path / "1", [BASE, _head("B2", 1.5, quiet)]))
    assert code == 1, output
    (fail,) = [line for line in output.splitlines() if "FAIL" in line]
    assert (
        "/ b /" in fail and "+50.0%" in fail and "beyond the threshold and the noise (±7%)" in fail
    )
    # A loaded rerun: unchanged files read 30-60% slower: rms of ln 1.4, 1.6, 1.3 is 0.3665,
    # sd sqrt(0.3665^2 + 2 * 0.02^2 / 3) = 0.3669, band e^(3 * 0.3669) - 1 = +201%: the changed file's
    # +50% is inconclusive (exit 4), and the unchanged files' rises are noise samples.
    loaded = (1.4, 2.0 * 1.6, 0.5 * 1.3)
    code, output = _invoke(_rounds_db(tmp_path / "2", [BASE, _head("B2", 1.5, loaded)]))
    assert code == 4, output
    assert "inconclusive: noise ±201%" in output and "FAIL" not in output
    assert output.count("same file and runtime: a noise sample") == 3
    assert "1 latency change(s) cross --fail-on thresholds but not the noise" in output
    # A change under the threshold passes; a same-file rise never fails.
    code, output = _invoke(_rounds_db(tmp_path / "3", [BASE, _head("B2", 1.05, loaded)]))
    assert code == 0, output
    code, output = _invoke(_rounds_db(tmp_path / "4", [BASE, _head("B", 3.0, quiet)]))
    assert code == 0, output


def test_latency_is_compared_on_one_machine_only(tmp_path: Path) -> None:
    base = [_record("a", 0.97, 1000, _samples(0))]
    slower = [_record("a", 0.97, 1000, _samples(0, scale=1.5))]
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
