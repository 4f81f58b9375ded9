"""One measured candidate's metrics and details from its worker's outputs (pure).

What is scored depends on the model's task (harness.measure.tasks): a classifier's
accuracy (with its interval, per-sample right/wrong bits for paired ties, robust accuracy
on the perturbed copy), a regressor's MAE and RMSE against the float targets, or nothing
for a model measured without a score. Every task gets latency, load time, memory and
parity against ONNX Runtime's outputs, per output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.measure.latency import keep_samples, summarize
from harness.measure.metrics import accuracy, classification_report, correct_bits, parity
from harness.measure.runner import WorkerResult
from harness.measure.tasks import parity_per_output, regression_report, sample_errors

Scored = tuple[dict[str, Any], dict[str, Any]]  # (metrics, details)


def _classified(
    result: WorkerResult, y_true: np.ndarray, classes: tuple[str, ...], reference: Any
) -> Scored:
    logits = result.outputs[0]
    if logits.ndim != 2 or len(logits) != len(y_true):
        raise HarnessError(f"model output has shape {logits.shape}; expected ({len(y_true)}, K)")
    report = classification_report(y_true, logits.argmax(1), classes)
    metrics: dict[str, Any] = {
        key: report[key] for key in ("accuracy", "accuracy_low", "accuracy_high", "n_test")
    }
    details: dict[str, Any] = {
        key: report[key] for key in ("confusion", "classes", "per_class", "binary") if key in report
    }
    # Per-sample right/wrong: accuracy ties are decided by a paired test on them.
    details["correct_bits"] = correct_bits(logits.argmax(1) == np.asarray(y_true))
    if len(result.outputs) > 1:
        metrics["robust_accuracy"] = accuracy(y_true, result.outputs[1].argmax(1))
    if reference is not None and reference[0].shape == logits.shape:
        metrics.update(parity(reference[0], logits))
    return metrics, details


def _regressed(
    result: WorkerResult, y_true: np.ndarray, classes: tuple[str, ...], reference: Any
) -> Scored:
    """MAE, its 95% interval and RMSE of the first output against the float targets."""
    predicted = result.outputs[0]
    per = int(np.prod(y_true.shape[1:], dtype=int))
    if len(predicted) != len(y_true) or predicted.size != len(y_true) * per:
        raise HarnessError(
            f"model output has shape {predicted.shape}; expected {len(y_true)} samples of "
            f"{per} value(s) to compare with the targets {y_true.shape}"
        )
    report = regression_report(y_true, predicted)
    metrics = {k: report[k] for k in ("mae", "mae_low", "mae_high", "rmse", "n_test")}
    # Per-sample errors: MAE ties are decided by a paired test on them.
    return metrics, {"sample_errors": sample_errors(y_true, predicted)}


def _unscored(
    result: WorkerResult, y_true: np.ndarray, classes: tuple[str, ...], reference: Any
) -> Scored:
    return {}, {}


# task -> what its score is made of (harness.measure.tasks.TASKS)
SCORERS: dict[str, Callable[..., Scored]] = {
    "classify": _classified,
    "regress": _regressed,
    "none": _unscored,
}


def evaluate(
    result: WorkerResult,
    y_true: np.ndarray,
    classes: tuple[str, ...],
    batch: int,
    reference: list[np.ndarray] | None,
    task: str = "classify",
) -> Scored:
    """Metrics and details of one measured candidate, from its worker's outputs.

    outputs[0] answers the test set; outputs[1], when present, its perturbed copy;
    `reference` is ONNX Runtime's every output for the test set, for parity."""
    metrics, details = SCORERS[task](result, y_true, classes, reference)
    details["task"] = task
    metrics.update(summarize(result.samples_ns, batch))
    metrics["load_ms"] = result.load_ms
    metrics["peak_rss_mb"] = result.peak_rss_mb
    outputs = result.all_outputs[0] if result.all_outputs else result.outputs[:1]
    if reference is not None:
        rows = parity_per_output(reference, outputs)
        diffs = [r["max_abs"] for r in rows if "max_abs" in r]
        if diffs:
            metrics["parity_max_abs"] = max(diffs)
        if len(rows) > 1:
            details["parity"] = rows
    details["latency"] = {
        "samples_ms": keep_samples(result.samples_ns),
        "runs": len(result.samples_ns),
        "warmup": result.warmup,
        "threads": result.threads,
        "batch": batch,
    }
    details["memory"] = {
        "model_rss_mb": result.model_rss_mb,
        "process_peak_rss_mb": result.peak_rss_mb,
    }
    if result.profile:
        details["operator_profile"] = result.profile
    if result.extra_samples:
        details["latency_batches"] = {
            str(size): {**summarize(samples, size), "runs": len(samples)}
            for size, samples in result.extra_samples.items()
        }
    return metrics, details


def reference_outputs(result: WorkerResult) -> list[np.ndarray]:
    """Every output of the test set, as the reference runtime gave them."""
    return list(result.all_outputs[0]) if result.all_outputs else [result.outputs[0]]
