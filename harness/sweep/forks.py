"""Jobs in fresh processes, forked from a server that imported the heavy libraries once.

A fresh (spawned) interpreter per job pays its imports on every job: torch is about one
CPU-second, ExecuTorch's lowering about three, more than many of a sweep's jobs take.
Forking the sweep itself is unsafe (a process that has used torch's thread pool can hang
in the child), so a job's process is forked from multiprocessing's fork server: a clean
interpreter, started once per sweep process, that imports `PRELOAD` (and the modules a
sweep's jobs ask for) and never runs any of it; a sweep with models to train starts it
while the driver loads the data (LocalExecutor.warm), so its imports, about three
CPU-seconds on one core, overlap that. A worker runs one job at a time, so a worker that
dies (the OOM killer, a crash in a native library, `kill -9`) takes only its own job down,
which is run once more in a new process. Workers die with the sweep
(harness.measure.lifeline: with the fork server, which exits when the sweep does).
"""

from __future__ import annotations

import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing import forkserver, get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError, one_line
from harness.measure.lifeline import die_with_parent, ignore_sigint, sigint_blocked
from harness.sweep.schedule import Budget, next_task

if TYPE_CHECKING:
    from harness.sweep.executors import Task, Then

__all__ = ["ATTEMPTS", "PRELOAD", "Workers", "fork_context", "run_in_processes"]

# A worker that dies is retried once; a job's own error (bad data, a bug) is not retried,
# since it would fail the same way.
ATTEMPTS = 2

# What training, compression and conversion jobs import, loaded once in the fork server.
# A name that does not import there is skipped; its job imports it itself.
PRELOAD = (
    "numpy",
    "scipy.ndimage",
    "torch",
    "onnx",
    "onnxruntime",
    "harness.sweep.stages",
    "harness.sweep.fanout",
    "harness.train.training",
    "harness.train.finetune",
    "harness.compress",
    "harness.convert.tflite",
)


def fork_context(extra: Iterable[str] = ()) -> BaseContext:
    """The fork server's context, starting the server with PRELOAD and `extra` imported if
    it is not running yet (one per process: a later `extra` is imported by its jobs)."""
    ctx = get_context("forkserver")
    if getattr(forkserver._forkserver, "_forkserver_pid", None) is None:
        ctx.set_forkserver_preload([*PRELOAD, *extra])
        # Started with SIGINT blocked: the server ignores it, and every worker it forks
        # begins with it blocked until ignore_sigint() (see lifeline.sigint_blocked).
        with sigint_blocked():
            forkserver.ensure_running()
    return ctx


def _server_pid() -> int | None:
    return getattr(forkserver._forkserver, "_forkserver_pid", None)


def _serve(conn: Connection, server: int | None) -> None:
    """In a worker: run jobs as they come, sending back each result, or its error as one
    line (not every exception survives pickling back to the sweep), until told to stop."""
    die_with_parent(server if server is not None else os.getppid())
    ignore_sigint()
    while True:
        try:
            job = conn.recv()
        except EOFError:  # the sweep stopped
            return
        if job is None:
            return
        fn, args, threads = job
        if "torch" in sys.modules:  # preloaded: its default would use every core in each job
            sys.modules["torch"].set_num_threads(threads)
        try:
            outcome: tuple[str, Any] = ("ok", fn(*args))
        except Exception as exc:
            outcome = ("error", one_line(exc))
        conn.send(outcome)


@dataclass
class _Worker:
    process: Any
    conn: Connection
    task: Task | None = None


class Workers:
    """Worker processes kept from one job to the next, training or compression, so each
    pays its first-use costs once per sweep; stopped by close()."""

    def __init__(self) -> None:
        self.pool: list[_Worker] = []

    def close(self) -> None:
        for worker in list(self.pool):
            _retire(worker, self.pool)


def _retire(worker: _Worker, pool: list[_Worker]) -> None:
    try:
        worker.conn.send(None)
    except OSError:
        pass  # already gone
    worker.process.join()
    worker.conn.close()
    pool.remove(worker)


def death(exitcode: int | None) -> str:
    """How a worker ended without a result, in words."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exited with status {exitcode} without a result"


def run_in_processes(
    tasks: Sequence[Task],
    cores: int,
    limits: Mapping[str, int] | None = None,
    on_retry: Callable[[Task, str], None] | None = None,
    then: Then | None = None,
    kept: Workers | None = None,
) -> Iterator[tuple[Task, Any]]:
    """Each task's result (or the error it raised, as a HarnessError) as it finishes, and
    then its follow-ups' (`then(task, outcome)`, queued as the outcome arrives), on forked
    processes running one job at a time each, as many at once as `cores` hold their
    threads and `limits` allow per kind (harness.sweep.schedule). A worker is kept for the
    next job, whatever its kind (a job's first-use costs, such as torch.export's, are paid
    once per worker, not per job). A task whose worker died runs once more in a new one
    (`on_retry(task, why)`), then fails with "`kind` worker killed by ...". A worker is
    named `harness-{kind}-{key[:8]}` after the task it starts with. With `kept`, its idle
    workers are used first and this call's are left to it, idle, at the end."""
    ctx = fork_context(sorted({m for t in tasks for m in t.preload}))
    server = _server_pid()
    queue: deque[Task] = deque(tasks)
    again: deque[Task] = deque()  # tasks whose worker died: each starts a new worker
    attempts: dict[str, int] = {}
    budget = Budget(cores, limits or {})
    pool: list[_Worker] = kept.pool if kept is not None else []

    def give(worker: _Worker, task: Task) -> None:
        attempts[task.key] = attempts.get(task.key, 0) + 1
        budget.take(task)
        worker.task = task
        try:
            worker.conn.send((task.fn, task.args, task.num_cpus))
        except OSError:
            pass  # the worker died; collect() reports it

    def start(task: Task) -> None:
        idle = [w for w in pool if w.task is None]
        if idle and len(pool) >= cores:  # its slot goes to the new worker
            _retire(idle[0], pool)
        mine, theirs = ctx.Pipe(duplex=True)
        process = ctx.Process(  # type: ignore[attr-defined]
            target=_serve, args=(theirs, server), name=f"harness-{task.kind}-{task.key[:8]}"
        )
        with sigint_blocked():
            process.start()
        theirs.close()  # the worker holds the only other end: EOF means it died
        worker = _Worker(process, mine)
        pool.append(worker)
        give(worker, task)

    def collect(worker: _Worker) -> tuple[Task, Any] | None:
        task = worker.task
        assert task is not None
        worker.task = None
        budget.free(task)
        try:
            kind, value = worker.conn.recv()
            return task, (value if kind == "ok" else HarnessError(value))
        except (EOFError, OSError):
            pass
        worker.conn.close()
        worker.process.join()
        pool.remove(worker)
        why = f"{task.kind} worker {death(worker.process.exitcode)}"
        if attempts[task.key] < ATTEMPTS:
            if on_retry is not None:
                on_retry(task, why)
            again.append(task)
            return None
        return task, HarnessError(f"{why} (tried {attempts[task.key]} times)")

    try:
        while queue or again or budget.used:
            while (task := next_task(again, budget) or next_task(queue, budget)) is not None:
                idle = [w for w in pool if w.task is None]
                if task.key in attempts or not idle:  # a retry runs in a new process
                    start(task)
                else:
                    give(idle[0], task)
            running = [w for w in pool if w.task is not None]
            ready = wait([w.conn for w in running])
            for worker in [w for w in running if w.conn in ready]:
                done = collect(worker)
                if done is None:
                    continue
                if then is not None:
                    queue.extend(then(*done))
                yield done
        if kept is None:
            for worker in list(pool):  # done: each idle worker is told to stop
                _retire(worker, pool)
    finally:
        for worker in [w for w in pool if w.task is not None]:  # interrupted: stop them
            worker.process.kill()
            worker.process.join()
            worker.conn.close()
            pool.remove(worker)
