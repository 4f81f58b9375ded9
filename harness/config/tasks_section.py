"""The task of each imported model (`task = "classify" | "regress" | "none"`, or inferred),
decided when the config loads, before anything runs.

The rule is bench's (harness.measure.tasks.choose_task), applied to what is known without
reading data: the dtype and shape of the dataset's y (an .npz's header; class ids for the
built-in datasets) and the model's declared outputs. Integer labels and an (N, K >= 2)
output: classify; float targets with as many values per sample as an output: regress;
anything else: none. What cannot be scored as declared is one line per model.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.compress.training_steps import trains
from harness.errors import DataError
from harness.measure.tasks import TASKS, Shape, choose_task, shapes_text
from harness.registry import nearest
from harness.specs import CompressionSpec, DatasetSpec, ModelSpec

CLASS_ID_DATASETS = ("digits", "breast_cancer", "image_folder", "shapes")


def check_task(value: str) -> str | None:
    """A `task` key's value: one of TASKS."""
    if value in TASKS:
        return None
    return f"'{value}' is not a task{nearest(value, list(TASKS))}; choose from: {', '.join(TASKS)}"


def labels_of(dataset: DatasetSpec) -> tuple[str | None, tuple[int | None, ...]] | None:
    """y's dtype kind and shape, without reading its data; None when unknown (an .npz that
    cannot be read is reported by the loader with its own message)."""
    if dataset.name in CLASS_ID_DATASETS:
        return "i", (None,)
    path = Path(str(dataset.params.get("path", "")))
    if dataset.name != "npz" or not path.is_file():
        return None
    from harness.train.npz import npz_headers

    try:
        y = npz_headers(path).get("y")
    except DataError:
        return None
    return None if y is None else (y.dtype.kind, y.shape)


def output_shapes(path: Path) -> list[Shape]:
    """The model's declared outputs; the batch axis as unknown, since a model with a fixed
    batch is fed in batches of that size."""
    from harness.measure.formats import onnx_io

    shapes: list[Shape] = []
    for out in onnx_io(path).outputs:
        dims = tuple(d if isinstance(d, int) else None for d in out.dims or ())
        shapes.append(((None, *dims[1:]) if dims else (), out.dtype.kind))
    return shapes


def resolve(
    models: list[ModelSpec],
    dataset: DatasetSpec,
    compressions: list[CompressionSpec],
    errors: list[tuple[str, str]],
) -> list[ModelSpec]:
    """Each imported model with its task decided; a problem is recorded against its key."""
    labels = labels_of(dataset)
    where = Path(str(dataset.params.get("path", dataset.name))).name or dataset.name
    targets = labels is not None and labels[0] == "f"
    out = []
    for model in models:
        if not model.imported:
            if targets:
                errors.append((
                    f"models.{model.name}",
                    f"a built-in model trains as a classifier on class ids, but {where} holds "
                    "float targets; import your trained regression model (onnx = \"model.onnx\","
                    " task = \"regress\") to score it by MAE and RMSE",
                ))  # fmt: skip
            out.append(model)
            continue
        task = model.task
        if labels is not None and model.sha256 is not None:
            given = None if model.task == "infer" else model.task
            try:
                shapes = output_shapes(Path(model.onnx or ""))
                task = choose_task(given, labels[0], labels[1], shapes, where).name
                if given is None and task == "none" and labels[0] == "f" and len(labels[1]) == 1:
                    errors.append((f"models.{model.name}", _float_ids(where, shapes)))
            except DataError as exc:
                errors.append((f"models.{model.name}.task", str(exc)))
        task = "classify" if task == "infer" else task
        if task != "classify":
            errors.extend(_training_steps(model.name, task, compressions))
        out.append(dataclasses.replace(model, task=task))
    return out


def _training_steps(
    model: str, task: str, compressions: list[CompressionSpec]
) -> list[tuple[str, str]]:
    """Chains that train (distill, qat) learn class ids: not for a model of another task."""
    return [
        (
            f"compression.{c.name}",
            f"{next(p.name for p in c.passes if trains(p))} trains a "
            f"classifier on class ids, but models.{model} has task {task}; drop this chain "
            "or that model",
        )
        for c in compressions
        if any(trains(p) for p in c.passes)
    ]


def _float_ids(where: str, shapes: list[Shape]) -> str:
    """Floats in y and an output of class scores: class ids saved as floats, most likely."""
    return (
        f"{where} holds one float per sample but the model's outputs are {shapes_text(shapes)}: "
        "save class ids as integers (y.astype(int)) to score accuracy, or say task = "
        '"regress" or "none"'
    )
