"""The sweep's jobs as Ray tasks, on a cluster or on a Ray started here.

Each task asks for its thread count as `num_cpus` (and any custom resources), so Ray
places as many at a time as the nodes have cores. Model files move through a shared
path: a task reads and writes the artifacts folder by its absolute path, so every node
must see that folder at the same path (one machine, or a shared file system). A task
whose node dies is retried once elsewhere (`max_retries=1`); if that fails too, its
outcome is the error, which the driver records on the candidates.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from harness.errors import ConfigError, one_line
from harness.sweep.executors import OnDone, OnRetry, Outcome, Task, call

RETRIES = 1  # a task whose node died runs once more elsewhere


class RayExecutor:
    name = "ray"

    def __init__(self, ray: Any) -> None:
        self.ray = ray
        self.remote = ray.remote(max_retries=RETRIES, retry_exceptions=False)(call)

    def run(self, tasks: Sequence[Task], limit: int | None = None) -> Iterator[Outcome]:
        """Outcomes as tasks finish; `limit` is ignored: the cluster's cores bound it."""
        pending: dict[Any, Task] = {}
        for task in tasks:
            ref = self.remote.options(num_cpus=task.num_cpus, resources=task.resources or None)
            pending[ref.remote(task.fn, task.args)] = task
        while pending:
            ready, _ = self.ray.wait(list(pending), num_returns=1)
            task = pending.pop(ready[0])
            try:
                yield task, self.ray.get(ready[0])
            except Exception as exc:  # the job's error, or its node died twice
                yield task, _unwrap(exc)

    def train(
        self, jobs: Sequence[Any], splits: Any, config: Any, artifacts: Any, workers: int,
        on_done: OnDone, on_retry: OnRetry,
    ) -> dict[str, Any]:  # fmt: skip
        """Every model at once: the cluster's cores bound how many train together."""
        from harness.sweep.fanout import train_all

        return train_all(self, jobs, splits, config, artifacts, on_done)

    def close(self) -> None:
        self.ray.shutdown()


def _unwrap(exc: Exception) -> Exception:
    """The job's own error rather than Ray's wrapper around it."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, Exception) else RuntimeError(one_line(exc))


def connect(address: str | None) -> RayExecutor:
    """Join the cluster at `address` (host:port), or start a one-machine Ray here."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "the ray executor needs Ray; install it with: pip install 'edge-harness[ray]'"
        ) from None
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            logging_level=logging.ERROR,
            log_to_driver=False,
            ignore_reinit_error=True,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or "a local Ray"
        raise ConfigError(
            f"cannot reach {where}: {one_line(exc)}; start the head with "
            "'ray start --head' and pass its address"
        ) from None
    return RayExecutor(ray)
