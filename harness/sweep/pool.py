"""Training in worker processes: the models of a sweep are independent, so with
`training.workers = N` they train N at a time, before any latency is measured (timing
must not share the CPU with training).

The workers are processes forked from the fork server that has torch imported
(harness.sweep.forks): not forked from the sweep, whose torch thread pool could hang the
child, and not spawned interpreters that import torch again for every model. A worker
trains one model at a time; one that dies (the OOM killer, a crash in a native library, `kill -9`) takes only its own
model down; that model is retried once in a new process. A job's result is the same as
when trained in-process: training is seeded per job and the thread count is set in each
worker. Workers die with the sweep, and are killed when the sweep is interrupted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from harness.store.artifacts import Artifacts
from harness.sweep.executors import Task
from harness.sweep.forks import ATTEMPTS, Workers, run_in_processes
from harness.sweep.plan import TrainJob
from harness.sweep.stages import Built, train_stage
from harness.train.datasets import Splits

__all__ = ["ATTEMPTS", "train_in_processes"]


def train_in_processes(
    jobs: Sequence[TrainJob],
    splits: Splits,
    config: Any,
    artifacts: Artifacts,
    workers: int,
    on_done: Callable[[TrainJob, Built | Exception], None],
    on_retry: Callable[[TrainJob, str], None] | None = None,
    preload: Iterable[str] = (),
    kept: Workers | None = None,
) -> dict[str, Built | Exception]:
    """{job key: the trained model, or why it failed}, `workers` jobs at a time; `on_done`
    is called in this process as each one finishes, `on_retry` when a worker died.
    `preload`: more modules for the fork server, if this starts it (the sweep's later jobs');
    `kept`: workers to use and keep for the sweep's next jobs (forks.Workers)."""
    by_key = {job.key: job for job in jobs}
    threads = config.training.threads
    modules = tuple(preload)
    tasks = [
        Task(job.key, train_stage, (job, splits, config, artifacts), threads, preload=modules)
        for job in jobs
    ]
    retry = None if on_retry is None else (lambda task, why: on_retry(by_key[task.key], why))
    results: dict[str, Built | Exception] = {}
    for task, outcome in run_in_processes(tasks, workers, retry, "training", "train", kept):
        results[task.key] = outcome
        on_done(by_key[task.key], outcome)
    return results
