"""Accuracy and its companions, computed from labels and predictions (pure functions)."""

from __future__ import annotations

from typing import Any

import numpy as np


def wilson_interval(correct: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval: honest on small test sets and near 100%."""
    from scipy.stats import binomtest

    if total == 0:
        return (0.0, 1.0)
    ci = binomtest(correct, total).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


def classification_report(
    y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...]
) -> dict[str, Any]:
    """Accuracy = trace(confusion)/N, i.e. (TP+TN)/(P+N) for two classes, with the details."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(classes)))
    confusion = confusion_matrix(y_true, y_pred, labels=labels)
    correct = int(np.trace(confusion))
    total = int(confusion.sum())
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    low, high = wilson_interval(correct, total)
    report: dict[str, Any] = {
        "accuracy": correct / total if total else 0.0,
        "accuracy_low": low,
        "accuracy_high": high,
        "n_test": total,
        "confusion": confusion.tolist(),
        "classes": list(classes),
        "per_class": [
            {
                "label": classes[i],
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i in labels
        ],
    }
    if len(classes) == 2:
        tn, fp, fn, tp = (int(v) for v in confusion.ravel())
        report["binary"] = {"tp": tp, "tn": tn, "fp": fp, "fn": fn}
    return report


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float((np.asarray(y_true) == np.asarray(y_pred)).mean()) if len(y_true) else 0.0


def parity(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """How closely two runtimes' outputs for the same inputs agree."""
    return {
        "parity_max_abs": float(np.abs(reference - other).max()),
        "parity_agreement": float((reference.argmax(1) == other.argmax(1)).mean()),
    }


def correct_bits(correct: np.ndarray) -> str:
    """Which test samples a candidate got right, packed as hex (8 samples a byte): what a
    paired test between two candidates needs, at 1/8 byte a sample."""
    return np.packbits(np.asarray(correct, dtype=bool)).tobytes().hex()
