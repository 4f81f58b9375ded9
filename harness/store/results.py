"""The results store: one SQLite file, one row per run and one per candidate.

Rows are committed as each candidate finishes (WAL mode), so an interrupted sweep
loses nothing and resumes where it stopped. `report`, `compare` and `select` only read.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import StoreError
from harness.store import fastjson
from harness.store.integrity import check_tables, connect, damaged
from harness.store.rounds import read_rounds, write_rounds
from harness.store.schema import METRIC_COLUMNS, MIGRATIONS, SCHEMA_VERSION


@dataclass(frozen=True)
class Run:
    id: int
    started_at: str
    finished_at: str | None
    status: str
    config: dict[str, Any]
    config_hash: str
    harness_version: str
    git_revision: str | None
    machine: dict[str, Any]
    machine_hash: str
    timings: dict[str, float]
    kind: str = "sweep"  # or "bench": one user file measured by `harness bench --store`


RUN_KINDS = ("sweep", "bench")


@dataclass(frozen=True)
class CandidateRecord:
    """Everything measured about one (dataset, model, policy, compression, runtime)."""

    key: str
    dataset: str
    model: str
    policy: str
    compression: str
    runtime: str
    status: str  # "ok" or "failed"
    error: str | None = None
    metrics: dict[str, float | int | None] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    artifact: str | None = None
    run_id: int | None = None
    id: int | None = None
    finished_at: str | None = None
    # What was timed: the same bytes on the same runtime version only vary by noise.
    artifact_sha256: str | None = None
    runtime_version: str | None = None
    # Where it was measured: the config's target (None: no [targets]), the node that ran
    # it and that node's machine description (None: the run's own machine).
    device: str | None = None
    node: str | None = None
    node_machine: dict[str, Any] | None = None

    def metric(self, name: str) -> float | None:
        value = self.metrics.get(name)
        return None if value is None else float(value)


class Store:
    """A results database; opening it creates or migrates the schema."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db = connect(self.path)
        try:
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise damaged(self.path, exc) from None
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def open_existing(cls, path: Path | str) -> Store:
        """Open a store that must already exist (for read-only commands)."""
        if not Path(path).is_file():
            raise StoreError(
                f"no results store at {path}; run 'harness run' or 'harness sweep' first, "
                "or point --db at an existing store"
            )
        return cls(path)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._db:
            yield self._db

    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this harness "
                f"supports ({SCHEMA_VERSION}); upgrade edge-harness"
            )
        check_tables(self._db, self.path, version)
        while version < SCHEMA_VERSION:
            with self._tx() as db:
                MIGRATIONS[version](db)
                version += 1
                db.execute(f"PRAGMA user_version = {version}")

    # -- runs ---------------------------------------------------------------

    def start_run(
        self,
        *,
        started_at: str,
        config: dict[str, Any],
        config_hash: str,
        harness_version: str,
        git_revision: str | None,
        machine: dict[str, Any],
        machine_hash: str,
        kind: str = "sweep",
    ) -> int:
        if kind not in RUN_KINDS:
            raise StoreError(f"unknown run kind '{kind}'; choose from {', '.join(RUN_KINDS)}")
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO runs (started_at, status, config_json, config_hash, harness_version,"
                " git_revision, machine_json, machine_hash, kind)"
                " VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?)",
                (
                    started_at,
                    json.dumps(config, sort_keys=True),
                    config_hash,
                    harness_version,
                    git_revision,
                    json.dumps(machine, sort_keys=True),
                    machine_hash,
                    kind,
                ),
            )
            return int(cur.lastrowid or 0)

    def finish_run(
        self, run_id: int, *, finished_at: str, timings: dict[str, float], status: str
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, timings_json = ?, status = ? WHERE id = ?",
                (finished_at, json.dumps(timings, sort_keys=True), status, run_id),
            )

    def resumable_run(self, config_hash: str, machine_hash: str) -> int | None:
        """The latest unfinished run of the same config on the same machine, whatever was
        stored after it (a nightly's other runs must not strand a killed one)."""
        row = self._db.execute(
            "SELECT id FROM runs WHERE config_hash = ? AND machine_hash = ? AND status != 'complete'"
            " ORDER BY id DESC LIMIT 1",
            (config_hash, machine_hash),
        ).fetchone()
        return None if row is None else int(row["id"])

    def mark_stale_interrupted(self, config_hash: str) -> None:
        """Runs of this config still marked running while the caller holds its run lock
        were killed: say so."""
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status = 'interrupted' WHERE config_hash = ? AND status = 'running'",
                (config_hash,),
            )

    def mark_running(self, run_id: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET status = 'running' WHERE id = ?", (run_id,))

    def runs(self) -> list[Run]:
        rows = self._db.execute("SELECT * FROM runs ORDER BY id").fetchall()
        return [_run_from_row(r) for r in rows]

    def run(self, run_id: int) -> Run:
        row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            known = ", ".join(str(r.id) for r in self.runs()) or "none"
            raise StoreError(f"no run {run_id} in {self.path}; stored runs: {known}")
        return _run_from_row(row)

    def latest_run_id(self, kind: str | None = "sweep") -> int | None:
        """The newest run of `kind` (None: of any kind); a bench never hides the last sweep."""
        if kind is None:
            row = self._db.execute("SELECT MAX(id) AS id FROM runs").fetchone()
        else:
            row = self._db.execute(
                "SELECT MAX(id) AS id FROM runs WHERE kind = ?", (kind,)
            ).fetchone()
        return None if row["id"] is None else int(row["id"])

    def previous_run_id(self, run_id: int) -> int | None:
        """The run `run_id` is judged against: the newest earlier run of the same kind and
        config, else of the same kind."""
        run = self.run(run_id)
        for clause, args in (("AND config_hash = ?", (run.config_hash,)), ("", ())):
            row = self._db.execute(
                f"SELECT MAX(id) AS id FROM runs WHERE id < ? AND kind = ? {clause}",
                (run_id, run.kind, *args),
            ).fetchone()
            if row["id"] is not None:
                return int(row["id"])
        return None

    def candidate_counts(self) -> dict[int, tuple[int, int]]:
        """run id -> (candidates ok, candidates failed); unsupported ones are neither."""
        rows = self._db.execute(
            "SELECT run_id, SUM(status = 'ok') AS ok,"
            " SUM(status NOT IN ('ok', 'unsupported')) AS failed"
            " FROM candidates GROUP BY run_id"
        ).fetchall()
        return {int(r["run_id"]): (int(r["ok"]), int(r["failed"])) for r in rows}

    def put_extra(self, run_id: int, name: str, data: Any) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO run_extras (run_id, name, data_json) VALUES (?, ?, ?)",
                (run_id, name, json.dumps(data, sort_keys=True, default=_json_default)),
            )

    def extra(self, run_id: int, name: str) -> Any:
        row = self._db.execute(
            "SELECT data_json FROM run_extras WHERE run_id = ? AND name = ?", (run_id, name)
        ).fetchone()
        return None if row is None else json.loads(row["data_json"])

    # -- candidates ---------------------------------------------------------

    def add_candidate(
        self,
        run_id: int,
        record: CandidateRecord,
        finished_at: str,
        rounds: list[dict[str, Any]] | None = None,
    ) -> None:
        """Insert (or replace, on a resumed run) a candidate and its latency rounds, at once."""
        columns = [
            "run_id", "key", "dataset", "model", "policy", "compression", "runtime",
            "status", "error", "artifact", "finished_at", *METRIC_COLUMNS, "details_json",
            "artifact_sha256", "runtime_version", "device", "node", "node_machine_json",
        ]  # fmt: skip
        machine = record.node_machine
        values = [
            run_id, record.key, record.dataset, record.model, record.policy,
            record.compression, record.runtime, record.status, record.error,
            record.artifact, finished_at,
            *(record.metrics.get(name) for name in METRIC_COLUMNS),
            json.dumps(record.details, sort_keys=True, default=_json_default),
            record.artifact_sha256, record.runtime_version, record.device, record.node,
            None if machine is None else json.dumps(machine, sort_keys=True),
        ]  # fmt: skip
        unknown = set(record.metrics) - set(METRIC_COLUMNS)
        if unknown:
            raise StoreError(f"unknown metric(s) {sorted(unknown)}; add them to METRIC_COLUMNS")
        marks = ", ".join("?" for _ in columns)
        with self._tx() as db:
            db.execute(
                f"INSERT OR REPLACE INTO candidates ({', '.join(columns)}) VALUES ({marks})",
                values,
            )
            write_rounds(db, run_id, record.key, rounds or [])

    def rounds(self, run_id: int) -> dict[str, list[dict[str, Any]]]:
        """key -> the candidate's latency rounds in order (none before schema v3)."""
        return read_rounds(self._db, run_id)

    def done_keys(self, run_id: int) -> set[str]:
        rows = self._db.execute("SELECT key FROM candidates WHERE run_id = ?", (run_id,))
        return {r["key"] for r in rows}

    def candidates(self, run_id: int) -> list[CandidateRecord]:
        rows = self._db.execute(
            "SELECT * FROM candidates WHERE run_id = ? ORDER BY id", (run_id,)
        ).fetchall()
        return [_candidate_from_row(r) for r in rows]

    def series(self, key: str) -> list[CandidateRecord]:
        """One candidate's rows across every stored run, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM candidates WHERE key = ? ORDER BY run_id", (key,)
        ).fetchall()
        return [_candidate_from_row(r) for r in rows]

    def metric_rows(self, columns: tuple[str, ...], up_to_run: int) -> Iterator[tuple]:
        """Selected columns of every candidate of runs up to `up_to_run`, without parsing
        details: the history of 30 runs x 10,000 candidates would otherwise parse gigabytes
        of latency samples."""
        allowed = {
            "run_id", "key", "model", "policy", "compression", "runtime", "status",
            "artifact_sha256", "runtime_version", "device", "node",
        }  # fmt: skip
        unknown = [c for c in columns if c not in allowed and c not in METRIC_COLUMNS]
        if unknown:
            raise StoreError(f"unknown candidate column(s) {unknown}")
        query = f"SELECT {', '.join(columns)} FROM candidates WHERE run_id <= ? ORDER BY run_id, id"
        yield from self._db.execute(query, (up_to_run,))

    def node_machines(self, run_id: int) -> dict[str, dict[str, Any]]:
        """{candidate key: the machine description of the node that timed it} of the run's
        candidates measured on a target's node (the others were timed on the run's machine)."""
        query = (
            "SELECT key, node_machine_json FROM candidates"
            " WHERE run_id = ? AND node_machine_json IS NOT NULL"
        )
        return {k: json.loads(m) for k, m in self._db.execute(query, (run_id,))}

    def all_candidates(self) -> list[CandidateRecord]:
        rows = self._db.execute("SELECT * FROM candidates ORDER BY run_id, id").fetchall()
        return [_candidate_from_row(r) for r in rows]


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return str(value)


def _run_from_row(row: sqlite3.Row) -> Run:
    return Run(
        id=int(row["id"]),
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        status=row["status"],
        config=json.loads(row["config_json"]),
        config_hash=row["config_hash"],
        harness_version=row["harness_version"],
        git_revision=row["git_revision"],
        machine=json.loads(row["machine_json"]),
        machine_hash=row["machine_hash"],
        timings=json.loads(row["timings_json"]),
        kind=row["kind"],
    )


def _candidate_from_row(row: sqlite3.Row) -> CandidateRecord:
    return CandidateRecord(
        id=int(row["id"]),
        run_id=int(row["run_id"]),
        key=row["key"],
        dataset=row["dataset"],
        model=row["model"],
        policy=row["policy"],
        compression=row["compression"],
        runtime=row["runtime"],
        status=row["status"],
        error=row["error"],
        artifact=row["artifact"],
        finished_at=row["finished_at"],
        metrics={name: row[name] for name in METRIC_COLUMNS},
        details=fastjson.loads(row["details_json"]),
        artifact_sha256=row["artifact_sha256"],
        runtime_version=row["runtime_version"],
        device=row["device"],
        node=row["node"],
        node_machine=None
        if row["node_machine_json"] is None
        else json.loads(row["node_machine_json"]),
    )
