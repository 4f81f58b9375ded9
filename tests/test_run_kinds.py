"""A `bench --store` run is a run of its own kind: "latest" still means the latest sweep."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from harness.cli.commands import cli
from harness.report.render import render
from harness.store.results import CandidateRecord, Store
from harness.store.schema import MIGRATIONS


def _run(store: Store, kind: str, config_hash: str, acc: float) -> int:
    run_id = store.start_run(
        started_at="2026-01-01T00:00:00+00:00",
        config={"bench": {"model": "m.onnx"}} if kind == "bench" else {"name": config_hash},
        config_hash=config_hash, harness_version="0", git_revision=None,
        machine={"cpu": "x"}, machine_hash="m", kind=kind,
    )  # fmt: skip
    metrics = {"accuracy": acc, "file_bytes": 1000.0, "latency_p50_ms": 0.05}
    for key in ("fp32", "int8") if kind == "sweep" else ("bench",):
        record = CandidateRecord(
            key=f"{kind}-{key}", dataset="d", model="m", policy="p", compression=key,
            runtime="onnxruntime", status="ok", metrics=metrics,
        )  # fmt: skip
        store.add_candidate(run_id, record, "t")
    store.finish_run(run_id, finished_at="t", timings={}, status="complete")
    return run_id


def test_latest_and_previous_skip_bench_runs_and_other_configs(tmp_path: Path) -> None:
    store = Store(tmp_path / "r.db")
    a1 = _run(store, "sweep", "A", 0.9)
    b1 = _run(store, "sweep", "B", 0.9)
    a2 = _run(store, "sweep", "A", 0.9)
    bench = _run(store, "bench", "X", 0.5)
    assert store.latest_run_id() == a2
    assert store.latest_run_id(kind=None) == bench
    assert store.previous_run_id(a2) == a1  # same config, though B ran in between
    assert store.previous_run_id(b1) == a1  # no earlier B: the sweep before it
    assert store.previous_run_id(a1) is None
    assert store.run(bench).kind == "bench"


def test_select_compare_and_report_default_to_sweeps(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with Store(db) as store:
        first = _run(store, "sweep", "A", 0.9)
        second = _run(store, "sweep", "A", 0.9)
        bench = _run(store, "bench", "X", 0.5)
        files = render(store)
    runner = CliRunner()
    picked = runner.invoke(cli, ["select", "--db", str(db)])
    assert picked.exit_code == 0, picked.output
    assert f"run {second}:" in picked.output and "bench" not in picked.output
    compared = runner.invoke(cli, ["compare", "--db", str(db)])
    assert compared.exit_code == 0, compared.output
    assert f"run {first} -> run {second}" in compared.output
    index = files["index.html"]
    assert isinstance(index, str) and f"run {second}" in index
    bench_page = files[f"runs/{bench}.html"]
    assert isinstance(bench_page, str) and "Bench of m.onnx" in bench_page
    assert '<span class="tag">bench</span>' in bench_page


def test_a_v2_store_learns_which_runs_were_benches(tmp_path: Path) -> None:
    db = tmp_path / "v2.db"
    conn = sqlite3.connect(db)
    MIGRATIONS[0](conn)
    MIGRATIONS[1](conn)
    for config in ('{"bench": {"model": "m.onnx"}}', '{"name": "sweep"}'):
        conn.execute(
            "INSERT INTO runs (started_at, status, config_json, config_hash, harness_version,"
            " machine_json, machine_hash) VALUES ('t', 'complete', ?, 'h', '0', '{}', 'm')",
            (config,),
        )
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    store = Store(db)
    assert [r.kind for r in store.runs()] == ["bench", "sweep"]
    assert store.latest_run_id() == 2
