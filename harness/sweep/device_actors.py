"""Tasks that ask for a device, run by one long-lived Ray actor per device.

A Ray task per measurement pays the scheduler for every candidate (a worker leased,
the resource granted and released): on a lab of 100 devices with short measurements the
scheduler, not the devices, is the bottleneck (benchmarks/fleet.py: 32% of the devices
busy as tasks, 95% as actors). So the executor starts an actor per device unit the live
nodes offer (it holds the device for the sweep: one measurement at a time on it) and
feeds each two tasks, the next one waiting on the device rather than on the scheduler.

An actor whose node dies fails its tasks; each such task is run once more on another
actor of the same device (a new one is started where none is left, and Ray places it on
any node offering the device); a device no live node offers for `device_wait` seconds
fails its tasks with the reason.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from harness.errors import HarnessError
from harness.sweep.executors import OnRetry, Outcome, Task, call

Shape = tuple[tuple[str, float], ...]  # a task's resources, hashable
IN_FLIGHT = 2  # per actor: the next task waits on the device, not on the scheduler
_POLL_SECONDS = 0.5


class DeviceWorker:
    """Holds one device for the sweep; runs the tasks sent to it one at a time."""

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        return call(fn, args)


def offered(nodes: Sequence[dict[str, Any]], resources: dict[str, float]) -> bool:
    """Whether a live node (of ray.nodes()) offers all of `resources` (pure)."""
    return units(nodes, resources) > 0


def units(nodes: Sequence[dict[str, Any]], resources: dict[str, float]) -> int:
    """How many tasks asking for `resources` the live nodes can run at once (pure)."""
    total = 0
    for node in nodes:
        have = node.get("Resources", {}) if node.get("Alive") else {}
        total += min((int(have.get(k, 0) // v) for k, v in resources.items()), default=0)
    return total


def failure(resources: dict[str, float], waited: float) -> HarnessError:
    wants = ", ".join(f'"{k}": {v:g}' for k, v in sorted(resources.items()))
    return HarnessError(
        f"no live node offers {{{wants}}} (waited {waited:g} s); a device host "
        f"joins with: ray start --address=HEAD:PORT --resources='{{{wants}}}'"
    )


class DevicePool:
    """Runs device tasks on actors, started once and kept for the sweep (until close());
    `died(exc)` names a lost worker or node."""

    def __init__(self, ray: Any, device_wait: float, died: Callable[[Exception], str]) -> None:
        self.ray = ray
        self.device_wait = device_wait
        self.died = died
        self.worker = ray.remote(num_cpus=0, max_restarts=0)(DeviceWorker)
        self.actors: dict[Shape, list[Any]] = {}

    def close(self) -> None:
        """Give the devices back to the cluster."""
        for pool in self.actors.values():
            for actor in pool:
                self.ray.kill(actor)
        self.actors.clear()

    def run(self, tasks: Sequence[Task], on_retry: OnRetry | None) -> Iterator[Outcome]:
        queues: dict[Shape, deque[Task]] = {}
        for task in tasks:
            queues.setdefault(tuple(sorted(task.resources.items())), deque()).append(task)
        nodes = self.ray.nodes()
        actors = self.actors
        for shape, queue in queues.items():  # an actor per device unit offered, at most
            pool = actors.setdefault(shape, [])
            wanted = max(1, min(units(nodes, dict(shape)), len(queue)))
            pool.extend(self._start(shape) for _ in range(wanted - len(pool)))
        attempts = {task.key: 1 for task in tasks}
        in_flight: dict[Any, tuple[Task, Any, Shape]] = {}
        unplaced: dict[Shape, float] = {}

        def feed(actor: Any, shape: Shape) -> None:
            if queues[shape]:
                task = queues[shape].popleft()
                in_flight[actor.run.remote(task.fn, task.args)] = (task, actor, shape)

        for shape in queues:
            for actor in actors[shape]:
                for _ in range(IN_FLIGHT):
                    feed(actor, shape)
        while in_flight:
            refs = list(in_flight)
            ready, _ = self.ray.wait(refs, num_returns=1, timeout=_POLL_SECONDS)
            if not ready:
                yield from self._give_up(queues, in_flight, unplaced)
                continue
            ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
            for ref in ready:
                if ref not in in_flight:  # given up meanwhile
                    continue
                task, actor, shape = in_flight.pop(ref)
                try:
                    outcome = self.ray.get(ref)
                except self.ray.exceptions.RayTaskError as exc:  # the job's own error
                    feed(actor, shape)  # the device is fine
                    cause = getattr(exc, "cause", None)
                    yield task, cause if isinstance(cause, Exception) else HarnessError(str(exc))
                    continue
                except Exception as exc:  # the actor's worker or node died
                    yield from self._lost(task, actor, shape, exc, attempts, queues, on_retry)
                    if not actors[shape] and queues[shape]:  # Ray places a new one
                        actors[shape].append(self._start(shape))
                    busy = [a for _, a, _ in in_flight.values()]
                    for other in actors[shape]:  # the retried task to an idle device
                        for _ in range(IN_FLIGHT - busy.count(other)):
                            feed(other, shape)
                    continue
                feed(actor, shape)  # before the driver commits this one
                yield task, outcome

    def _lost(
        self,
        task: Task,
        actor: Any,
        shape: Shape,
        exc: Exception,
        attempts: dict[str, int],
        queues: dict[Shape, deque[Task]],
        on_retry: OnRetry | None,
    ) -> Iterator[Outcome]:
        """A task whose actor died: queued once more, or failed on its second attempt."""
        why = f"{self.died(exc)} (attempt {attempts[task.key]} of 2)"
        if actor in self.actors[shape]:
            self.actors[shape].remove(actor)
        if attempts[task.key] >= 2:
            yield task, HarnessError(why)
            return
        attempts[task.key] += 1
        if on_retry is not None:
            on_retry(task, why)
        queues[shape].appendleft(task)

    def _start(self, shape: Shape) -> Any:
        return self.worker.options(resources=dict(shape)).remote()

    def _give_up(
        self,
        queues: dict[Shape, deque[Task]],
        in_flight: dict[Any, tuple[Task, Any, Shape]],
        unplaced: dict[Shape, float],
    ) -> Iterator[Outcome]:
        """Fail the tasks of a device no live node has offered for `device_wait` s."""
        nodes = self.ray.nodes()
        now = time.monotonic()
        for shape in queues:
            if offered(nodes, dict(shape)):
                unplaced.pop(shape, None)
                continue
            if now - unplaced.setdefault(shape, now) < self.device_wait:
                continue
            error = failure(dict(shape), self.device_wait)
            for ref, (task, _, s) in list(in_flight.items()):
                if s == shape:
                    del in_flight[ref]
                    yield task, error
            while queues[shape]:
                yield queues[shape].popleft(), error
            for actor in self.actors.get(shape, []):
                self.ray.kill(actor)
            self.actors.pop(shape, None)
