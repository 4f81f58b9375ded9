"""Training in worker processes: the models of a sweep are independent, so with
`training.workers = N` they train N at a time, before any latency is measured (timing
must not share the CPU with training).

Each worker is a fresh (spawned) interpreter (see `executors.LocalExecutor`). A job's
result is the same as when trained in-process: training is seeded per job and the
thread count is set in each worker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from harness.store.artifacts import Artifacts
from harness.sweep.executors import LocalExecutor
from harness.sweep.fanout import train_all
from harness.sweep.plan import TrainJob
from harness.sweep.stages import Built
from harness.train.datasets import Splits

__all__ = ["train_in_processes"]


def train_in_processes(
    jobs: Sequence[TrainJob],
    splits: Splits,
    config: Any,
    artifacts: Artifacts,
    workers: int,
    on_done: Callable[[TrainJob, Built | Exception], None],
) -> dict[str, Built | Exception]:
    """{job key: the trained model, or why it failed}, `workers` jobs at a time; `on_done`
    is called in this process as each one finishes."""
    pool = LocalExecutor(cores=workers * config.training.threads)
    return train_all(pool, jobs, splits, config, artifacts, on_done, workers)
