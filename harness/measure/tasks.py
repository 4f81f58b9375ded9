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


# An output as inference sees it: its dims (None where the model does not fix one) and
# its dtype's kind ("f" float, "i" int, ...). Arrays (bench, after running) and declared
# shapes (a sweep's config check, before anything runs) both reduce to this.
Shape = tuple[tuple[int | None, ...], str]


def array_shapes(outputs: list[np.ndarray]) -> list[Shape]:
    return [(tuple(int(d) for d in o.shape), o.dtype.kind) for o in outputs]


def _fits(dim: int | None, want: int | None) -> bool:
    return dim is None or want is None or dim == want


def _class_outputs(outputs: list[Shape], n: int | None) -> list[int]:
    """Outputs holding one score per class per sample: (N, K) floats, K >= 2."""
    return [
        i
        for i, (dims, kind) in enumerate(outputs)
        if len(dims) == 2 and _fits(dims[0], n) and (dims[1] is None or dims[1] >= 2)
        and kind == "f"
    ]  # fmt: skip


def _value_outputs(outputs: list[Shape], y_shape: tuple[int | None, ...]) -> list[int]:
    """Outputs holding as many float values per sample as y holds targets."""
    n, per = y_shape[0], int(np.prod([d or 1 for d in y_shape[1:]], dtype=int))
    out = []
    for i, (dims, kind) in enumerate(outputs):
        rest = dims[1:]
        known = None not in rest
        size = int(np.prod([d or 1 for d in rest], dtype=int))
        if dims and _fits(dims[0], n) and kind == "f" and (size == per if known else True):
            out.append(i)
    return out


def choose_task(
    given: str | None,
    y_kind: str | None,
    y_shape: tuple[int | None, ...],
    outputs: list[Shape],
    where: str,
) -> Task:
    """The task and its scored output from y's dtype kind and shape (None: no labels) and
    the outputs' shapes; DataError when the labels cannot be scored as `given` says.
    The one rule bench and sweeps share."""
    if given == "none" or (given is None and y_kind is None):
        return Task("none", None)
    if y_kind is None:
        raise DataError(f"{where}: task {given} needs labels: add an array 'y' to the .npz")
    classes = _class_outputs(outputs, y_shape[0])
    is_ids = len(y_shape) == 1 and y_kind in "iu"
    if given == "classify" or (given is None and is_ids and classes):
        if not is_ids:
            raise DataError(
                f"{where}: task classify needs one integer class id per sample in y, got "
                f"{_kind_name(y_kind)} {_dims(y_shape)}"
                + ("; for target values use task regress" if y_kind == "f" else "")
            )
        if not classes:
            raise DataError(
                f"{where}: no output holds one score per class per sample "
                f"(outputs: {shapes_text(outputs)}); use task none, or task regress with target "
                "values"
            )
        return Task("classify", classes[0])
    values = _value_outputs(outputs, y_shape)
    if given == "regress" and y_kind != "f":
        raise DataError(
            f"{where}: task regress needs float target values in y, got {_kind_name(y_kind)} "
            f"{_dims(y_shape)}; save y as float32 targets, or use task classify for class ids"
        )
    if given == "regress" or (given is None and y_kind == "f" and values):
        if not values:
            raise DataError(
                f"{where}: no output has {_dims(y_shape[1:]) if y_shape[1:] else 'one value'} "
                f"per sample to compare with y {_dims(y_shape)}; the outputs are "
                f"{shapes_text(outputs)}"
            )
        return Task("regress", values[0])
    return Task("none", None)


def _kind_name(kind: str) -> str:
    return {"f": "float", "i": "integer", "u": "unsigned integer", "b": "bool"}.get(kind, kind)


def _dims(dims: tuple[int | None, ...]) -> str:
    text = ", ".join("N" if d is None and i == 0 else "?" if d is None else str(d)
                     for i, d in enumerate(dims))  # fmt: skip
    return f"({text},)" if len(dims) == 1 else f"({text})"


def shapes_text(outputs: list[Shape]) -> str:
    return ", ".join(_dims(dims) for dims, _ in outputs)


def resolve_task(
    given: str | None, y: np.ndarray | None, outputs: list[np.ndarray], where: str
) -> Task:
    """The task and its scored output; DataError when the labels cannot be scored so."""
    kind = None if y is None else y.dtype.kind
    shape = (0,) if y is None else tuple(int(d) for d in y.shape)
    task = choose_task(given, kind, shape, array_shapes(outputs), where)
    if task.name == "classify" and y is not None and task.output is not None:
        _check_range(y, outputs[task.output].shape[1], where)
    return task


def _check_range(y: np.ndarray, width: int, where: str) -> None:
    """Class ids the output cannot produce are an error, not a score."""
    if len(y) and y.min() < 0:
        raise DataError(f"{where}: y holds {int(y.min())}; class ids start at 0")
    if len(y) and y.max() >= width:
        raise DataError(
            f"{where}: y holds class {int(y.max())} but the model scores {width} classes "
            f"(0..{width - 1})"
        )


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
    """MAE and RMSE over every target value, and MAE's 95% interval: the mean of the
    per-sample mean absolute errors +- 1.96 standard errors (a normal approximation over
    samples, which are independent where the values of one sample are not)."""
    target = y.reshape(len(y), -1).astype(np.float64)
    error = predicted.reshape(len(y), -1).astype(np.float64) - target
    per_sample = np.abs(error).mean(axis=1)
    mae = float(per_sample.mean()) if len(y) else 0.0
    half = 1.96 * float(per_sample.std(ddof=1)) / np.sqrt(len(y)) if len(y) > 1 else 0.0
    return {
        "mae": mae,
        "mae_low": max(0.0, mae - half),
        "mae_high": mae + half,
        "rmse": float(np.sqrt((error**2).mean())) if len(y) else 0.0,
        "n_test": len(y),
    }


def sample_errors(y: np.ndarray, predicted: np.ndarray) -> str:
    """Each test sample's mean absolute error, as float32 hex (8 characters a sample): what
    a paired comparison of two regression candidates on the same samples needs."""
    target = y.reshape(len(y), -1).astype(np.float64)
    error = np.abs(predicted.reshape(len(y), -1).astype(np.float64) - target).mean(axis=1)
    return error.astype("<f4").tobytes().hex()


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
