"""Which queued job the local pool starts next: the first, in queue order, that the free
cores hold (a job takes its thread count in cores) and whose kind is under its cap
(`training.workers` for training). Pure bookkeeping, no processes: the pool
(harness.sweep.forks) asks `fits` before starting a job and `take`s and `free`s it.

Queue order is the order jobs were given in, then their follow-ups as they were made, so
models train before the compression jobs they lead to and a core that training does not
need runs compression meanwhile.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.sweep.executors import Task

__all__ = ["Budget", "next_task"]


def cores_of(task: Task) -> int:
    """Cores a job holds while it runs: its thread count, at least one."""
    return max(1, task.num_cpus)


@dataclass
class Budget:
    """The cores and per-kind caps of a pool, and what its running jobs hold of them."""

    cores: int
    limits: Mapping[str, int] = field(default_factory=dict)
    used: int = 0
    running: Counter[str] = field(default_factory=Counter)

    def fits(self, task: Task) -> bool:
        """Whether `task` may start now. A job needing more cores than the pool has runs
        alone rather than never."""
        if self.running[task.kind] >= max(1, self.limits.get(task.kind, self.cores)):
            return False
        return self.used == 0 or self.used + cores_of(task) <= self.cores

    def take(self, task: Task) -> None:
        self.used += cores_of(task)
        self.running[task.kind] += 1

    def free(self, task: Task) -> None:
        self.used -= cores_of(task)
        self.running[task.kind] -= 1


def next_task(queue: deque[Task], budget: Budget) -> Task | None:
    """The first task of `queue` that fits the budget, taken off the queue (or None)."""
    for index, task in enumerate(queue):
        if budget.fits(task):
            del queue[index]
            return task
    return None
