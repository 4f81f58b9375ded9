"""Metrics and details of one benched runtime from its worker's outputs, by task."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.measure.latency import keep_samples, summarize
from harness.measure.metrics import classification_report
from harness.measure.runner import WorkerResult
from harness.measure.tasks import Task, parity_per_output, regression_report


def score(
    result: WorkerResult,
    task: Task,
    y: np.ndarray | None,
    batch: int,
    reference: list[np.ndarray] | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metrics, details): the task's score, latency, load time, memory, and parity per
    output against the reference runtime's outputs."""
    outputs = result.all_outputs[0]
    metrics: dict[str, Any] = {}
    details: dict[str, Any] = {"task": task.name}
    if task.name == "classify" and y is not None and task.output is not None:
        scores = outputs[task.output]
        classes = tuple(str(i) for i in range(scores.shape[1]))
        report = classification_report(y, scores.argmax(1), classes)
        metrics.update(
            {k: report[k] for k in ("accuracy", "accuracy_low", "accuracy_high", "n_test")}
        )
        details.update(
            {k: report[k] for k in ("confusion", "classes", "per_class", "binary") if k in report}
        )
    elif task.name == "regress" and y is not None and task.output is not None:
        details["regression"] = regression_report(y, outputs[task.output])
        metrics.update(
            {k: details["regression"][k] for k in ("mae", "mae_low", "mae_high", "rmse")}
        )
    metrics.update(summarize(result.samples_ns, batch))
    metrics["load_ms"] = result.load_ms
    metrics["peak_rss_mb"] = result.peak_rss_mb
    if reference is not None:
        rows = parity_per_output(reference, outputs)
        details["parity"] = rows
        diffs = [r["max_abs"] for r in rows if "max_abs" in r]
        if diffs:
            metrics["parity_max_abs"] = max(diffs)
        if task.name == "classify" and task.output is not None:
            ref, got = reference[task.output], outputs[task.output]
            if ref.shape == got.shape:
                metrics["parity_agreement"] = float((ref.argmax(1) == got.argmax(1)).mean())
    details["latency"] = {"samples_ms": keep_samples(result.samples_ns),
                          "runs": len(result.samples_ns), "batch": batch}  # fmt: skip
    return metrics, details
