"""The executors: a sweep stores the same results whichever one made its models, and
the local pool is sized from the cores and each job's threads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.errors import ConfigError
from harness.sweep.executors import (
    LocalExecutor,
    SerialExecutor,
    Task,
    make_executor,
)
from tests.helpers.executor_sweep import sweep_on


def _task(key: str, threads: int) -> Task:
    return Task(key, divmod, (7, 2), threads)


def test_the_pool_holds_as_many_jobs_as_the_cores_hold_their_threads() -> None:
    eight = LocalExecutor(cores=8)
    four_jobs = [_task(str(i), 1) for i in range(4)]
    assert eight.slots(four_jobs, None) == 4  # no more workers than jobs
    assert eight.slots([_task(str(i), 2) for i in range(9)], None) == 4  # 8 cores / 2 threads
    assert eight.slots([_task(str(i), 3) for i in range(9)], None) == 2  # 8 // 3
    assert eight.slots([_task(str(i), 16) for i in range(9)], None) == 1
    assert eight.slots([_task(str(i), 1) for i in range(9)], 3) == 3  # a cap from the config


def test_outcomes_come_back_with_their_task_and_errors_as_values() -> None:
    tasks = [Task("ok", divmod, (7, 2)), Task("bad", divmod, (1, 0)), Task("ok2", pow, (2, 5))]
    for executor in (SerialExecutor(), LocalExecutor(cores=2)):
        outcomes = {task.key: outcome for task, outcome in executor.run(tasks)}
        assert outcomes["ok"] == (3, 1)
        assert outcomes["ok2"] == 32
        assert isinstance(outcomes["bad"], Exception)
        assert "division" in str(outcomes["bad"])


def test_a_pooled_sweep_stores_what_a_serial_one_does(tmp_path: Path) -> None:
    serial, serial_counts = sweep_on(tmp_path / "serial", SerialExecutor())
    pooled, pooled_counts = sweep_on(tmp_path / "local", LocalExecutor(cores=2))
    assert [r[:2] for r in serial] == [
        ("fp32", "ok"), ("int8", "ok"), ("prune 50%", "ok"),
    ]  # fmt: skip
    assert pooled == serial  # same accuracies and file sizes, candidate by candidate
    # the pool made all three compressed models: counted as made, not as found in the cache
    assert pooled_counts["compressed"] == serial_counts["compressed"] == 3
    assert pooled_counts.get("reused_compressed", 0) == 0


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
