"""Measurement on a target's device: one executor task per (target, compressed model),
asking for the target's resources, so on Ray it runs only on a node offering that device
and holds the device for the time it measures.

The task carries its model files' bytes and the test inputs, writes them to a folder of
its own and measures the candidates in interleaved rounds there, as the driver does
here; it returns them with the node that measured and that node's machine description
(latency is compared only within one device). The driver commits what comes back: it
stays the only writer of the store.
"""

from __future__ import annotations

import functools
import os
import socket
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import one_line
from harness.specs import LatencySpec
from harness.sweep.executors import Executor, Task
from harness.sweep.rounds import Pending, measure_in_rounds
from harness.train.datasets import Splits

__all__ = ["measure_on_devices", "needs_device"]


def needs_device(p: Pending) -> bool:
    target = p.cand.target
    return target is not None and bool(target.resources)


@functools.cache
def this_node() -> tuple[str, dict[str, Any]]:
    """This host's name (and Ray node id, inside a Ray task) and machine description."""
    from harness.measure.machine import describe_machine

    name = socket.gethostname()
    try:
        import ray

        if ray.is_initialized():
            name = f"{name} ({ray.get_runtime_context().get_node_id()[:12]})"
    except ImportError:
        pass
    return name, describe_machine()


def measure_group(
    group: list[Pending],
    models: dict[str, bytes],
    eval_arrays: list[np.ndarray],
    latency: LatencySpec,
    splits: Splits,
) -> list[Pending]:
    """In the task, on the device's node: measure one model's candidates on this target."""
    node, machine = this_node()
    with tempfile.TemporaryDirectory(prefix=f"harness-device-{os.getpid()}-") as tmp:
        folder = Path(tmp)
        inputs = []
        for i, array in enumerate(eval_arrays):
            inputs.append(folder / f"input{i}.npy")
            np.save(inputs[-1], array)
        local = []
        for p in group:
            path = folder / p.model_path.name
            path.write_bytes(models[p.model_path.name])
            local.append(replace(p, model_path=path))
        done = [p for p, _ in measure_in_rounds(local, latency, inputs, splits, lambda _: None)]
    by_key = {p.cand.key: p for p in done}
    out = []
    for p in group:  # the driver's own paths: the store records the artifacts it keeps
        measured = by_key[p.cand.key]
        out.append(replace(measured, model_path=p.model_path, node=node, machine=machine))
    return out


def _tasks(
    away: Sequence[Pending], eval_inputs: list[Path], latency: LatencySpec, splits: Splits
) -> list[tuple[Task, list[Pending]]]:
    groups: dict[tuple[str, str], list[Pending]] = defaultdict(list)
    for p in away:
        assert p.cand.target is not None
        groups[(p.cand.target.name, p.cand.job.key)].append(p)
    arrays = [np.load(path) for path in eval_inputs]
    out = []
    for (target, job), group in groups.items():
        models = {p.model_path.name: p.model_path.read_bytes() for p in group}
        resources = group[0].cand.target.resources if group[0].cand.target else {}
        args = (group, models, arrays, latency, splits)
        out.append((Task(f"{target}/{job}", measure_group, args, 0, dict(resources)), group))
    return out


def measure_on_devices(
    executor: Executor,
    away: Sequence[Pending],
    eval_inputs: list[Path],
    latency: LatencySpec,
    splits: Splits,
    note: Callable[[str], None],
) -> Iterator[Pending]:
    """Every candidate of `away` measured on its target's device (or failed with why)."""
    tasks = _tasks(away, eval_inputs, latency, splits)
    groups = {task.key: group for task, group in tasks}
    retried: dict[str, str] = {}

    def on_retry(task: Task, why: str) -> None:
        retried[task.key] = why
        note(f"measuring on {task.key.split('/')[0]}: {why}; running it again elsewhere")

    for task, outcome in executor.run([t for t, _ in tasks], on_retry=on_retry):
        if isinstance(outcome, Exception):
            where = task.key.split("/")[0]
            for p in groups[task.key]:
                p.error = f"measure (on target {where}): {one_line(outcome)}"
                yield p
            continue
        for p in outcome:
            if task.key in retried:
                p.details["retried"] = f"measure: {retried[task.key]}"
            yield p
