"""The stored rows the history and `compare` read: every candidate of every run, reduced
to what a series needs (the candidates_history index answers it without the details)."""

from __future__ import annotations

from harness.report.compare import NoiseInputs
from harness.report.history import HistoryPoint, SeriesLabel
from harness.report.noise import same_file_changes
from harness.store.results import Store


def history_points(
    store: Store, machines: dict[int, str], up_to: int
) -> dict[SeriesLabel, list[HistoryPoint]]:
    """Every stored candidate of runs up to `up_to`, reduced to what the history draws."""
    columns = (
        "run_id", "key", "model", "policy", "compression", "runtime", "status",
        "accuracy", "file_bytes", "latency_p50_ms", "artifact_sha256", "runtime_version",
    )  # fmt: skip
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
        points[key].append(HistoryPoint(run_id, machines[run_id], *values))
    return {labels[key]: pts for key, pts in points.items()}


def noise_inputs(store: Store, base: int, head: int) -> NoiseInputs:
    """The two runs' round p50s and, per runtime, the same-file p50 changes of every series
    up to `head` on its machine: what `compare` judges latency changes against."""
    kind = store.run(head).kind
    machines = {r.id: r.machine_hash for r in store.runs() if r.kind == kind}
    history: dict[str, list[float]] = {}
    for label, points in history_points(store, machines, head).items():
        # (run, machine, status, p50, sha256, runtime version) of each point
        rows = [(p.run_id, p.machine_hash, p.status, *p[5:8]) for p in points]
        history.setdefault(label.runtime, []).extend(same_file_changes(rows, machines[head]))

    def p50s(run_id: int) -> dict[str, list[float]]:
        return {k: [r["p50_ms"] for r in v] for k, v in store.rounds(run_id).items()}

    return NoiseInputs(p50s(base), p50s(head), history)
