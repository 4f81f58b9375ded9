"""Matching a user's .npz to a model's inputs, before anything runs.

The convention (README, "Your own data"):
- `x` is the main input: it feeds the model's first input, unless the .npz holds an array
  under that input's own name. Every other model input is looked up by its name.
- An array whose first axis holds one entry per sample (as many as the main input) goes to
  a model input with a batch axis and is split into batches; any other array (a recurrent
  state, a sample rate) is fed whole to every call.
- The batch axis is the model's first axis: symbolic, or -1 (PaddlePaddle), is dynamic;
  a number is a fixed batch, fed in batches of exactly that size. A whole-fed input that
  shares the main input's symbolic batch name (a state of shape (2, batch, 128)) fixes it.
- Each array must have the input's rank, the size of every fixed axis and a dtype of the
  same kind (float, integer, bool); values are cast within the kind (float64 -> float32).
- 4-D image data must be in the model's layout; data in the other one (N, H, W, C versus
  N, C, H, W) is an error naming the fix, or is transposed when `layout` says how it is
  stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import DataError
from harness.measure.formats import Dim, ModelIO, TensorInfo, model_format, model_layout

__all__ = [
    "Feeds",
    "ModelIO",
    "TensorInfo",
    "fixed_batch_feed",
    "model_layout",
    "plan_feeds",
    "shape_text",
]

TO_NCHW, TO_NHWC = (0, 3, 1, 2), (0, 2, 3, 1)


@dataclass(frozen=True)
class Feeds:
    """The arrays to write for the worker, and its feed plan."""

    arrays: dict[str, np.ndarray]  # by model input name, cast and laid out
    per_sample: tuple[str, ...]  # split into batches; the first is the main input
    batch: int | None  # the model's fixed batch size, or None when any batch runs
    n: int  # samples

    def plan(self) -> dict[str, Any]:
        return {"per_sample": list(self.per_sample), "batch": self.batch}


def shape_text(dims: tuple[Dim, ...] | tuple[int, ...] | None) -> str:
    if dims is None:
        return "(any shape)"
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def _fits(shape: tuple[int, ...], dims: tuple[Dim, ...] | None, skip_batch: bool) -> bool:
    if dims is None:
        return True
    if len(shape) != len(dims):
        return False
    start = 1 if skip_batch else 0
    return all(
        not isinstance(d, int) or d == s for d, s in zip(dims[start:], shape[start:], strict=True)
    )


def _cast(info: TensorInfo, array: np.ndarray, where: str) -> np.ndarray:
    name, want = info.name, info.dtype
    if info.quantized and array.dtype.kind == "f":  # the runtime quantizes it with its scale
        return np.ascontiguousarray(array.astype(np.float32, copy=False))
    kinds = {"f": "float", "i": "integer", "u": "integer", "b": "bool"}
    have, need = kinds.get(array.dtype.kind, array.dtype.kind), kinds.get(want.kind, want.kind)
    if have != need:
        raise DataError(
            f"{where}: input '{name}' takes {want.name} but the .npz gives {array.dtype.name}; "
            f"store it as {want.name}"
        )
    return np.ascontiguousarray(array.astype(want, copy=False))


def _layout(x: np.ndarray, info: TensorInfo, layout: str | None, where: str) -> np.ndarray:
    """x as the model takes it; the other 4-D layout is an error naming the fix, or is
    transposed when the user says how the data is stored."""
    want = model_layout(info.dims)
    if layout is not None and want is not None and layout != want and x.ndim == 4:
        x = x.transpose(TO_NCHW if want == "nchw" else TO_NHWC)
    if x.ndim == 4 and not _fits(x.shape, info.dims, True):
        for perm, have, fix in ((TO_NCHW, "nhwc", "nchw"), (TO_NHWC, "nchw", "nhwc")):
            if _fits(tuple(x.shape[p] for p in perm), info.dims, True):
                axes = "N, H, W, C" if have == "nhwc" else "N, C, H, W"
                raise DataError(
                    f"{where}: x is {shape_text(x.shape)}, {have.upper()} ({axes}), but input "
                    f"'{info.name}' takes {shape_text(info.dims)}, {fix.upper()}; store x as "
                    f"x.transpose{perm} or pass --layout {have} to have it transposed"
                )
    return x


def _batch_of(main: TensorInfo) -> int | None:
    first = main.dims[0] if main.dims else "?"  # None or () : no batch axis to read
    return first if isinstance(first, int) else None


def plan_feeds(
    io: ModelIO, arrays: dict[str, np.ndarray], where: str, layout: str | None = None
) -> Feeds:
    """The arrays for each model input with their checks; DataError on the first problem."""
    if not io.inputs:
        raise DataError(f"{where}: the model has no inputs to feed")
    main = io.inputs[0]
    key = main.name if main.name in arrays else "x"
    if key not in arrays:
        raise DataError(
            f"{where}: no array 'x' (or '{main.name}') for the model's main input; "
            f"found {sorted(arrays)}"
        )
    x = _layout(np.asarray(arrays[key]), main, layout, where)
    if x.ndim == 0 or len(x) == 0:
        raise DataError(f"{where}: '{key}' holds no samples")
    n = len(x)
    fed = {main.name: x}
    for info in io.inputs[1:]:
        if info.name not in arrays:
            raise DataError(
                f"{where}: the model's input '{info.name}' ({info.dtype.name} "
                f"{shape_text(info.dims)}) has no array; add one named '{info.name}' to the .npz"
            )
        fed[info.name] = np.asarray(arrays[info.name])
    batch = _batch_of(main)
    per_sample = [main.name]
    for info in io.inputs[1:]:
        array, first = fed[info.name], (info.dims[0] if info.dims else None)
        batch_axis = isinstance(first, str) or (first is not None and first == batch)
        rank_ok = info.dims is not None and array.ndim == len(info.dims)
        if batch_axis and rank_ok and len(array) == n:
            per_sample.append(info.name)
    for info in io.inputs:
        array = fed[info.name]
        per = info.name in per_sample
        if not _fits(array.shape, info.dims, per):
            what = "per sample" if per else "whole, to every call"
            raise DataError(
                f"{where}: input '{info.name}' takes {shape_text(info.dims)} but the .npz gives "
                f"{shape_text(array.shape)} (fed {what}); give it that shape"
            )
        fed[info.name] = _cast(info, array, where)
        symbol = main.dims[0] if main.dims else "?"
        if not per and batch is None and info.dims and isinstance(symbol, str) and symbol != "?":
            for axis, d in enumerate(info.dims):
                if d == symbol:
                    batch = int(array.shape[axis])
    return Feeds(fed, tuple(per_sample), batch, n)


def fixed_batch_feed(path: Path, latency: Any) -> tuple[dict[str, Any] | None, Any]:
    """For a sweep's model file: (the feed plan, the latency spec) that feed a model with a
    fixed batch size in batches of that size and time it there; (None, latency) otherwise."""
    from dataclasses import replace

    found = model_format(path)
    if found is None:  # an ExecuTorch program the harness lowered: its session slices batches
        return None, latency
    io = found.read(path)
    batch = _batch_of(io.inputs[0]) if io.inputs else None
    if batch is None:
        return None, latency
    plan = {"per_sample": [io.inputs[0].name], "batch": batch}
    return plan, replace(latency, batch=batch, extra_batches=())
