"""The SQLite store: rows round-trip, commits are immediate, schema versions are guarded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from harness.errors import StoreError
from harness.store.results import CandidateRecord, Store
from harness.store.schema import SCHEMA_VERSION
from tests.helpers.records import record


def _start(store: Store, config_hash: str = "h") -> int:
    return store.start_run(
        started_at="2026-01-01T00:00:00+00:00", config={"name": "x"}, config_hash=config_hash,
        harness_version="0", git_revision=None, machine={"cpu": "c"}, machine_hash="m",
    )  # fmt: skip


def _record(key: str, status: str = "ok", **metrics: float) -> CandidateRecord:
    return record(
        key, status=status, compression="fp32", metrics=metrics,
        details={"confusion": [[1, 0], [0, 1]]},
    )  # fmt: skip


def test_candidates_round_trip_and_are_visible_to_another_connection(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    store = Store(db)
    run_id = _start(store)
    store.add_candidate(run_id, _record("a", accuracy=0.9, file_bytes=1000), "t")
    # A second connection sees the row at once: each candidate is committed when it finishes.
    other = sqlite3.connect(db)
    assert other.execute("SELECT accuracy, file_bytes FROM candidates").fetchall() == [(0.9, 1000)]
    rows = store.candidates(run_id)
    assert rows[0].metric("accuracy") == 0.9
    assert rows[0].details["confusion"] == [[1, 0], [0, 1]]
    assert store.done_keys(run_id) == {"a"}
    assert store.run(run_id).status == "running"
    assert store.schema_version() == SCHEMA_VERSION
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_resume_only_an_unfinished_latest_run_of_the_same_config(tmp_path: Path) -> None:
    store = Store(tmp_path / "r.db")
    run_id = _start(store)
    assert store.resumable_run("h", "m") == run_id
    assert store.resumable_run("other", "m") is None
    store.finish_run(run_id, finished_at="t", timings={"total": 1.0}, status="complete")
    assert store.resumable_run("h", "m") is None
    assert store.run(run_id).timings == {"total": 1.0}


def test_counts_series_and_unknown_metrics(tmp_path: Path) -> None:
    store = Store(tmp_path / "r.db")
    first, second = _start(store), _start(store)
    store.add_candidate(first, _record("a", accuracy=0.8), "t")
    store.add_candidate(second, _record("a", accuracy=0.9), "t")
    store.add_candidate(second, _record("b", status="failed"), "t")
    assert store.candidate_counts() == {first: (1, 0), second: (1, 1)}
    assert [r.metric("accuracy") for r in store.series("a")] == [0.8, 0.9]
    with pytest.raises(StoreError, match="unknown metric"):
        store.add_candidate(second, _record("c", speed=1.0), "t")


def test_newer_schema_is_refused_and_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    Store(db).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this harness supports"):
        Store(db)
    with pytest.raises(StoreError, match="no results store at .*; run 'harness run'"):
        Store.open_existing(tmp_path / "missing.db")
    with pytest.raises(StoreError, match="no run 7"):
        Store(tmp_path / "other.db").run(7)


def test_a_version_1_store_migrates_forward_keeping_its_rows(tmp_path: Path) -> None:
    from harness.store.schema import MIGRATIONS

    db = tmp_path / "v1.db"
    conn = sqlite3.connect(db)
    MIGRATIONS[0](conn)
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    store = Store(db)
    run_id = _start(store)
    store.put_extra(run_id, "policy_previews", {"none": {"describe": "identity"}})
    assert store.schema_version() == SCHEMA_VERSION == 7
    indexes = {r[1] for r in store._db.execute("PRAGMA index_list(candidates)")}
    assert "candidates_run_status" in indexes
    assert store.extra(run_id, "policy_previews") == {"none": {"describe": "identity"}}
    assert store.extra(run_id, "missing") is None


def test_a_version_3_store_gains_rounds_and_keeps_its_candidates(tmp_path: Path) -> None:
    from harness.store.schema import MIGRATIONS

    db = tmp_path / "v3.db"
    v3 = sqlite3.connect(db)
    for version in range(3):
        MIGRATIONS[version](v3)
    v3.execute("PRAGMA user_version = 3")
    v3.execute(
        "INSERT INTO runs (started_at, status, config_json, config_hash, harness_version,"
        " machine_json, machine_hash) VALUES ('t', 'complete', '{}', 'h', '0', '{}', 'm')"
    )
    v3.execute(
        "INSERT INTO candidates (run_id, key, dataset, model, policy, compression, runtime,"
        " status, finished_at, latency_p50_ms) VALUES (1, 'a', 'd', 'm', 'p', 'c', 'r', 'ok',"
        " 't', 0.25)"
    )
    v3.commit()
    v3.close()
    store = Store(db)
    assert store.schema_version() == SCHEMA_VERSION
    (row,) = store.candidates(1)
    assert (row.device, row.node, row.node_machine) == (None, None, None)  # v6: measured here
    assert (row.metric("latency_p50_ms"), row.artifact_sha256, row.runtime_version) == (
        0.25, None, None,
    )  # fmt: skip
    assert store.rounds(1) == {}
    rounds = [
        {"round": i, "p50_ms": p, "p90_ms": 2 * p, "p99_ms": 3 * p, "mean_ms": p, "min_ms": p,
         "runs": 10, "machine": {"load1": 0.5}}
        for i, p in enumerate([0.3, 0.1, 0.2])
    ]  # fmt: skip
    record = CandidateRecord(
        key="b", dataset="d", model="m", policy="p", compression="c", runtime="r",
        status="ok", artifact_sha256="ab" * 32, runtime_version="rt 1.0",
    )  # fmt: skip
    store.add_candidate(1, record, "t", rounds)
    store.add_candidate(1, record, "t", rounds[:2])  # a resumed run replaces them
    assert [(r["round"], r["p50_ms"], r["machine"], r["runtime"]) for r in store.rounds(1)["b"]] == [
        (0, 0.3, {"load1": 0.5}, "r"), (1, 0.1, {"load1": 0.5}, "r"),
    ]  # fmt: skip
    assert store.candidates(1)[1].artifact_sha256 == "ab" * 32


def test_the_history_of_every_series_is_read_from_an_index_not_the_rows(tmp_path: Path) -> None:
    """Each row carries its details (latency samples, a page or more): the history query
    must be answered by the covering index, or a 30-run store reads gigabytes."""
    from harness.report.history_rows import history_points

    store = Store(tmp_path / "r.db")
    first, second = _start(store), _start(store)
    for run_id, p50 in ((first, 0.5), (second, 0.4)):
        store.add_candidate(run_id, _record("a", accuracy=0.9, latency_p50_ms=p50), "t")
    queries: list[str] = []
    store._db.set_trace_callback(queries.append)
    points = history_points(store, {first: "m", second: "m"}, second)
    store._db.set_trace_callback(None)
    assert [(p.run_id, p.latency_p50_ms) for p in next(iter(points.values()))] == [
        (first, 0.5), (second, 0.4),
    ]  # fmt: skip
    # the runs table is read too (which machine timed each run): a few rows, no details
    (query,) = [
        q for q in queries if q.lstrip().upper().startswith("SELECT") and "FROM candidates" in q
    ]
    plan = " ".join(row[3] for row in store._db.execute(f"EXPLAIN QUERY PLAN {query}"))
    assert "COVERING INDEX candidates_history" in plan, plan
