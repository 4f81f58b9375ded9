"""The Ray executor on a real Ray cluster started here on loopback: a head with 2 CPUs
and two nodes offering the device "device:test" and no CPUs. A sweep trained and
compressed as Ray tasks stores what the local executor stores; its measurements land only
on the device nodes; a device node killed mid-measurement leaves the store consistent,
its task run again on the other node, and a device no node offers fails with the reason."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.config.load import load_config
from harness.store.results import CandidateRecord, Store
from harness.sweep.driver import run_sweep
from harness.sweep.executors import LocalExecutor, make_executor
from harness.sweep.ray_executor import RayExecutor
from tests.helpers.executor_sweep import CONFIG, executor_config
from tests.helpers.handshake import expected_order, overlapping_trainings
from tests.helpers.ray_cluster import (
    NO_TOKEN,
    Cluster,
    Node,
    add_device,
    start_head,
    wait_for_nodes,
)

DEVICE = {"device:test": 1.0}
pytestmark = pytest.mark.ray

TARGET = '\n[targets.dev]\nresources = { "device:test" = 1 }\n'


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    started = start_head(cpus=2)
    os.environ["RAY_TMPDIR"] = str(started.temp)  # where the driver finds the session
    os.environ.update(NO_TOKEN)
    try:
        yield started
    finally:
        for name in ("RAY_TMPDIR", *NO_TOKEN):
            os.environ.pop(name, None)
        started.stop()


@pytest.fixture(scope="module")
def ray_executor(cluster: Cluster) -> Iterator[RayExecutor]:
    executor = make_executor("ray", cluster.address)
    assert isinstance(executor, RayExecutor)
    try:
        for count in (2, 3):  # one at a time: two starting at once time out here
            add_device(cluster, DEVICE)
            wait_for_nodes(executor.ray, count)
        yield executor
    finally:
        executor.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One artifacts folder: the later sweeps find the models the first one made."""
    return tmp_path_factory.mktemp("art")


def device_nodes(ray: object) -> dict[str, str]:
    """{node id[:12]: ...} of the live nodes offering the device."""
    return {
        n["NodeID"][:12]: n["NodeID"]
        for n in ray.nodes()  # type: ignore[attr-defined]
        if n["Alive"] and "device:test" in n["Resources"]
    }


def sweep(folder: Path, artifacts: Path, executor: object, config: str) -> list[CandidateRecord]:
    folder.mkdir()
    (folder / "c.toml").write_text(config)
    with Store(folder / "r.db") as store:
        summary = run_sweep(load_config(folder / "c.toml"), store, artifacts, None, executor)  # type: ignore[arg-type]
        assert store.run(summary.run_id).status == "complete"
        return sorted(store.candidates(summary.run_id), key=lambda r: r.compression)


def test_measurements_land_on_the_device_nodes_and_match_the_local_executor(
    ray_executor: RayExecutor, tmp_path: Path, artifacts: Path
) -> None:
    local = sweep(tmp_path / "local", tmp_path / "art", LocalExecutor(cores=2), CONFIG)
    ray = ray_executor.ray
    assert ray.cluster_resources()["CPU"] == 2.0  # joined the cluster, not a new Ray
    on_ray = sweep(tmp_path / "ray", artifacts, ray_executor, CONFIG + TARGET)
    assert [(r.compression, r.status) for r in on_ray] == [
        ("fp32", "ok"), ("int8", "ok"), ("prune 50%", "ok"),
    ]  # fmt: skip
    # the same accuracies and file sizes, candidate by candidate
    assert [(r.compression, r.metric("accuracy"), r.metric("file_bytes")) for r in on_ray] == [
        (r.compression, r.metric("accuracy"), r.metric("file_bytes")) for r in local
    ]
    devices = device_nodes(ray)
    for r in on_ray:
        assert (r.runtime, r.device) == ("onnxruntime @ dev", "dev")
        assert r.node is not None and r.node.rsplit("(", 1)[1].rstrip(")") in devices
        assert r.node_machine is not None and r.node_machine["usable_cores"] >= 1
        assert r.metric("latency_p50_ms") is not None and r.metric("latency_p50_ms") > 0
    assert all((r.device, r.node) == (None, None) for r in local)  # measured here


def test_a_trained_model_s_compression_runs_while_another_model_trains(
    ray_executor: RayExecutor, tmp_path: Path
) -> None:
    # "slow" trains until it sees the file compressing "quick" writes: a follow-up task is
    # submitted as its model's task ends, not after every training (see test_executors).
    signal = str(tmp_path / "quick compressed")
    tasks, then = overlapping_trainings(signal)
    order = [(t.key, o) for t, o in ray_executor.run(tasks, None, None, then)]
    assert order == expected_order(signal)


def test_a_device_no_node_offers_fails_its_candidates_with_the_reason(
    ray_executor: RayExecutor, tmp_path: Path, artifacts: Path
) -> None:
    ray_executor.device_wait = 1.0
    try:
        config = CONFIG + '\n[targets.rpi5]\nresources = { "device:rpi5" = 1 }\n'
        rows = sweep(tmp_path / "none", artifacts, ray_executor, config)
    finally:
        ray_executor.device_wait = 60.0
    assert [r.status for r in rows] == ["failed"] * 3
    for r in rows:
        assert r.error is not None and r.error.startswith(
            'measure (on target rpi5): no live node offers {"device:rpi5": 1} (waited 1 s)'
        )
        assert (r.device, r.node, r.metric("accuracy")) == ("rpi5", None, None)


def _kill_when_measuring(nodes: list[Node], killed: list[Node]) -> threading.Thread:
    """Kill the first device node that starts measuring, a moment into its measurement."""

    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for node in nodes:
                if node.measuring():
                    time.sleep(0.5)
                    node.kill()
                    killed.append(node)
                    return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_device_node_killed_mid_measurement_is_retried_on_the_other(
    cluster: Cluster, ray_executor: RayExecutor, tmp_path: Path, artifacts: Path
) -> None:
    ray = ray_executor.ray
    before = device_nodes(ray)
    assert len(before) == 2
    killed: list[Node] = []
    # one model, measured for 3 s in all: the kill lands mid-measurement
    config = executor_config(("fp32",), min_seconds=3.0) + TARGET
    watcher = _kill_when_measuring(cluster.devices, killed)
    rows = sweep(tmp_path / "kill", artifacts, ray_executor, config)
    watcher.join()
    assert len(killed) == 1
    (survivor,) = device_nodes(ray)
    (row,) = rows  # one row per candidate: nothing half-written, nothing twice
    assert (row.compression, row.status, row.error) == ("fp32", "ok", None)
    assert row.node is not None and row.node.endswith(f"({survivor})")
    retried = row.details["retried"]  # Ray names the loss by what it lost (actor, node)
    assert re.fullmatch(
        r"measure: its Ray worker or node died \(\w+Error\) \(attempt 1 of 2\)", retried
    )
