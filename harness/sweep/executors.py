"""Where the sweep's heavy, independent jobs run: this process, a local process pool, or
a Ray cluster. The driver hands an executor a batch of tasks and gets each outcome back
as it finishes; a finished task may lead to more (`then`: a trained model's compression
jobs), which join the same run at once, so cores that training no longer needs compress
the models already trained. The driver stays the only writer of the store, so resume and
the store's contents do not depend on the executor.

A task's function must be a top-level function (it is pickled to a worker); its errors
come back as one-line `HarnessError`s, since not every exception survives pickling.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.errors import ConfigError, HarnessError, one_line
from harness.registry import Registry

__all__ = ["EXECUTORS", "Executor", "Task", "Then", "available_cores", "make_executor"]


@dataclass(frozen=True)
class Task:
    """One job: `fn(*args)`, needing `num_cpus` cores (its thread count). `kind` names
    the stage ("training", "compression"): its cap in a run's `limits`, its workers'
    names and how their death reads."""

    key: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    num_cpus: int = 1
    resources: dict[str, float] = field(default_factory=dict)
    preload: tuple[str, ...] = ()  # modules it imports: a fork server loads them once
    kind: str = "job"


Outcome = tuple[Task, Any]  # the task, and its result or the exception it raised

OnRetry = Callable[[Any, str], None]
# The tasks a finished task leads to (none: an empty list), given its outcome; they ask
# for no device and run in the same run, after those already queued.
Then = Callable[[Task, Any], Sequence[Task]]


class Executor(Protocol):
    name: str
    measure_parallel: int  # measurement lanes on this machine, each on its own cores

    def run(
        self,
        tasks: Sequence[Task],
        limits: Mapping[str, int] | None = None,
        on_retry: OnRetry | None = None,
        then: Then | None = None,
    ) -> Iterator[Outcome]:
        """Each task's outcome as it finishes, then its follow-ups' (`then(task, outcome)`,
        called as the outcome arrives, before it is yielded); at most `limits[kind]` tasks
        of a kind at a time where the executor schedules (locally); `on_retry(task, why)`
        when a task is run again after its worker or node died."""
        ...

    def warm(self, preload: Sequence[str]) -> None:
        """Get ready, in the background, for jobs that import `preload` (a local pool
        starts its fork server, whose imports then overlap the driver loading the data)."""
        ...

    def close(self) -> None: ...


def available_cores() -> int:
    """Cores this process may use (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def unplaceable(task: Task, executor: str) -> HarnessError:
    """The outcome of a task asking for a device on an executor that has none to offer."""
    wants = ", ".join(f"{k} = {v:g}" for k, v in sorted(task.resources.items()))
    return HarnessError(
        f"needs {wants}, which the {executor} executor cannot offer (it runs on this machine); "
        "run with --executor ray --address HEAD:PORT on a cluster where a device host offers it"
    )


def call(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """In a worker: run the job, turning its error into a picklable one-line error."""
    try:
        return fn(*args)
    except Exception as exc:
        raise HarnessError(one_line(exc)) from None


class SerialExecutor:
    """Every job in this process, one after the other, follow-ups after those given (what
    the sweep did before)."""

    name = "serial"

    def __init__(self, measure_parallel: int = 1) -> None:
        self.measure_parallel = measure_parallel

    def run(
        self,
        tasks: Sequence[Task],
        limits: Mapping[str, int] | None = None,
        on_retry: OnRetry | None = None,
        then: Then | None = None,
    ) -> Iterator[Outcome]:
        queue = deque(tasks)
        while queue:
            task = queue.popleft()
            if task.resources:
                yield task, unplaceable(task, self.name)
                continue
            try:
                outcome = task.fn(*task.args)
            except Exception as exc:
                outcome = exc
            if then is not None:
                queue.extend(then(task, outcome))
            yield task, outcome

    def warm(self, preload: Sequence[str]) -> None:
        pass

    def close(self) -> None:
        pass


class LocalExecutor:
    """Jobs in processes on this machine, as many at a time as the cores hold their
    threads (and `limits` allow), in processes forked from a server with the libraries
    the jobs use imported (harness.sweep.forks) and kept until close(), so training and
    compression share them; a job whose process dies is run once more in a new one."""

    name = "local"

    def __init__(self, cores: int | None = None, measure_parallel: int = 1) -> None:
        self.cores = cores or available_cores()
        self.measure_parallel = measure_parallel
        self.workers: Any = None  # forks.Workers, kept from training to compression

    def _kept(self) -> Any:
        from harness.sweep.forks import Workers

        if self.workers is None:
            self.workers = Workers()
        return self.workers

    def run(
        self,
        tasks: Sequence[Task],
        limits: Mapping[str, int] | None = None,
        on_retry: OnRetry | None = None,
        then: Then | None = None,
    ) -> Iterator[Outcome]:
        from harness.sweep.forks import run_in_processes

        yield from ((t, unplaceable(t, self.name)) for t in tasks if t.resources)
        tasks = [t for t in tasks if not t.resources]
        if self.cores < 2 or (len(tasks) < 2 and then is None):  # a pool would only add cost
            yield from SerialExecutor().run(tasks, limits, on_retry, then)
            return
        yield from run_in_processes(tasks, self.cores, limits, on_retry, then, self._kept())

    def warm(self, preload: Sequence[str]) -> None:
        from harness.sweep.forks import fork_context

        if self.cores >= 2:
            fork_context(preload)  # returns at once; the server imports on its own

    def close(self) -> None:
        if self.workers is not None:
            self.workers.close()


EXECUTORS: Registry[Callable[[str | None, int], Executor]] = Registry("executor")
EXECUTORS.register("serial", lambda address, lanes: SerialExecutor(lanes))
EXECUTORS.register("local", lambda address, lanes: LocalExecutor(measure_parallel=lanes))
EXECUTORS.register("ray", "harness.sweep.ray_executor:connect")


def make_executor(name: str, address: str | None = None, measure_parallel: int = 1) -> Executor:
    """The executor called `name`; `address` is a cluster's address (Ray only);
    `measure_parallel` lanes measure at once on this machine, each on its own cores."""
    if name not in EXECUTORS:
        raise ConfigError(EXECUTORS.unknown_message(name))
    if address and name != "ray":
        raise ConfigError(f"--address is for --executor ray; the {name} executor runs here")
    cores = available_cores()
    if not 1 <= measure_parallel <= cores:
        raise ConfigError(
            f"--measure-parallel {measure_parallel}: give 1 (serial, the default) up to {cores},"
            " the cores this process may use; each lane measures on its own cores"
        )
    return EXECUTORS.get(name)(address, measure_parallel)
