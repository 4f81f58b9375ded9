"""Training in worker processes: the models of a sweep are independent, so with
`training.workers = N` they train N at a time, before any latency is measured (timing
must not share the CPU with training).

Each worker is a fresh (spawned) interpreter: forking a process that has already used
torch's thread pool can hang. A job's result is the same as when trained in-process:
training is seeded per job and the thread count is set in each worker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any

from harness.errors import HarnessError, one_line
from harness.store.artifacts import Artifacts
from harness.sweep.plan import TrainJob
from harness.sweep.stages import Built, train_stage
from harness.train.datasets import Splits

__all__ = ["train_in_processes"]


def _train_one(job: TrainJob, splits: Splits, config: Any, artifacts: Artifacts) -> Built:
    """In a worker: train (and cache) one model. Errors come back as one-line HarnessErrors,
    since not every exception survives pickling back to the parent."""
    try:
        return train_stage(job, splits, config, artifacts)
    except Exception as exc:
        raise HarnessError(one_line(exc)) from None


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
    results: dict[str, Built | Exception] = {}
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_train_one, job, splits, config, artifacts): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            try:
                outcome: Built | Exception = future.result()
            except Exception as exc:  # the job's error, or a worker that died
                outcome = exc
            results[job.key] = outcome
            on_done(job, outcome)
    return results
