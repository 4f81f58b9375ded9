"""Feeding a session inside the worker: inputs by name, in batches, and the timed call.

An eval input is either an .npy (one array: the model's first input, as the sweep writes
it) or an .npz of arrays named as the model's inputs, with a feed plan from the parent
(`harness.measure.inputs`): which arrays are split per sample, which are given whole to
every call (state tensors, sample rates), and the model's fixed batch size if it has one.
A fixed batch is fed in batches of exactly that size; the last one is padded by repeating
its final sample and the padding's outputs are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Feeds = dict[str, np.ndarray]


def load_feeds(path: str, session: Any, plan: dict[str, Any] | None) -> tuple[Feeds, list[str]]:
    """(arrays by input name, the names split per sample)."""
    if path.endswith(".npy"):
        return {session.input_names[0]: np.load(path)}, [session.input_names[0]]
    with np.load(path, allow_pickle=False) as data:
        feeds = {name: data[name] for name in data.files}
    return feeds, list((plan or {}).get("per_sample", [session.input_names[0]]))


def _rows(feeds: Feeds, per_sample: list[str], start: int, size: int, n: int) -> Feeds:
    """Samples [start, start + size) of the per-sample arrays, padded past n."""
    out = dict(feeds)
    for name in per_sample:
        chunk = feeds[name][start : min(start + size, n)]
        if len(chunk) < size:
            pad = np.repeat(chunk[-1:], size - len(chunk), axis=0)
            chunk = np.concatenate([chunk, pad])
        out[name] = np.ascontiguousarray(chunk)
    return out


def evaluate(session: Any, path: str, plan: dict[str, Any] | None, chunk: int) -> list[np.ndarray]:
    """Every output over all samples. Outputs that follow the batch are concatenated (padding
    dropped); any other output (a state, a fixed-size tensor) is stacked per call."""
    feeds, per_sample = load_feeds(path, session, plan)
    n = len(feeds[per_sample[0]])
    fixed = (plan or {}).get("batch")
    size = int(fixed) if fixed else chunk
    calls: list[tuple[int, list[np.ndarray]]] = []
    for start in range(0, n, size):
        taken = min(size, n - start)
        fed = size if fixed else taken
        calls.append((taken, session.run_all(_rows(feeds, per_sample, start, fed, n))))
    outputs = []
    for k in range(len(calls[0][1])):
        parts = [(taken, outs[k]) for taken, outs in calls]
        if all(np.ndim(o) > 0 and len(o) == (size if fixed else t) for t, o in parts):
            outputs.append(np.concatenate([o[:taken] for taken, o in parts]))
        else:
            outputs.append(_per_call(parts))
    return outputs


def _per_call(parts: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """An output that does not follow the batch: stacked per call, or, when its size
    varies from call to call (a detector's list of boxes), joined along its first axis."""
    arrays = [np.asarray(o) for _, o in parts]
    if len({a.shape for a in arrays}) == 1:
        return np.stack(arrays)
    if len({a.shape[1:] for a in arrays}) == 1 and arrays[0].ndim:
        return np.concatenate(arrays)
    return np.concatenate([a.reshape(-1) for a in arrays])


def timed_call(
    session: Any, path: str, plan: dict[str, Any] | None, size: int
) -> Callable[[], None]:
    """The inference call at batch `size` with inputs bound before the clock starts."""
    feeds, per_sample = load_feeds(path, session, plan)
    for name in per_sample:
        x = feeds[name]
        feeds[name] = np.ascontiguousarray(np.resize(x, (size, *x.shape[1:])))
    return session.bind_all(feeds)


def save_outputs(path: str, outputs: list[np.ndarray]) -> None:
    """Outputs in order, as out0, out1, ... in one .npz; strings (a classifier's string
    labels) as fixed-width text, which needs no pickle to read back."""
    outputs = [o.astype(str) if o.dtype.kind == "O" else o for o in outputs]
    np.savez(path, **{f"out{i}": o for i, o in enumerate(outputs)})  # type: ignore[arg-type]


def load_outputs(path: str) -> list[np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return [data[f"out{i}"] for i in range(len(data.files))]
