"""Where each ready candidate is measured, merged into one stream for the driver (the
only writer of the store): on this machine, and on the targets' devices meanwhile.

On this machine measurement is serial by default (the quietest machine is the honest
one). `measure_parallel = N` splits this process's cores into N disjoint sets and
measures N lanes at once, each lane's processes held to its own cores
(os.sched_setaffinity); a compressed model's candidates stay in one lane, so parity is
computed against its own ONNX Runtime outputs. benchmarks/scale.py reports what
parallel lanes do to the numbers.
"""

from __future__ import annotations

import queue
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from harness.specs import LatencySpec
from harness.sweep.devices import measure_on_devices, needs_device
from harness.sweep.executors import Executor, available_cores
from harness.sweep.rounds import Pending, measure_in_rounds
from harness.train.datasets import Splits

__all__ = ["core_sets", "measure_everywhere", "split_lanes"]


def core_sets(cores: Sequence[int], lanes: int) -> list[list[int]]:
    """`lanes` disjoint, contiguous sets of `cores`, as even as they divide (pure)."""
    ordered = sorted(cores)
    size, extra = divmod(len(ordered), lanes)
    out, start = [], 0
    for i in range(lanes):
        end = start + size + (1 if i < extra else 0)
        out.append(ordered[start:end])
        start = end
    return out


def split_lanes(pending: Sequence[Pending], lanes: int) -> list[list[Pending]]:
    """The candidates dealt to `lanes` lanes a compressed model at a time, in plan order."""
    by_job: dict[str, list[Pending]] = defaultdict(list)
    for p in pending:
        by_job[p.cand.job.key].append(p)
    out: list[list[Pending]] = [[] for _ in range(lanes)]
    for i, group in enumerate(by_job.values()):
        out[i % lanes].extend(group)
    return [lane for lane in out if lane]


Event = tuple[str, Any]  # ("advance", label) | ("note", text) | ("done", (pending, steps))


def _threaded(producers: list[Callable[[Callable[[Event], None]], None]]) -> Iterator[Event]:
    """Run each producer in a thread; their events here, in this thread, as they come."""
    events: queue.Queue[Event | tuple[str, BaseException] | None] = queue.Queue()

    def run(producer: Callable[[Callable[[Event], None]], None]) -> None:
        try:
            producer(events.put)
        except BaseException as exc:  # re-raised in the driver's thread
            events.put(("error", exc))
        finally:
            events.put(None)

    for producer in producers:
        threading.Thread(target=run, args=(producer,), daemon=True).start()
    running = len(producers)
    while running:
        event = events.get()
        if event is None:
            running -= 1
        elif event[0] == "error":
            raise event[1]
        else:
            yield event


def measure_everywhere(
    pending: Sequence[Pending],
    executor: Executor,
    latency: LatencySpec,
    eval_inputs: list[Path],
    splits: Splits,
    advance: Callable[[str], None],
    note: Callable[[str], None],
) -> Iterator[tuple[Pending, int]]:
    """Every pending candidate once measured (or failed), with its progress steps left."""
    here = [p for p in pending if not needs_device(p)]
    away = [p for p in pending if needs_device(p)]
    lanes = max(1, min(getattr(executor, "measure_parallel", 1), len(here) or 1))
    if not away and lanes == 1:  # the default: serial, in this thread
        yield from measure_in_rounds(here, latency, eval_inputs, splits, advance)
        return
    producers = []
    if here:
        cores = core_sets(sorted(_allowed_cores()), lanes) if lanes > 1 else [None]
        for lane, cpus in zip(split_lanes(here, len(cores)), cores, strict=False):
            producers.append(_lane(lane, cpus, latency, eval_inputs, splits))
    if away:
        total = max(1, latency.rounds)

        def devices(put: Callable[[Event], None]) -> None:
            note_ = lambda text: put(("note", text))  # noqa: E731
            for p in measure_on_devices(executor, away, eval_inputs, latency, splits, note_):
                put(("done", (p, total)))

        producers.append(devices)
    for kind, value in _threaded(producers):
        if kind == "advance":
            advance(value)
        elif kind == "note":
            note(value)
        else:
            yield value


def _allowed_cores() -> set[int]:
    import os

    try:
        return os.sched_getaffinity(0)
    except AttributeError:  # not on Linux: no pinning, the lanes share the cores
        return set(range(available_cores()))


def _lane(
    lane: list[Pending],
    cpus: list[int] | None,
    latency: LatencySpec,
    eval_inputs: list[Path],
    splits: Splits,
) -> Callable[[Callable[[Event], None]], None]:
    def produce(put: Callable[[Event], None]) -> None:
        step = lambda label: put(("advance", label))  # noqa: E731
        for item in measure_in_rounds(lane, latency, eval_inputs, splits, step, cpus):
            put(("done", item))

    return produce
