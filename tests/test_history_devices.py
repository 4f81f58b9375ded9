"""The history of a candidate measured on a target's device: its latency is compared only
between runs timed on the same node machine, never on the run's (the driver's) machine."""

from __future__ import annotations

from pathlib import Path

from harness.measure.machine import machine_hash
from harness.report.history import Series, history_series
from harness.report.history_rows import history_points
from harness.store.results import Store
from tests.helpers.records import record

PI5 = {"cpu": "Cortex-A76", "cores": 4, "system": "Linux"}
PI4 = {**PI5, "cpu": "Cortex-A72"}  # the device replaced under the same target name


def _store(tmp_path: Path, devices: list[dict[str, object]], p50s: list[float]) -> Path:
    """One run per p50: a candidate timed on `devices[i]` (target rpi5) and one timed on
    the driver's machine "m" at a steady 1 ms, every run on that same driver machine."""
    db = tmp_path / "r.db"
    with Store(db) as store:
        for i, (device, p50) in enumerate(zip(devices, p50s, strict=True)):
            run = store.start_run(
                started_at=f"2026-01-01T00:00:{i:02d}+00:00",
                config={"dataset": {"name": "digits"}, "targets": [{"name": "rpi5"}]},
                config_hash="h", harness_version="0", git_revision=None,
                machine={"cpu": "x86"}, machine_hash="m",
            )  # fmt: skip
            on_pi = record(
                "fp32@rpi5", runtime="onnxruntime @ rpi5", device="rpi5", node="pi-1",
                node_machine=device, metrics={"accuracy": 0.9, "latency_p50_ms": p50},
            )  # fmt: skip
            here = record("fp32", metrics={"accuracy": 0.9, "latency_p50_ms": 1.0})
            store.add_candidate(run, on_pi, "t")
            store.add_candidate(run, here, "t")
    return db


def _series(db: Path) -> dict[str, Series]:
    with Store(db) as store:
        head = max(r.id for r in store.runs())
        machines = {r.id: r.machine_hash for r in store.runs()}
        found = history_series(history_points(store, machines, head), machines[head], head)
    return {s.label.key: s for s in found}


def _latency_flags(s: Series) -> list[tuple[int, float | None, float | None]]:
    both = (*s.regressions, *s.inconclusive)
    return [(r.run_id, r.before, r.after) for r in both if r.metric == "latency_p50_ms"]


def test_a_device_rise_on_the_same_node_machine_is_flagged(tmp_path: Path) -> None:
    series = _series(_store(tmp_path, [PI5, PI5, PI5], [2.0, 2.0, 4.0]))
    pi = series["fp32@rpi5"]
    assert pi.machine_hash == machine_hash(PI5)
    assert [p.machine_hash for p in pi.points] == [machine_hash(PI5)] * 3
    assert _latency_flags(pi) == [(3, 2.0, 4.0)]  # +100% between two runs on the Pi 5
    here = series["fp32"]
    assert here.machine_hash == "m" and [p.machine_hash for p in here.points] == ["m"] * 3


def test_a_replaced_device_is_not_compared_with_the_one_before(tmp_path: Path) -> None:
    """Same target name, same driver machine, but run 3 timed on a Pi 4: its 4 ms is not a
    regression of the Pi 5's 2 ms (the run's machine "m" did not change, the node's did)."""
    series = _series(_store(tmp_path, [PI5, PI5, PI4], [2.0, 2.0, 4.0]))
    pi = series["fp32@rpi5"]
    assert pi.machine_hash == machine_hash(PI4) != machine_hash(PI5)
    assert _latency_flags(pi) == []
    # the Pi 5's own history is still there, kept apart from the Pi 4's point
    assert [p.machine_hash for p in pi.points] == [machine_hash(p) for p in (PI5, PI5, PI4)]
