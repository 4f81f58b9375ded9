"""Jobs that see each other through files, to show which ran at the same time as which
without timing anything: one waits for a file another job writes."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def touch(path: str) -> str:
    Path(path).write_text("done")
    return path


def wait_for(path: str, patience: float = 60.0) -> str:
    """ "saw it" once `path` exists; "gave up" after `patience` s (the writer never ran
    while this job did): a failing test then ends instead of hanging."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if Path(path).exists():
            return "saw it"
        time.sleep(0.01)
    return "gave up"


def overlapping_trainings(signal: str) -> tuple[list[Any], Callable[[Any, object], list[Any]]]:
    """Two training tasks and the executor's `then`: "quick" is followed by a compression
    that writes `signal`, which "slow" trains until it sees. The run's order is
    `expected_order(signal)` only if that compression ran while "slow" still trained."""
    from harness.sweep.executors import Task
    from harness.sweep.fanout import COMPRESSION, TRAINING

    def then(task: Any, outcome: object) -> list[Any]:
        if task.key != "quick":
            return []
        return [Task("compress quick", touch, (signal,), kind=COMPRESSION)]

    tasks = [
        Task("quick", divmod, (7, 2), kind=TRAINING),
        Task("slow", wait_for, (signal,), kind=TRAINING),
    ]
    return tasks, then


def expected_order(signal: str) -> list[tuple[str, object]]:
    return [("quick", (3, 1)), ("compress quick", signal), ("slow", "saw it")]
