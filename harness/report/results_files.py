"""results.json and results.csv: the run's candidates as data beside the pages, so a
comparison can be re-analysed or published elsewhere."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from harness.report.arithmetic import of_details
from harness.report.data import (
    candidate_href,
)
from harness.report.scores import task_of
from harness.store.results import CandidateRecord, Run
from harness.store.schema import METRIC_COLUMNS

RESULTS_SCHEMA_VERSION = 3  # 2: status may be "unsupported"; 3: task, and MAE/RMSE
# A spreadsheet runs a cell starting with these as a formula; names come from configs.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def _row_metrics(r: CandidateRecord) -> dict[str, float | int | None]:
    return {name: r.metrics.get(name) for name in METRIC_COLUMNS}


def results_json(
    run: Run,
    generated: str,
    records: Sequence[CandidateRecord],
    front_ids: set[int | None],
    models: dict[int, tuple[str, Path]],
) -> str:
    """The run and its candidates; the schema is harness/results_schema.json."""
    doc = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "generated_at": generated,
        "run": {
            "id": run.id, "started_at": run.started_at, "finished_at": run.finished_at,
            "status": run.status, "config": run.config, "config_hash": run.config_hash,
            "harness_version": run.harness_version, "git_revision": run.git_revision,
            "machine": run.machine, "machine_hash": run.machine_hash, "timings": run.timings,
        },
        "candidates": [
            {
                "id": r.id, "key": r.key, "dataset": r.dataset, "model": r.model,
                "policy": r.policy, "compression": r.compression, "runtime": r.runtime,
                "arithmetic": of_details(r.details).kind or None, "task": task_of(r),
                "status": r.status, "error": r.error, "pareto": r.id in front_ids,
                "page": candidate_href(r),
                "model_file": f"models/{models[r.id][0]}" if r.id in models else None,
                "metrics": _row_metrics(r),
            }
            for r in records
        ],
    }  # fmt: skip
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


CSV_FIELDS = (
    "id", "key", "dataset", "model", "policy", "compression", "runtime", "status", "error",
    "pareto", *METRIC_COLUMNS,
)  # fmt: skip


def results_csv(records: Sequence[CandidateRecord], front_ids: set[int | None]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for r in records:
        metrics = _row_metrics(r)
        writer.writerow(
            [r.id, r.key, *map(_cell, (r.dataset, r.model, r.policy, r.compression, r.runtime)),
             r.status, _cell(r.error or ""), int(r.id in front_ids),
             *("" if metrics[n] is None else metrics[n] for n in METRIC_COLUMNS)]
        )  # fmt: skip
    return buffer.getvalue()
