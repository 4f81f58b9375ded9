"""Cores busy of a process tree: the sweep's own CPU, not the machine's."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from harness.measure.proctree import TICK, TreeSampler, tree_cpu_seconds

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass"


def test_only_the_root_and_its_descendants_count() -> None:
    # pid, parent pid, CPU ticks (own + reaped children)
    stats = [(1, 0, 500), (10, 1, 7), (11, 10, 3), (12, 11, 2), (20, 1, 1000), (13, 10, 5)]
    assert tree_cpu_seconds(10, stats) == pytest.approx((7 + 3 + 2 + 5) / TICK)
    assert tree_cpu_seconds(11, stats) == pytest.approx(5 / TICK)
    assert tree_cpu_seconds(99, stats) == 0.0  # gone


def test_a_child_that_burned_cpu_and_exited_is_counted_through_its_parent() -> None:
    before = tree_cpu_seconds(os.getpid())
    subprocess.run([sys.executable, "-c", BURN.format(s=0.6)], check=True)  # waited: reaped
    after = tree_cpu_seconds(os.getpid())
    assert after - before >= 0.6  # its CPU moved into this process's cutime


def test_stages_split_cpu_by_marks() -> None:
    with TreeSampler(interval=0.05) as sampler:
        sampler.mark("idle")
        time.sleep(0.4)
        sampler.mark("busy")
        child = subprocess.Popen([sys.executable, "-c", BURN.format(s=0.5)])
        child.wait()
        sampler.mark("end")
    stages = sampler.stages()
    idle_wall, idle_cores = stages["idle"]
    busy_wall, busy_cores = stages["busy"]
    assert idle_wall == pytest.approx(0.4, abs=0.2)
    assert idle_cores < 0.3  # sleeping (the sampler's own thread is all there is)
    assert busy_cores * busy_wall >= 0.5  # the child's half CPU-second, and its start-up
