"""The local pool's queue: as many jobs at once as the cores hold their threads, training
capped at training.workers, and the cores training leaves free given to compression."""

from __future__ import annotations

from collections import deque

from harness.sweep.executors import Task
from harness.sweep.schedule import Budget, next_task


def _task(key: str, threads: int = 1, kind: str = "job") -> Task:
    return Task(key, divmod, (7, 2), threads, kind=kind)


def started(budget: Budget, queue: deque[Task]) -> list[str]:
    """The keys of the queued tasks the pool starts now, in order."""
    keys = []
    while (task := next_task(queue, budget)) is not None:
        budget.take(task)
        keys.append(task.key)
    return keys


def test_the_pool_holds_as_many_jobs_as_the_cores_hold_their_threads() -> None:
    def at_once(threads: int, jobs: int = 9) -> int:
        return len(started(Budget(8), deque(_task(str(i), threads) for i in range(jobs))))

    assert at_once(1, jobs=4) == 4  # no more than there are
    assert at_once(2) == 4  # 8 cores / 2 threads
    assert at_once(3) == 2  # 8 // 3
    assert at_once(16) == 1  # more threads than cores: alone, rather than never


def test_training_is_capped_and_compression_takes_the_cores_it_leaves() -> None:
    queue = deque([_task(f"t{i}", kind="training") for i in range(3)] + [_task("c1"), _task("c2")])
    budget = Budget(4, {"training": 2})
    assert started(budget, queue) == ["t0", "t1", "c1", "c2"]  # t2 waits for a training slot
    budget.free(_task("c1"))
    assert started(budget, queue) == []  # a free core, but training is at its cap
    budget.free(_task("t0", kind="training"))
    assert started(budget, queue) == ["t2"]


def test_a_job_waits_for_the_cores_its_threads_need_while_smaller_ones_start() -> None:
    queue = deque([_task("t0", 2, "training"), _task("t1", 2, "training"), _task("c1")])
    budget = Budget(2, {"training": 2})
    assert started(budget, queue) == ["t0"]  # both cores taken
    budget.free(_task("t0", 2, "training"))
    assert started(budget, queue) == ["t1"]  # queue order: training first
    budget.free(_task("t1", 2, "training"))
    assert started(budget, queue) == ["c1"]
    assert budget.used == 1 and not queue
