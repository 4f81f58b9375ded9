"""Training in worker processes gives the models in-process training gives; a worker that
dies takes only its own job down."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from harness.config.load import load_config
from harness.errors import HarnessError
from harness.store.artifacts import Artifacts
from harness.store.results import Store
from harness.sweep.driver import run_sweep
from harness.sweep.fanout import TRAINING, training_task
from harness.sweep.forks import ATTEMPTS, run_in_processes
from harness.sweep.plan import make_plan
from harness.sweep.stages import Built, train_stage
from harness.train.datasets import load, split
from tests.helpers.configs import chains, latency_table, model, sweep_config

NOISE = {"steps": [{"op": "noise", "p": 0.5, "magnitude": 2}]}


def _config(workers: int) -> str:
    return sweep_config(
        "pool",
        1,
        models={"cnn": model("small_cnn", 4)},
        training={"epochs": 3, "workers": workers},
        policies={"none": "none", "geometric": "geometric", "noise": NOISE},
        compression=chains("fp32"),
        latency=latency_table(1, 5),
    )


def _sweep(tmp_path: Path, workers: int) -> tuple[dict[str, bytes], dict[str, float], dict]:
    folder = tmp_path / f"workers{workers}"
    folder.mkdir()
    (folder / "c.toml").write_text(_config(workers))
    config = load_config(folder / "c.toml")
    with Store(folder / "r.db") as store:
        summary = run_sweep(config, store, folder / "art")
        accuracy = {r.policy: r.metric("accuracy") for r in store.candidates(summary.run_id)}
    models = {p.stem: p.read_bytes() for p in (folder / "art" / "trained").glob("*.onnx")}
    return models, accuracy, dict(summary.counts)


def test_three_models_two_at_a_time_match_training_one_by_one(tmp_path: Path) -> None:
    serial, serial_acc, serial_counts = _sweep(tmp_path, 1)
    parallel, parallel_acc, parallel_counts = _sweep(tmp_path, 2)
    assert len(serial) == 3
    assert parallel == serial  # same cache keys (workers is not in them), same bytes
    assert parallel_acc == serial_acc
    assert serial_counts["trained"] == parallel_counts["trained"] == 3


def test_a_job_that_fails_in_a_worker_comes_back_as_one_line(tmp_path: Path) -> None:
    config = load_config(None)
    config = replace(config, training=replace(config.training, epochs=1, threads=1))
    plan = make_plan(config)
    good = plan.trains[0]
    bad = replace(good, model=replace(good.model, arch="no_such_arch"), key="bad")
    splits = split(load("digits", {}), 0, 0.15, 0.25)
    tasks = [training_task(job, splits, config, Artifacts(tmp_path)) for job in (good, bad)]
    results = {task.key: outcome for task, outcome in run_in_processes(tasks, 2, {TRAINING: 2})}
    assert sorted(results) == sorted([good.key, "bad"])
    built = results[good.key]
    assert isinstance(built, Built) and not built.reused and built.path.is_file()
    # The worker cached it where the sweep looks: training it here again reuses that file.
    again = train_stage(good, splits, config, Artifacts(tmp_path))
    assert again.reused and again.path == built.path
    error = results["bad"]
    assert isinstance(error, HarnessError)
    assert str(error).startswith("KeyError: ") and "no_such_arch" in str(error)
    assert "\n" not in str(error)


def _kill_worker_of(job_key: str, times: int, killed: list[int], stop: threading.Event) -> None:
    """Kill the training worker of one job each time one appears, `times` times."""
    name = f"harness-training-{job_key[:8]}"
    while len(killed) < times and not stop.is_set():
        for child in multiprocessing.active_children():
            if child.name == name and child.pid not in killed and child.pid is not None:
                os.kill(child.pid, signal.SIGKILL)
                killed.append(child.pid)
        time.sleep(0.005)


@pytest.mark.parametrize("deaths", [1, 2])
def test_a_dead_worker_fails_only_its_model_after_one_retry(tmp_path: Path, deaths: int) -> None:
    config = load_config(None)
    config = replace(config, training=replace(config.training, epochs=1, threads=1))
    first, second = make_plan(config).trains[:2]
    splits = split(load("digits", {}), 0, 0.15, 0.25)
    killed: list[int] = []
    retried: list[tuple[str, str]] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_worker_of, args=(first.key, deaths, killed, stop))
    killer.start()
    try:
        tasks = [training_task(job, splits, config, Artifacts(tmp_path)) for job in (first, second)]
        outcomes = run_in_processes(
            tasks, 2, {TRAINING: 2}, lambda task, why: retried.append((task.key, why))
        )
        results = dict((task.key, outcome) for task, outcome in outcomes)
    finally:
        stop.set()
        killer.join()
    assert len(killed) == deaths
    # The first death is retried in a fresh worker; the other model never notices.
    assert retried == [(first.key, "training worker killed by SIGKILL")]
    assert isinstance(results[second.key], Built)
    if deaths == 1:
        assert isinstance(results[first.key], Built)
    else:
        error = results[first.key]
        assert isinstance(error, HarnessError)
        assert str(error) == f"training worker killed by SIGKILL (tried {ATTEMPTS} times)"
    assert multiprocessing.active_children() == []
