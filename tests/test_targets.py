"""Targets as devices: the [targets] section, the candidates it makes, a target's
device asked of an executor that has none, and measurement lanes on disjoint cores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.config.load import load_config
from harness.errors import ConfigError
from harness.specs import TargetSpec
from harness.store.results import Store
from harness.sweep.device_actors import offered, units
from harness.sweep.driver import run_sweep
from harness.sweep.executors import LocalExecutor, SerialExecutor, Task, make_executor
from harness.sweep.lanes import core_sets, split_lanes
from harness.sweep.plan import make_plan
from harness.sweep.rounds import Pending
from tests.helpers.executor_sweep import CONFIG

TWO = CONFIG + "[runtimes.litert]\nthreads = 1\n"


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_targets_place_each_of_their_runtimes_on_their_device(tmp_path: Path) -> None:
    text = TWO + (
        '[targets.rpi5]\nresources = { "device:rpi5" = 1 }\nruntimes = ["litert"]\n[targets.here]\n'
    )
    config = load_config(_config(tmp_path, text))
    assert config.targets == (
        TargetSpec("rpi5", {"device:rpi5": 1.0}, ("litert",)),
        TargetSpec("here", {}, ("onnxruntime", "litert")),  # default: every runtime
    )
    plan = make_plan(config)
    labels = [c.runtime_label for c in plan.candidates[:3]]
    assert labels == ["litert @ rpi5", "onnxruntime @ here", "litert @ here"]
    assert len(plan.candidates) == 3 * 3  # 3 compressions x 3 placements
    assert len({c.key for c in plan.candidates}) == 9  # a device is its own history series


def test_without_targets_the_candidates_keep_their_keys(tmp_path: Path) -> None:
    """A config without [targets] hashes as before they existed (history and resume)."""
    config = load_config(_config(tmp_path, CONFIG))
    assert "targets" not in config.spec()
    keys = [c.key for c in make_plan(config).candidates]
    here = load_config(_config(tmp_path, CONFIG + "[targets.here]\n"))
    assert [c.key for c in make_plan(here).candidates] != keys  # a target is part of the key
    assert all(c.target is None for c in make_plan(config).candidates)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[targets.a]\nresources = { "device:a" = 0 }',
         "targets.a.resources: 'device:a' must ask for a number > 0 of it, got 0"),
        ('[targets.a]\nresources = { CPU = 1 }',
         "targets.a.resources: 'CPU' is Ray's own resource; name a device instead, e.g. "
         '{ "device:rpi5" = 1 }'),
        ('[targets.a]\nresources = { "device:a" = 1.5 }',
         "targets.a.resources: 'device:a': Ray takes fractions only below 1; ask for a whole "
         "number, got 1.5"),
        ('[targets.a]\nresources = "device:a"',
         'targets.a.resources: must be a table of resource = amount, e.g. { "device:rpi5" = 1 }'),
        ('[targets.a]\nruntimes = ["onnxruntim"]',
         "targets.a.runtimes: no [runtimes.onnxruntim] table (did you mean 'onnxruntime'?); "
         "declared: onnxruntime"),
        ("[targets.a]\nruntimes = []",
         "targets.a.runtimes: must be a list of [runtimes] table names, e.g. ['onnxruntime']"),
        ("[targets.a]\ndevice = 1",
         "targets.a.device: unknown key; allowed keys: resources, runtimes"),
        ("targets = 3", "targets: must be dict, got 3"),
    ],
)  # fmt: skip
def test_a_bad_target_is_one_line_and_exit_2(tmp_path: Path, table: str, message: str) -> None:
    text = CONFIG + table + "\n" if not table.startswith("targets =") else table + "\n" + CONFIG
    path = _config(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}:{message}"
    result = CliRunner().invoke(cli, ["sweep", str(path), "--db", str(tmp_path / "r.db")])
    assert result.exit_code == 2
    assert result.output.strip().endswith(message)
    assert "Traceback" not in result.output


def test_a_device_target_fails_on_an_executor_without_devices(tmp_path: Path) -> None:
    """The local executors run on this machine: a target's device is not there."""
    text = CONFIG + '[targets.rpi5]\nresources = { "device:rpi5" = 1 }\n[targets.here]\n'
    with Store(tmp_path / "r.db") as store:
        config = load_config(_config(tmp_path, text))
        summary = run_sweep(config, store, tmp_path / "art", None, SerialExecutor())
        rows = store.candidates(summary.run_id)
        assert store.run(summary.run_id).status == "complete"
    away = sorted((r.compression, r.status, r.error) for r in rows if r.device == "rpi5")
    reason = (
        "measure (on target rpi5): needs device:rpi5 = 1, which the serial executor cannot "
        "offer (it runs on this machine); run with --executor ray --address HEAD:PORT on a "
        "cluster where a device host offers it"
    )
    assert away == [(c, "failed", reason) for c in ("fp32", "int8", "prune 50%")]
    here = [r for r in rows if r.device == "here"]
    assert [r.status for r in here] == ["ok"] * 3  # a target without resources: this machine
    assert all(r.runtime == "onnxruntime @ here" and r.node is None for r in here)
    assert all(r.metric("accuracy") is not None for r in here)
    # a device's name picks its candidates, as a target's or a runtime's does
    result = CliRunner().invoke(cli, ["select", "--target", "here", "--db", str(tmp_path / "r.db")])
    assert result.exit_code == 0, result.output
    assert "onnxruntime @ here" in result.output and "rpi5" not in result.output


def test_executors_without_devices_answer_a_device_task_with_the_reason() -> None:
    tasks = [Task("d", divmod, (7, 2), 0, {"device:x": 1.0}), Task("ok", divmod, (7, 2))]
    for executor in (SerialExecutor(), LocalExecutor(cores=2)):
        outcomes = {t.key: o for t, o in executor.run(tasks)}
        assert outcomes["ok"] == (3, 1)
        assert str(outcomes["d"]).startswith(f"needs device:x = 1, which the {executor.name}")


def test_a_live_node_offers_a_resource_only_in_full() -> None:
    nodes = [
        {"Alive": False, "Resources": {"device:a": 1.0}},
        {"Alive": True, "Resources": {"device:a": 0.5, "CPU": 2.0}},
        {"Alive": True, "Resources": {"device:b": 2.0}},
    ]
    assert not offered(nodes, {"device:a": 1.0})  # the whole one is on a dead node
    assert offered(nodes, {"device:a": 0.5})
    assert offered(nodes, {"device:b": 2.0}) and not offered(nodes, {"device:b": 3.0})
    assert not offered(nodes, {"device:a": 0.5, "device:b": 1.0})  # both on one node
    # how many measurements of a device run at once: one actor per unit
    assert units(nodes, {"device:b": 1.0}) == 2
    assert units(nodes, {"device:a": 0.25}) == 2  # the dead node's device does not count
    assert units(nodes, {"device:c": 1.0}) == 0


def test_lanes_take_disjoint_cores_and_whole_models() -> None:
    assert core_sets([3, 0, 1, 2], 2) == [[0, 1], [2, 3]]
    assert core_sets(range(5), 2) == [[0, 1, 2], [3, 4]]
    assert core_sets([0, 1], 2) == [[0], [1]]
    plan = make_plan(load_config(None))
    pending = [Pending(c, Path(c.key), {}, {}) for c in plan.candidates]
    lanes = split_lanes(pending, 2)
    assert sum(len(lane) for lane in lanes) == len(pending)
    jobs = [{p.cand.job.key for p in lane} for lane in lanes]
    assert not jobs[0] & jobs[1]  # a model's candidates (and its parity reference) in one lane
    assert abs(len(jobs[0]) - len(jobs[1])) <= 1


def test_measure_parallel_is_checked_against_the_cores() -> None:
    cores = len(os.sched_getaffinity(0))
    with pytest.raises(ConfigError, match=f"--measure-parallel {cores + 1}: give 1"):
        make_executor("local", None, cores + 1)
    assert make_executor("serial", None, cores).measure_parallel == cores


def test_parallel_lanes_store_what_serial_measurement_does(tmp_path: Path) -> None:
    """Two lanes on disjoint cores: the same accuracies, sizes and statuses as one lane,
    each candidate's rounds pinned inside its lane's cores."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.fail("this test needs 2 cores to pin two lanes apart")
    rows = {}
    for lanes in (1, 2):
        folder = tmp_path / str(lanes)
        folder.mkdir()
        with Store(folder / "r.db") as store:
            config = load_config(_config(folder, CONFIG))
            summary = run_sweep(config, store, tmp_path / "art", None, SerialExecutor(lanes))
            found = store.candidates(summary.run_id)
            rounds = store.rounds(summary.run_id)
        rows[lanes] = sorted(
            (r.compression, r.status, r.metric("accuracy"), r.metric("file_bytes")) for r in found
        )
        pinned = {tuple(r["machine"]["cpus"]) for rs in rounds.values() for r in rs}
        if lanes == 2:
            lane_cores = core_sets(sorted(os.sched_getaffinity(0)), 2)
            assert all(any(set(c) <= set(lane) for lane in lane_cores) for c in pinned)
    assert rows[2] == rows[1]
    assert [r[1] for r in rows[2]] == ["ok"] * 3


def test_latency_on_a_device_is_compared_only_with_the_same_device_machine() -> None:
    """Two runs driven from one machine: a row timed on a device node is compared with
    one timed on a node of the same machine description, never with another."""
    from dataclasses import replace

    from harness.report.compare import NoiseInputs, compare_runs, parse_thresholds
    from harness.store.results import Run
    from tests.helpers.records import record

    rules = parse_thresholds("p50>+25%")
    run = Run(1, "t", None, "complete", {}, "h", "0", None, {}, "head", {})
    pi = {"cpu": "Cortex-A76", "arch": "aarch64", "cores": 4, "os": "Linux"}
    base = record("a", metrics={"accuracy": 0.9, "file_bytes": 1000, "latency_p50_ms": 1.0})
    base = replace(base, device="rpi5", node="pi-1", node_machine=pi)
    slower = replace(base, metrics={**base.metrics, "latency_p50_ms": 3.0}, node="pi-2")
    history = NoiseInputs(history={"onnxruntime": [0.1, -0.1]})
    same = compare_runs(run, run, [base], [slower], rules, history)
    assert [(c.metric, c.crossed) for c in same] == [("latency_p50_ms", ("p50>+25%",))]
    other = replace(slower, node_machine={**pi, "cpu": "Cortex-A72"})  # a Pi 4, not a Pi 5
    assert compare_runs(run, run, [base], [other], rules, history) == []
