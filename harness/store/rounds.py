"""Latency rounds in the results store: one row per (run, candidate key, round).

A round is one fresh worker process timing one candidate; the candidate's p50 is the
median over its rounds, and the rounds' spread is the run's own estimate of its noise.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

ROUND_FIELDS = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms", "runs")


def add_rounds_table(db: sqlite3.Connection) -> None:
    """Schema v4: each latency round's summary, and what was timed (the file's sha256 and
    the runtime's version). Older candidates keep NULLs and no rounds: readers treat them
    as one round at their stored p50."""
    db.executescript(
        """
        ALTER TABLE candidates ADD COLUMN artifact_sha256 TEXT;
        ALTER TABLE candidates ADD COLUMN runtime_version TEXT;
        CREATE TABLE latency_rounds (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            round INTEGER NOT NULL,
            p50_ms REAL NOT NULL,
            p90_ms REAL NOT NULL,
            p99_ms REAL NOT NULL,
            mean_ms REAL NOT NULL,
            min_ms REAL NOT NULL,
            runs INTEGER NOT NULL,
            machine_json TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (run_id, key, round)
        );
        """
    )


def write_rounds(
    db: sqlite3.Connection, run_id: int, key: str, rounds: list[dict[str, Any]]
) -> None:
    """Replace the candidate's rounds (dicts of ROUND_FIELDS, "round" and "machine")."""
    db.execute("DELETE FROM latency_rounds WHERE run_id = ? AND key = ?", (run_id, key))
    db.executemany(
        f"INSERT INTO latency_rounds (run_id, key, round, {', '.join(ROUND_FIELDS)},"
        " machine_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                run_id,
                key,
                int(r["round"]),
                *(r[f] for f in ROUND_FIELDS),
                json.dumps(r.get("machine", {}), sort_keys=True),
            )
            for r in rounds
        ],  # fmt: skip
    )


def read_rounds(db: sqlite3.Connection, run_id: int) -> dict[str, list[dict[str, Any]]]:
    """key -> the candidate's rounds in order, each with the candidate's runtime."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in db.execute(
        "SELECT l.*, c.runtime FROM latency_rounds l JOIN candidates c"
        " ON c.run_id = l.run_id AND c.key = l.key WHERE l.run_id = ? ORDER BY l.key, l.round",
        (run_id,),
    ):
        entry = {"round": row["round"], "runtime": row["runtime"]}
        entry.update({f: row[f] for f in ROUND_FIELDS})
        entry["machine"] = json.loads(row["machine_json"])
        out.setdefault(row["key"], []).append(entry)
    return out
