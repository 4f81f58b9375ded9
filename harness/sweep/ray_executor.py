"""The sweep's jobs as Ray tasks, on a cluster or on a Ray started here.

Each task asks for its thread count as `num_cpus` and its custom resources (a device,
`{"device:rpi5": 1}`), so Ray places as many at a time as the nodes have cores, and a
measurement only on a node offering its device, one per device at a time. Model files
move through a shared path (training, compression: every node sees the artifacts folder
at the same path); a measurement carries its model's bytes, so a device host needs no
shared folder.

A task whose worker or node dies is submitted once more here (not by Ray's own
`max_retries`, so the first attempt's death is reported and recorded): Ray places it on
another node. A task asking for a device runs on an actor holding one
(harness.sweep.device_actors), retried the same way on another device; a device no live
node offers for `device_wait` seconds fails its tasks with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from harness.errors import ConfigError, HarnessError, one_line
from harness.sweep.executors import OnRetry, Outcome, Task, Then, call

ATTEMPTS = 2  # a task whose worker or node died runs once more, elsewhere
DEVICE_WAIT_SECONDS = 60.0  # how long a task waits for a node offering its resources


class RayExecutor:
    name = "ray"

    def __init__(
        self, ray: Any, measure_parallel: int = 1, device_wait: float = DEVICE_WAIT_SECONDS
    ) -> None:
        self.ray = ray
        self.measure_parallel = measure_parallel
        self.device_wait = device_wait
        self.remote = ray.remote(max_retries=0, retry_exceptions=False)(call)
        self.devices: Any = None  # harness.sweep.device_actors.DevicePool, once needed

    def _submit(self, task: Task) -> Any:
        ref = self.remote.options(num_cpus=task.num_cpus)
        return ref.remote(task.fn, task.args)

    def run(
        self,
        tasks: Sequence[Task],
        limits: Mapping[str, int] | None = None,
        on_retry: OnRetry | None = None,
        then: Then | None = None,
    ) -> Iterator[Outcome]:
        """Outcomes as tasks finish, a finished task's follow-ups submitted at once;
        `limits` are ignored: the cluster's cores bound how many run. Tasks asking for a
        device run on actors holding the devices (harness.sweep.device_actors)."""
        from harness.sweep.device_actors import DevicePool

        plain = [t for t in tasks if not t.resources]
        devices = [t for t in tasks if t.resources]
        if plain:
            yield from self._run_tasks(plain, on_retry, then)
        if devices:
            if self.devices is None:  # actors holding devices, kept until close()
                self.devices = DevicePool(self.ray, self.device_wait, _node_death)
            self.devices.device_wait = self.device_wait
            yield from self.devices.run(devices, on_retry)

    def _run_tasks(
        self, tasks: Sequence[Task], on_retry: OnRetry | None, then: Then | None
    ) -> Iterator[Outcome]:
        pending: dict[Any, Task] = {}
        attempts: dict[str, int] = {}

        def submit(task: Task) -> None:
            attempts[task.key] = attempts.get(task.key, 0) + 1
            pending[self._submit(task)] = task

        for task in tasks:
            submit(task)
        while pending:
            refs = list(pending)
            # every task finished by now, in one call: a wait per task is quadratic
            self.ray.wait(refs, num_returns=1)
            ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
            for ref in ready:
                task = pending.pop(ref)
                try:
                    outcome = self.ray.get(ref)
                except self.ray.exceptions.RayTaskError as exc:  # the job's own error
                    outcome = _unwrap(exc)
                except Exception as exc:  # its worker or node died: once more, elsewhere
                    why = f"{_node_death(exc)} (attempt {attempts[task.key]} of {ATTEMPTS})"
                    if attempts[task.key] < ATTEMPTS:
                        if on_retry is not None:
                            on_retry(task, why)
                        submit(task)
                        continue
                    outcome = HarnessError(why)
                for follow in then(task, outcome) if then is not None else ():
                    submit(follow)
                yield task, outcome

    def warm(self, preload: Sequence[str]) -> None:
        pass  # Ray's workers import what a task needs as it arrives

    def close(self) -> None:
        if self.devices is not None:
            self.devices.close()
        self.ray.shutdown()


def _unwrap(exc: Exception) -> Exception:
    """The job's own error rather than Ray's wrapper around it."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, Exception) else RuntimeError(one_line(exc))


def _node_death(exc: Exception) -> str:
    """One line for a worker or node lost under a task (Ray's messages run to paragraphs)."""
    return f"its Ray worker or node died ({type(exc).__name__})"


def connect(address: str | None, measure_parallel: int = 1) -> RayExecutor:
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
    return RayExecutor(ray, measure_parallel)
