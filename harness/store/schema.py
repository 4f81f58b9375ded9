"""The store's SQLite schema and its forward migrations (asv-style: refuse newer, migrate older).

MIGRATIONS[v] takes a store at schema version v to v + 1; a new column or table is one more
function here and one more entry, never an edit of an older one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from harness.store.rounds import add_rounds_table

SCHEMA_VERSION = 7

# Numeric metrics stored as real columns, so SQL (and other tools) can query them: those of
# the first schema, then each later version's.
V1_METRIC_COLUMNS: tuple[str, ...] = (
    "accuracy",
    "accuracy_low",
    "accuracy_high",
    "robust_accuracy",
    "n_test",
    "file_bytes",
    "compressed_bytes",
    "params",
    "nonzeros",
    "macs",
    "latency_mean_ms",
    "latency_std_ms",
    "latency_min_ms",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "throughput_per_s",
    "load_ms",
    "peak_rss_mb",
    "parity_max_abs",
    "parity_agreement",
)
# v7: a regression model's errors against its targets, and MAE's 95% interval.
REGRESSION_COLUMNS: tuple[str, ...] = ("mae", "mae_low", "mae_high", "rmse")
METRIC_COLUMNS: tuple[str, ...] = V1_METRIC_COLUMNS + REGRESSION_COLUMNS


def _create_v1(db: sqlite3.Connection) -> None:
    metric_defs = ",\n".join(f"    {name} REAL" for name in V1_METRIC_COLUMNS)
    db.executescript(
        f"""
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,
            config_json TEXT NOT NULL,
            config_hash TEXT NOT NULL,
            harness_version TEXT NOT NULL,
            git_revision TEXT,
            machine_json TEXT NOT NULL,
            machine_hash TEXT NOT NULL,
            timings_json TEXT NOT NULL DEFAULT '{{}}'
        );
        CREATE TABLE candidates (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            dataset TEXT NOT NULL,
            model TEXT NOT NULL,
            policy TEXT NOT NULL,
            compression TEXT NOT NULL,
            runtime TEXT NOT NULL,
            status TEXT NOT NULL,
            error TEXT,
            artifact TEXT,
            finished_at TEXT NOT NULL,
        {metric_defs},
            details_json TEXT NOT NULL DEFAULT '{{}}',
            UNIQUE (run_id, key)
        );
        CREATE INDEX candidates_series ON candidates (key);
        """
    )


def _add_run_extras(db: sqlite3.Connection) -> None:
    """v2: per-run data that is not a candidate, e.g. augmentation previews."""
    db.execute(
        "CREATE TABLE run_extras (run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
        " name TEXT NOT NULL, data_json TEXT NOT NULL, PRIMARY KEY (run_id, name))"
    )


def _index_run_status_and_kind(db: sqlite3.Connection) -> None:
    """v3: counting each run's ok and failed candidates reads an index, not the table; runs
    have a kind, so a one-file `bench --store` is never taken for "the latest sweep"."""
    db.execute("CREATE INDEX candidates_run_status ON candidates (run_id, status)")
    db.execute("ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'sweep'")
    db.execute("""UPDATE runs SET kind = 'bench' WHERE config_json LIKE '{"bench":%'""")


def _index_history(db: sqlite3.Connection) -> None:
    """v5: the history of every series (harness.report.history_rows.history_points) reads these
    columns of every row; an index holding them answers it without touching the rows, whose
    details (latency samples) make each one a page or more: a 30-run, 10,000-candidate
    history reads 30 MB instead of 2 GB."""
    db.execute(
        "CREATE INDEX candidates_history ON candidates (run_id, id, key, model, policy,"
        " compression, runtime, status, accuracy, file_bytes, latency_p50_ms,"
        " artifact_sha256, runtime_version)"
    )


def _add_measured_on(db: sqlite3.Connection) -> None:
    """v6: where each candidate was measured: its target (`device`, the config's
    [targets] name), the Ray node that ran it, and that node's machine description (NULL:
    the run's machine). Latency is comparable only on the same device."""
    db.executescript(
        """
        ALTER TABLE candidates ADD COLUMN device TEXT;
        ALTER TABLE candidates ADD COLUMN node TEXT;
        ALTER TABLE candidates ADD COLUMN node_machine_json TEXT;
        """
    )


def _add_regression_errors(db: sqlite3.Connection) -> None:
    """v7: imported regression models are scored by MAE and RMSE (lower is better)."""
    db.executescript(
        "".join(f"ALTER TABLE candidates ADD COLUMN {name} REAL;\n" for name in REGRESSION_COLUMNS)
    )


# Forward migrations: MIGRATIONS[v] takes a store at version v to v + 1.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    0: _create_v1,
    1: _add_run_extras,
    2: _index_run_status_and_kind,
    3: add_rounds_table,
    4: _index_history,
    5: _add_measured_on,
    6: _add_regression_errors,
}
