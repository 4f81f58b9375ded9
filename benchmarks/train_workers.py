"""What training in worker processes buys: the default sweep's models, cold, one at a time
against `training.workers` at a time, side by side in one run.

    python benchmarks/train_workers.py

Each setting trains the 3 models of the default config (digits, small_cnn, 3 policies)
into a fresh cache. workers x threads is kept at the machine's core count, so every
setting uses the same cores; the ratio is wall time against the one-at-a-time baseline.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from harness.config.load import load_config
from harness.store.artifacts import Artifacts
from harness.sweep.fanout import TRAINING, training_task
from harness.sweep.forks import run_in_processes
from harness.sweep.plan import make_plan
from harness.sweep.stages import train_stage
from harness.train.datasets import load, split


def main() -> None:
    cores = len(os.sched_getaffinity(0))
    base = load_config(None)
    splits = split(load("digits", {}), base.seed, 0.15, 0.25)
    settings = [(1, cores)] + [(w, max(1, cores // w)) for w in (2, 3) if w <= max(cores, 3)]
    print(f"{cores} cores; default sweep, {len(make_plan(base).trains)} models, cold cache")
    print(f"{'workers':>8}{'threads':>9}{'train s':>10}{'vs 1 worker':>13}")
    first = None
    for workers, threads in settings:
        training = replace(base.training, workers=workers, threads=threads)
        config = replace(base, training=training)
        jobs = list(make_plan(config).trains)
        with tempfile.TemporaryDirectory() as tmp:
            artifacts = Artifacts(Path(tmp))
            started = time.perf_counter()
            if workers == 1:
                for job in jobs:
                    train_stage(job, splits, config, artifacts)
            else:
                tasks = [training_task(job, splits, config, artifacts) for job in jobs]
                for _ in run_in_processes(tasks, cores, {TRAINING: workers}):
                    pass
            seconds = time.perf_counter() - started
        first = first or seconds
        print(f"{workers:>8}{threads:>9}{seconds:>10.1f}{seconds / first:>13.2f}")


if __name__ == "__main__":
    main()
