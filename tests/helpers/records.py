"""Candidate rows and stores built through the real Store API, for the report, compare,
select and store tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.store.results import CandidateRecord, Store


def record(
    key: str,
    *,
    status: str = "ok",
    error: str | None = None,
    metrics: dict[str, float | int | None] | None = None,
    details: dict[str, Any] | None = None,
    **fields: Any,
) -> CandidateRecord:
    """One candidate: digits, model cnn, policy none, compression `key`, on onnxruntime,
    unless `fields` say otherwise; a failed one gets the error "boom" unless given."""
    names = {
        "dataset": "digits",
        "model": "cnn",
        "policy": "none",
        "compression": key,
        "runtime": "onnxruntime",
    }
    names.update(fields)
    if status != "ok" and error is None:
        error = "boom"
    return CandidateRecord(
        key=key,
        status=status,
        error=error,
        metrics=dict(metrics or {}),
        details=dict(details or {}),
        **names,
    )


def start_run(store: Store, n: int = 0, machine_hash: str = "m", config_hash: str = "h") -> int:
    """A run with fixed metadata; `n` makes its start time sort after earlier ones."""
    return store.start_run(
        started_at=f"2026-01-01T00:00:{n:02d}+00:00",
        config={"dataset": {"name": "digits"}},
        config_hash=config_hash,
        harness_version="0",
        git_revision=None,
        machine={"cpu": "c"},
        machine_hash=machine_hash,
    )


def write_runs(db: Path, runs: list[list[CandidateRecord]], machines: tuple[str, ...] = ()) -> Path:
    """One run per list of records, in order; run i on machines[i] (default machine "m")."""
    with Store(db) as store:
        for i, records in enumerate(runs):
            run_id = start_run(store, i, machines[i] if machines else "m")
            for r in records:
                store.add_candidate(run_id, r, "t")
    return db
