"""Training in worker processes: the models of a sweep are independent, so with
`training.workers = N` they train N at a time, before any latency is measured (timing
must not share the CPU with training).

Each job gets its own fresh (spawned) interpreter: forking a process that has already
used torch's thread pool can hang, and a process per job means a worker that dies (the
OOM killer, a crash in a native library, `kill -9`) takes only its own model down; that
model is retried once in a new process. A job's result is the same as when trained
in-process: training is seeded per job and the thread count is set in each worker.
Workers die with the sweep (harness.measure.lifeline), and are killed when the sweep
is interrupted.
"""

from __future__ import annotations

import os
import signal
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from typing import Any

from harness.errors import HarnessError, one_line
from harness.measure.lifeline import die_with_parent, ignore_sigint, sigint_blocked
from harness.store.artifacts import Artifacts
from harness.sweep.plan import TrainJob
from harness.sweep.stages import Built, train_stage
from harness.train.datasets import Splits

__all__ = ["ATTEMPTS", "train_in_processes"]

# A worker that dies is retried once; a training error (bad data, a bug) is not retried,
# since it would fail the same way.
ATTEMPTS = 2


def _train_one(conn: Connection, inbox: Connection, parent: int) -> None:
    """In a worker: receive one job, train (and cache) its model and send back the result,
    or the error as one line (not every exception survives pickling back to the parent)."""
    die_with_parent(parent)
    ignore_sigint()  # started with SIGINT blocked (sigint_blocked)
    try:
        job, splits, config, artifacts = inbox.recv()
    except EOFError:  # the parent stopped before sending the job
        return
    inbox.close()
    try:
        outcome: tuple[str, Any] = ("ok", train_stage(job, splits, config, artifacts))
    except Exception as exc:
        outcome = ("error", one_line(exc))
    conn.send(outcome)
    conn.close()


@dataclass
class _Running:
    job: TrainJob
    process: Any
    conn: Connection


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exited with status {exitcode} without a result"


def train_in_processes(
    jobs: Sequence[TrainJob],
    splits: Splits,
    config: Any,
    artifacts: Artifacts,
    workers: int,
    on_done: Callable[[TrainJob, Built | Exception], None],
    on_retry: Callable[[TrainJob, str], None] | None = None,
) -> dict[str, Built | Exception]:
    """{job key: the trained model, or why it failed}, `workers` jobs at a time; `on_done`
    is called in this process as each one finishes, `on_retry` when a worker died."""
    ctx = get_context("spawn")
    pending: deque[TrainJob] = deque(jobs)
    attempts: dict[str, int] = {}
    running: list[_Running] = []
    results: dict[str, Built | Exception] = {}

    def start(job: TrainJob) -> None:
        receive, send = ctx.Pipe(duplex=False)
        inbox, outbox = ctx.Pipe(duplex=False)
        process = ctx.Process(
            target=_train_one, args=(send, inbox, os.getpid()), name=f"harness-train-{job.key[:8]}"
        )
        with sigint_blocked():
            process.start()
        send.close()  # the worker holds the only writing end: EOF means it died
        inbox.close()
        attempts[job.key] = attempts.get(job.key, 0) + 1
        running.append(_Running(job, process, receive))
        try:
            outbox.send((job, splits, config, artifacts))
        except OSError:
            pass  # the worker died at once; finish() reports it
        finally:
            outbox.close()

    def finish(entry: _Running) -> None:
        outcome: Built | Exception | None = None
        try:
            if entry.conn.poll():
                kind, value = entry.conn.recv()
                outcome = value if kind == "ok" else HarnessError(value)
        except (EOFError, OSError):
            outcome = None
        entry.conn.close()
        entry.process.join()
        running.remove(entry)
        job = entry.job
        if outcome is None:
            why = f"training worker {_death(entry.process.exitcode)}"
            if attempts[job.key] < ATTEMPTS:
                if on_retry is not None:
                    on_retry(job, why)
                pending.appendleft(job)
                return
            outcome = HarnessError(f"{why} (tried {attempts[job.key]} times)")
        results[job.key] = outcome
        on_done(job, outcome)

    try:
        while pending or running:
            while pending and len(running) < workers:
                start(pending.popleft())
            ready = wait([e.conn for e in running])
            for entry in [e for e in running if e.conn in ready]:
                finish(entry)
    finally:
        for entry in running:  # interrupted: stop every worker still training
            entry.process.kill()
            entry.process.join()
            entry.conn.close()
    return results
