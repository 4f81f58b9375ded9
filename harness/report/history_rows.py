"""The stored rows the history and `compare` read: every candidate of every run, reduced
to what a series needs (the candidates_history index answers it without the details)."""

from __future__ import annotations

import json

from harness.report.compare import NoiseInputs
from harness.report.history import HistoryPoint, SeriesLabel, series_machine
from harness.report.noise import same_file_changes
from harness.store.results import Store


def history_points(
    store: Store, machines: dict[int, str], up_to: int
) -> dict[SeriesLabel, list[HistoryPoint]]:
    """Every stored candidate of runs up to `up_to`, reduced to what the history draws.
    A point's machine is the one that timed it: its target's node for a candidate measured
    on a device, else its run's machine."""
    columns = (
        "run_id", "key", "model", "policy", "compression", "runtime", "status",
        "accuracy", "file_bytes", "latency_p50_ms", "artifact_sha256", "runtime_version",
    )  # fmt: skip
    nodes = node_machine_hashes(store, machines, up_to)
    labels: dict[str, SeriesLabel] = {}
    points: dict[str, list[HistoryPoint]] = {}
    for run_id, key, model, policy, compression, runtime, *values in store.metric_rows(
        columns, up_to
    ):
        if run_id not in machines:
            continue
        if key not in labels:
            labels[key] = SeriesLabel(key, model, policy, compression, runtime)
            points[key] = []
        machine = nodes.get((run_id, key), machines[run_id])
        points[key].append(HistoryPoint(run_id, machine, *values))
    return {labels[key]: pts for key, pts in points.items()}


def node_machine_hashes(
    store: Store, machines: dict[int, str], up_to: int
) -> dict[tuple[int, str], str]:
    """{(run, key): hash of the node machine that timed it} for candidates measured on a
    target's node; only runs whose config declares targets can have any, so only those are
    read (the covering index of the history has no node column)."""
    from harness.measure.machine import machine_hash

    found: dict[tuple[int, str], str] = {}
    hashes: dict[str, str] = {}  # one hash per distinct description
    for run in store.runs():
        if run.id in machines and run.id <= up_to and run.config.get("targets"):
            for key, machine in store.node_machines(run.id).items():
                text = json.dumps(machine, sort_keys=True)
                if text not in hashes:
                    hashes[text] = machine_hash(machine)
                found[(run.id, key)] = hashes[text]
    return found


def noise_inputs(store: Store, base: int, head: int) -> NoiseInputs:
    """The two runs' round p50s and, per runtime, the same-file p50 changes of every series
    up to `head` on its machine: what `compare` judges latency changes against."""
    kind = store.run(head).kind
    machines = {r.id: r.machine_hash for r in store.runs() if r.kind == kind}
    history: dict[str, list[float]] = {}
    for label, points in history_points(store, machines, head).items():
        # (run, machine, status, p50, sha256, runtime version) of each point
        rows = [(p.run_id, p.machine_hash, p.status, *p[5:8]) for p in points]
        timed_on = series_machine(points, head, machines[head])
        history.setdefault(label.runtime, []).extend(same_file_changes(rows, timed_on))

    def p50s(run_id: int) -> dict[str, list[float]]:
        return {k: [r["p50_ms"] for r in v] for k, v in store.rounds(run_id).items()}

    return NoiseInputs(p50s(base), p50s(head), history)
