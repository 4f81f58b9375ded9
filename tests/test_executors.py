"""The executors: a sweep stores the same results whichever one made its models; a
model's compression jobs run as soon as it is trained, beside the models still training;
a model that fails to train fails only its own candidates."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.config.load import load_config
from harness.errors import ConfigError
from harness.store.artifacts import Artifacts
from harness.sweep.executors import (
    LocalExecutor,
    SerialExecutor,
    Task,
    make_executor,
)
from harness.sweep.fanout import COMPRESSION, TRAINING
from harness.sweep.plan import make_plan
from tests.helpers.executor_sweep import TWO_MODELS, sweep_on
from tests.helpers.handshake import expected_order, overlapping_trainings


def test_outcomes_come_back_with_their_task_and_errors_as_values() -> None:
    tasks = [Task("ok", divmod, (7, 2)), Task("bad", divmod, (1, 0)), Task("ok2", pow, (2, 5))]
    for executor in (SerialExecutor(), LocalExecutor(cores=2)):
        outcomes = {task.key: outcome for task, outcome in executor.run(tasks)}
        assert outcomes["ok"] == (3, 1)
        assert outcomes["ok2"] == 32
        assert isinstance(outcomes["bad"], Exception)
        assert "division" in str(outcomes["bad"])


def test_a_finished_task_s_follow_ups_run_in_the_same_run() -> None:
    def then(task: Task, outcome: object) -> list[Task]:
        if task.kind != TRAINING or isinstance(outcome, Exception):
            return []
        return [Task(f"{task.key}^2", pow, (outcome, 2), kind=COMPRESSION)]

    tasks = [Task(k, pow, (2, n), kind=TRAINING) for k, n in (("a", 3), ("b", 4))]
    tasks.append(Task("bad", divmod, (1, 0), kind=TRAINING))
    for executor in (SerialExecutor(), LocalExecutor(cores=2)):
        outcomes = {t.key: o for t, o in executor.run(tasks, {TRAINING: 1}, None, then)}
        assert {k: v for k, v in outcomes.items() if k != "bad"} == {
            "a": 8, "b": 16, "a^2": 64, "b^2": 256,
        }  # fmt: skip
        assert isinstance(outcomes["bad"], Exception)  # and nothing follows it
        executor.close()


def test_a_trained_model_s_compression_runs_while_another_model_trains(tmp_path: Path) -> None:
    # "slow" trains until it sees the file that compressing "quick" writes: it can only see
    # it if that job ran while it was still training (else it gives up after a minute).
    signal = str(tmp_path / "quick compressed")
    tasks, then = overlapping_trainings(signal)
    executor = LocalExecutor(cores=2)
    try:
        order = [(t.key, o) for t, o in executor.run(tasks, {TRAINING: 2}, None, then)]
    finally:
        executor.close()
    assert order == expected_order(signal)


def test_a_pooled_sweep_stores_what_a_serial_one_does(tmp_path: Path) -> None:
    serial, serial_counts = sweep_on(tmp_path / "serial", SerialExecutor(), TWO_MODELS)
    pooled, pooled_counts = sweep_on(tmp_path / "local", LocalExecutor(cores=2), TWO_MODELS)
    assert [r[1:4] for r in sorted(serial, key=lambda r: r[1:3])] == [
        ("a_mlp", "fp32", "ok"), ("a_mlp", "int8", "ok"),
        ("b_cnn", "fp32", "ok"), ("b_cnn", "int8", "ok"),
    ]  # fmt: skip
    # same candidate keys, accuracies and file sizes, candidate by candidate
    assert pooled == serial
    # the pool made all four compressed models: counted as made, not as found in the cache
    assert pooled_counts["compressed"] == serial_counts["compressed"] == 4
    assert pooled_counts.get("reused_compressed", 0) == 0
    # Each model's compressed files follow its training. Whether the MLP's were written
    # while the CNN still trained depends on the machine's speed, so it is not asserted
    # here; the handshake test above shows that overlap without timing anything.
    art = Artifacts(tmp_path / "local" / "art")
    plan = make_plan(load_config(tmp_path / "local" / "c.toml"))
    for trained in plan.trains:
        compressed = _compressed_mtimes(art, trained.key)
        assert len(compressed) == 2
        assert _mtime(art, "trained", trained.key) < min(compressed)


def _mtime(art: Artifacts, kind: str, key: str) -> int:
    return art.path(kind, key, "onnx").stat().st_mtime_ns


def _compressed_mtimes(art: Artifacts, trained: str) -> list[int]:
    """When each compressed model made from the trained model `trained` was written."""
    metas = (art.root / "compressed").glob("*.json")
    made = [m.stem for m in metas if json.loads(m.read_text()).get("trained") == trained]
    return [_mtime(art, "compressed", key) for key in made]


def test_a_model_that_fails_to_train_fails_its_candidates_and_the_rest_are_measured(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "fails"
    folder.mkdir()
    (folder / "c.toml").write_text(TWO_MODELS)
    mlp = next(
        t for t in make_plan(load_config(folder / "c.toml")).trains if t.model.name == "a_mlp"
    )
    # The MLP's model file cannot be written: a folder stands where it goes.
    Artifacts(folder / "art").path("trained", mlp.key, "onnx").mkdir(parents=True)
    rows, counts = sweep_on(folder, LocalExecutor(cores=2), TWO_MODELS)
    by_model = {(r[1], r[2]): r for r in rows}
    assert len(rows) == 4 and counts["trained"] == 1
    for compression in ("fp32", "int8"):
        failed, measured = by_model[("a_mlp", compression)], by_model[("b_cnn", compression)]
        assert failed[3] == "failed"
        assert failed[4] is not None and failed[4].startswith("train: IsADirectoryError: ")
        assert measured[3] == "ok" and measured[5] is not None and measured[5] > 0.5


def test_unknown_executor_or_a_misplaced_address_is_one_line() -> None:
    with pytest.raises(ConfigError, match="unknown executor 'lokal' \\(did you mean 'local'"):
        make_executor("lokal")
    with pytest.raises(ConfigError, match="--address is for --executor ray"):
        make_executor("local", "127.0.0.1:6379")
    result = CliRunner().invoke(cli, ["run", "--executor", "local", "--address", "h:1"])
    assert result.exit_code == 2
    assert result.output.strip().endswith("the local executor runs here")
    assert len(result.output.strip().splitlines()) == 1


def test_cores_are_this_process_affinity() -> None:
    assert LocalExecutor().cores == len(os.sched_getaffinity(0))
