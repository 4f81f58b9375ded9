"""Which CPUs a measurement should run on, and how busy the machine was around it.

A worker pinned to a core another process keeps busy measures that process, so the
worker pins to the cores that were idlest over a short window of /proc/stat; where
/proc/stat or affinity is unavailable it leaves placement to the OS. Either way the
choice is recorded with the round.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

IDLE_WINDOW_SECONDS = 0.02
# /proc/stat fields after the cpu name: user nice system idle iowait irq softirq steal ...
_IDLE_FIELDS = (3, 4)
# A 1-minute load average above this many per usable core means processes queued for a
# CPU while the round ran: the run page warns that the machine was busy.
BUSY_LOAD_PER_CORE = 1.0

CpuTimes = Mapping[int, tuple[int, int]]  # cpu -> (idle ticks, total ticks)


def read_cpu_times(text: str) -> dict[int, tuple[int, int]]:
    """Per-CPU (idle, total) ticks from the text of /proc/stat."""
    out = {}
    for line in text.splitlines():
        name, *fields = line.split()
        if not (name.startswith("cpu") and name[3:].isdigit()):
            continue
        ticks = [int(v) for v in fields[:8]]
        out[int(name[3:])] = (sum(ticks[i] for i in _IDLE_FIELDS), sum(ticks))
    return out


def idlest(before: CpuTimes, after: CpuTimes, allowed: Sequence[int], count: int) -> list[int]:
    """The `count` allowed CPUs with the largest idle share between two readings; on equal
    shares the higher-numbered CPU wins (CPU 0 takes most interrupts)."""

    def idle_share(cpu: int) -> float:
        idle = after[cpu][0] - before[cpu][0]
        total = after[cpu][1] - before[cpu][1]
        return idle / total if total > 0 else 1.0

    known = [c for c in allowed if c in before and c in after]
    ranked = sorted(known, key=lambda c: (idle_share(c), c), reverse=True)
    return sorted(ranked[:count])


def choose_cpus(threads: int) -> dict[str, Any]:
    """Pin this process to the idlest `threads` CPUs; {"cpus": [...], "rule": ...}."""
    if not hasattr(os, "sched_setaffinity"):
        return {"cpus": None, "rule": "os (no CPU affinity on this platform)"}
    allowed = sorted(os.sched_getaffinity(0))
    if threads >= len(allowed):
        return {"cpus": allowed, "rule": "os (the run uses every allowed CPU)"}
    stat = Path("/proc/stat")
    try:
        before = read_cpu_times(stat.read_text())
        time.sleep(IDLE_WINDOW_SECONDS)
        after = read_cpu_times(stat.read_text())
    except OSError:
        return {"cpus": None, "rule": "os (/proc/stat unreadable)"}
    chosen = idlest(before, after, allowed, threads)
    if len(chosen) < threads:
        return {"cpus": None, "rule": "os (/proc/stat lists fewer CPUs than allowed)"}
    os.sched_setaffinity(0, chosen)
    return {"cpus": chosen, "rule": f"idlest over {IDLE_WINDOW_SECONDS * 1000:g} ms"}


def _cpu_mhz() -> float | None:
    """Mean current frequency of the CPUs, from cpufreq or /proc/cpuinfo."""
    freqs = []
    for path in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq/scaling_cur_freq"):
        try:
            freqs.append(int(path.read_text()) / 1000)
        except (OSError, ValueError):
            continue
    if not freqs:
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.lower().startswith("cpu mhz"):
                    freqs.append(float(line.split(":", 1)[1]))
        except (OSError, ValueError):
            return None
    return round(sum(freqs) / len(freqs), 1) if freqs else None


def machine_load() -> dict[str, float | None]:
    """The 1-minute load average and the mean CPU frequency, right now."""
    try:
        load: float | None = round(os.getloadavg()[0], 2)
    except OSError:
        load = None
    return {"load1": load, "cpu_mhz": _cpu_mhz()}


def was_busy(load1: float | None, usable_cores: int) -> bool:
    return load1 is not None and load1 > BUSY_LOAD_PER_CORE * max(1, usable_cores)
