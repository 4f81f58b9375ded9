"""What a model's outputs are scored as: `classify` (accuracy against class ids), `regress`
(MAE and RMSE against target values) or `none` (no score: size, load time, latency, memory
and parity only). Given, or inferred from the labels and the outputs (pure functions).

Inference: integer labels and an (N, K) float output with K >= 2 -> classify (labels the
output cannot produce, below 0 or >= K, are an error, not a score); float targets with the
same values per sample as an output -> regress; anything else -> none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.errors import DataError

TASKS = ("classify", "regress", "none")


@dataclass(frozen=True)
class Task:
    name: str  # one of TASKS
    output: int | None  # index of the scored output


def _class_outputs(outputs: list[np.ndarray], n: int) -> list[int]:
    """Outputs holding one score per class per sample: (N, K) floats, K >= 2."""
    return [
        i
        for i, o in enumerate(outputs)
        if o.ndim == 2 and o.shape[0] == n and o.shape[1] >= 2 and o.dtype.kind == "f"
    ]


def _value_outputs(outputs: list[np.ndarray], y: np.ndarray) -> list[int]:
    n, per = len(y), int(np.prod(y.shape[1:], dtype=int))
    return [
        i
        for i, o in enumerate(outputs)
        if o.ndim >= 1 and o.shape[0] == n and o.size == n * per and o.dtype.kind == "f"
    ]


def resolve_task(
    given: str | None, y: np.ndarray | None, outputs: list[np.ndarray], where: str
) -> Task:
    """The task and its scored output; DataError when the labels cannot be scored so."""
    if given == "none" or (given is None and y is None):
        return Task("none", None)
    if y is None:
        raise DataError(f"{where}: --task {given} needs labels: add an array 'y' to the .npz")
    n = len(y)
    classes = _class_outputs(outputs, n)
    is_ids = y.ndim == 1 and y.dtype.kind in "iu"
    if given == "classify" or (given is None and is_ids and classes):
        return Task("classify", _classify_output(y, outputs, classes, where))
    values = _value_outputs(outputs, y)
    if given == "regress" or (given is None and y.dtype.kind == "f" and values):
        if not values:
            shapes = ", ".join(str(o.shape) for o in outputs)
            raise DataError(
                f"{where}: no output has {y.shape[1:] or 'one value'} per sample to compare "
                f"with y {y.shape}; the outputs are {shapes}"
            )
        return Task("regress", values[0])
    return Task("none", None)


def _classify_output(
    y: np.ndarray, outputs: list[np.ndarray], classes: list[int], where: str
) -> int:
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(
            f"{where}: y must be one integer class id per sample, got {y.dtype} {y.shape}"
        )
    if not classes:
        shapes = ", ".join(str(o.shape) for o in outputs)
        raise DataError(
            f"{where}: no output holds one score per class for {len(y)} samples (outputs: "
            f"{shapes}); use --task none, or --task regress with target values"
        )
    if len(y) and y.min() < 0:
        raise DataError(f"{where}: y holds {int(y.min())}; class ids start at 0")
    width = outputs[classes[0]].shape[1]
    if len(y) and y.max() >= width:
        raise DataError(
            f"{where}: y holds class {int(y.max())} but the model scores {width} classes "
            f"(0..{width - 1})"
        )
    return classes[0]


def check_labels(
    y: np.ndarray | None, given: str | None, widths: list[int | str], where: str
) -> None:
    """Before running: class ids the declared outputs can never produce are an error."""
    if y is None or given in ("none", "regress") or y.ndim != 1 or y.dtype.kind not in "iu":
        return
    if len(y) and y.min() < 0:
        raise DataError(f"{where}: y holds {int(y.min())}; class ids start at 0")
    fixed = [w for w in widths if isinstance(w, int) and w >= 2]
    if fixed and len(widths) == len(fixed) and len(y) and y.max() >= max(fixed):
        raise DataError(
            f"{where}: y holds class {int(y.max())} but the model scores {max(fixed)} classes "
            f"(0..{max(fixed) - 1})"
        )


def regression_report(y: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """MAE and RMSE over every target value."""
    target = y.reshape(len(y), -1).astype(np.float64)
    error = predicted.reshape(len(y), -1).astype(np.float64) - target
    return {
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt((error**2).mean())),
        "n_test": len(y),
    }


def parity_per_output(reference: list[np.ndarray], other: list[np.ndarray]) -> list[dict[str, Any]]:
    """Each output against the reference runtime's: max |diff| and it relative to max |ref|."""
    rows: list[dict[str, Any]] = []
    for i, (ref, got) in enumerate(zip(reference, other, strict=False)):
        if ref.shape != got.shape:
            rows.append({"output": i, "note": f"shape {got.shape} vs {ref.shape}"})
            continue
        if ref.dtype.kind not in "fiub" or got.dtype.kind not in "fiub":
            continue
        diff = float(np.abs(ref.astype(np.float64) - got.astype(np.float64)).max(initial=0.0))
        scale = float(np.abs(ref.astype(np.float64)).max(initial=0.0))
        rows.append({"output": i, "max_abs": diff, "max_rel": diff / scale if scale else diff})
    return rows
