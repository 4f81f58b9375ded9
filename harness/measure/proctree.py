"""Cores busy of one process tree: CPU seconds of a process and all its descendants over
wall seconds, read from /proc (Linux), without psutil.

Machine-wide load (/proc/stat, `uptime`) counts every user's work; on a shared machine
it says nothing about what a sweep itself keeps busy. This counts only the sweep: the
driver's threads, its live descendants (pool workers, training processes, zygotes and
their children, Ray's daemons and workers when this process started them), and the
children they have already reaped (`cutime`/`cstime` of their parent). A descendant
that exits unreaped by a process of the tree, or is re-parented out of it, is lost, so
the figure is a lower bound; the sampler's own thread is in it (about 1% of one core).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path

__all__ = ["TreeSampler", "tree_cpu_seconds"]

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: str) -> tuple[int, int] | None:
    """(parent pid, CPU ticks of the process and its reaped children), or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); ppid is field 4, utime..cstime are fields 14-17
    return int(fields[1]), sum(int(v) for v in fields[11:15])


def tree_cpu_seconds(root: int, stats: Iterable[tuple[int, int, int]] | None = None) -> float:
    """CPU seconds of `root` and its live descendants, each with its reaped children.
    `stats` (pid, ppid, ticks) stands in for /proc in tests."""
    if stats is None:
        stats = [
            (int(pid), *s)
            for pid in os.listdir("/proc")
            if pid.isdigit() and (s := _stat(pid)) is not None
        ]
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for pid, ppid, cpu in stats:
        children.setdefault(ppid, []).append(pid)
        ticks[pid] = cpu
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += ticks.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return total / TICK


class TreeSampler:
    """Samples this process tree's CPU seconds every `interval` s in a thread; `mark(name)`
    notes a stage boundary, `stages()` gives each stage's wall and cores busy."""

    def __init__(self, root: int | None = None, interval: float = 0.2) -> None:
        self.root = root or os.getpid()
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self.marks: list[tuple[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join()
            self._sample()

    def _sample(self) -> None:
        self.samples.append((time.perf_counter(), tree_cpu_seconds(self.root)))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def mark(self, name: str) -> None:
        """The stage `name` begins now (and the one before it ends)."""
        self.marks.append((name, time.perf_counter()))
        self._sample()  # a sample at every boundary, not up to `interval` later

    def cpu_at(self, t: float) -> float:
        """CPU seconds at time `t`, interpolated between the samples around it."""
        before = [s for s in self.samples if s[0] <= t]
        after = [s for s in self.samples if s[0] >= t]
        if not before:
            return self.samples[0][1]
        if not after:
            return self.samples[-1][1]
        (t0, c0), (t1, c1) = before[-1], after[0]
        return c0 if t1 == t0 else c0 + (c1 - c0) * (t - t0) / (t1 - t0)

    def stages(self, end: float | None = None) -> dict[str, tuple[float, float]]:
        """{stage: (wall seconds, cores busy)} between consecutive marks, the last one
        ending at `end` (default: the last sample); a stage marked twice adds up."""
        stop = end if end is not None else self.samples[-1][0]
        bounds = [*self.marks, ("", stop)]
        walls: dict[str, float] = {}
        cpus: dict[str, float] = {}
        for (name, t0), (_, t1) in zip(bounds, bounds[1:], strict=False):
            walls[name] = walls.get(name, 0.0) + (t1 - t0)
            cpus[name] = cpus.get(name, 0.0) + self.cpu_at(t1) - self.cpu_at(t0)
        return {n: (w, cpus[n] / w if w > 0 else float("nan")) for n, w in walls.items()}
