"""`harness bench`: measure a model file the user brings, on every runtime that can run it.

The data is fed as given (the user's .npz holds model-ready inputs, matched to the model's
inputs by `harness.measure.inputs`), so the numbers are those of the user's own pipeline.
An .onnx file also runs on LiteRT through the converter; a .tflite file runs on LiteRT
only. What is scored depends on the task
(`harness.measure.tasks`): accuracy, MAE/RMSE, or nothing but size, load time, latency,
memory and parity between runtimes.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from harness.config.load import LatencySpec, RuntimeSpec
from harness.errors import ConfigError, ConversionError, DataError, HarnessError
from harness.measure.formats import FORMATS, ModelIO, model_format
from harness.measure.inputs import Feeds, plan_feeds
from harness.measure.runner import WorkerResult, run_worker
from harness.measure.tasks import Task, check_labels, resolve_task
from harness.store.results import CandidateRecord, Store
from harness.sweep.bench_scores import score


@dataclass(frozen=True)
class BenchData:
    arrays: dict[str, np.ndarray]  # every array but y: x and any inputs named by the model
    y: np.ndarray | None  # class ids or target values; None when there is nothing to score
    source: str

    @property
    def n(self) -> int:
        x = self.arrays.get("x")
        return len(x) if x is not None and np.ndim(x) else 0


def load_bench_data(path: Path) -> BenchData:
    """The arrays of an .npz: x (the main input), inputs by name, and optional labels y.
    Headers are checked before any data is read (harness.train.npz)."""
    from harness.train.npz import READ_ERRORS, _why, npz_headers

    if not path.exists():
        raise DataError(f"{path}: no such file; give the path of an .npz holding an array x")
    headers = npz_headers(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in headers}
    except READ_ERRORS as exc:
        raise DataError(f"{path}: not a readable .npz file ({_why(exc)})") from None
    y = arrays.pop("y", None)
    x = arrays.get("x")
    if x is not None:
        if x.dtype.kind not in "biuf":
            raise DataError(f"{path}: x must hold numbers; got dtype {x.dtype}")
        if x.ndim == 0 or len(x) == 0:
            raise DataError(f"{path}: x holds no samples (shape {x.shape})")
    for name, array in arrays.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise DataError(f"{path}: array '{name}' holds NaN or infinite values")
    if y is not None and y.ndim == 1 and y.dtype.kind in "iu" and len(np.unique(y)) == 1:
        raise DataError(
            f"{path}: y holds only class {int(y[0])}; accuracy needs at least 2 classes "
            "(leave y out to measure without a score)"
        )
    return BenchData(arrays, y, str(path))


def check_model_file(path: Path, runtimes: tuple[str, ...]) -> tuple[str, ...]:
    """The runtimes to use for this file; a clear error for files no runtime takes."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such model file")
    found = model_format(path)
    if found is None:
        raise ConfigError(
            f"{path}: unknown model format '{path.suffix}'; give an "
            f"{' or '.join(FORMATS.names())} file"
        )
    usable = found.runtimes
    if not runtimes:
        return usable
    wrong = [r for r in runtimes if r not in usable]
    if wrong:
        raise ConfigError(
            f"{path.name}: runtime {wrong[0]} cannot run a {path.suffix} file; use {', '.join(usable)}"
        )
    return runtimes


def model_io(path: Path) -> ModelIO:
    """The model's inputs and outputs, read before anything runs; one line if unreadable."""
    from harness.measure.model_files import external_files

    found = model_format(path)
    if found is None:
        raise ConfigError(f"{path.name}: unknown model format '{path.suffix}'")
    try:
        external_files(path)  # weights in data files beside an .onnx must be there
        return found.read(path)
    except HarnessError:
        raise
    except Exception as exc:  # onnx's DecodeError, LiteRT's ValueError, ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"{path.name}: not a valid model file ({first})") from None


def prepare(
    model_path: Path, data: BenchData, task: str | None, layout: str | None
) -> tuple[ModelIO, Feeds]:
    """Inputs matched and checked, labels checked against the declared outputs."""
    io = model_io(model_path)
    feeds = plan_feeds(io, data.arrays, data.source, layout)
    if data.y is not None and len(data.y) != feeds.n:
        raise DataError(f"{data.source}: x has {feeds.n} samples but y has {len(data.y)}")
    check_labels(data.y, task, [o.dims[-1] if o.dims else "?" for o in io.outputs], data.source)
    return io, feeds


def bench_file(
    model_path: Path,
    data: BenchData,
    runtimes: list[RuntimeSpec],
    latency: LatencySpec,
    task: str | None = None,
    layout: str | None = None,
) -> list[CandidateRecord]:
    """One record per runtime; a runtime that fails gives a failed record, not an exception.
    Labels that cannot be scored as the task says are a DataError for the whole bench."""
    from harness.measure.model_files import model_bytes, model_digest
    from harness.measure.size import file_size

    io, feeds = prepare(model_path, data, task, layout)
    if feeds.batch is not None:  # a fixed batch is timed at that batch, and only that
        latency = replace(latency, batch=feeds.batch, extra_batches=())
    key_base = model_digest(model_path)[:16]
    results: dict[str, tuple[WorkerResult, dict[str, Any]] | str] = {}
    with tempfile.TemporaryDirectory(prefix=f"harness-bench-{os.getpid()}-") as tmp:
        feeds_path = Path(tmp) / "feeds.npz"
        np.savez(feeds_path, **feeds.arrays)  # type: ignore[arg-type]
        for runtime in runtimes:
            try:
                path = _file_for(model_path, runtime.name, Path(tmp), feeds)
                n_bytes, n_compressed = file_size(model_bytes(path))
                sizes = {"file_bytes": n_bytes, "compressed_bytes": n_compressed}
                result = run_worker(path, runtime, [feeds_path], latency, feed=feeds.plan())
                results[runtime.name] = (result, sizes)
            except HarnessError as exc:
                results[runtime.name] = str(exc).splitlines()[0]
    measured = [r[0] for r in results.values() if not isinstance(r, str)]
    chosen = (
        resolve_task(task, data.y, measured[0].all_outputs[0], data.source)
        if measured
        else Task("none", None)
    )
    reference = measured[0].all_outputs[0] if measured else None
    records = []
    for runtime in runtimes:
        outcome = results[runtime.name]
        status, error = "failed", None
        metrics: dict[str, Any] = {}
        details: dict[str, Any] = {}
        if isinstance(outcome, str):
            error = outcome
        else:
            result, measured_sizes = outcome
            first = result is measured[0]
            scored, details = score(
                result, chosen, data.y, latency.batch, None if first else reference
            )
            metrics = {**measured_sizes, **scored}
            details["runtime_info"] = {"name": runtime.name, "version": result.version,
                                       "settings": runtime.settings}  # fmt: skip
            details["inputs"] = {"per_sample": list(feeds.per_sample), "batch": feeds.batch,
                                 "outputs": [o.name for o in io.outputs]}  # fmt: skip
            status = "ok"
        records.append(
            CandidateRecord(
                key=f"bench-{key_base}-{runtime.name}",
                dataset=data_name(feeds.n, chosen, data.y),
                model=model_path.name,
                policy="-",
                compression="as given",
                runtime=runtime.name,
                status=status,
                error=error,
                metrics=metrics,
                details=details,
                artifact=str(model_path.resolve()),
            )
        )
    return records


def data_name(n: int, task: Task, y: np.ndarray | None) -> str:
    if task.name == "classify" and y is not None:
        return f"{n} samples, {len(np.unique(y))} classes"
    if task.name == "regress":
        return f"{n} samples, regression targets"
    return f"{n} samples, no labels scored"


def fed_sizes(feeds: Feeds) -> dict[str, tuple[int | None, ...]]:
    """The size of every axis as fed: a per-sample input's batch axis is the fixed batch,
    or None (left dynamic); an input fed whole has the array's shape."""
    return {
        name: (feeds.batch, *array.shape[1:]) if name in feeds.per_sample else array.shape
        for name, array in feeds.arrays.items()
    }


def _file_for(model_path: Path, runtime: str, tmp: Path, feeds: Feeds) -> Path:
    """The file this runtime loads: the model itself, or its LiteRT conversion with the
    dynamic axes other than the batch fixed to the sizes fed."""
    if runtime == "litert" and model_path.suffix.lower() == ".onnx":
        import onnx

        from harness.convert.tflite import onnx_to_tflite

        try:
            model = onnx.load(str(model_path))
        except Exception as exc:  # onnx raises DecodeError and others for a bad file
            raise ConversionError(f"{model_path.name}: not a readable ONNX model ({exc})") from None
        from harness.convert.input_sizes import with_input_sizes

        out = tmp / (model_path.stem + ".tflite")
        out.write_bytes(onnx_to_tflite(with_input_sizes(model, fed_sizes(feeds))))
        return out
    return model_path


def store_bench(store: Store, records: list[CandidateRecord], spec: dict) -> int:
    """Add a bench as a run of its own, so it shows in `harness runs`, reports and history."""
    from harness import __version__
    from harness.hashing import hash_spec
    from harness.measure.machine import describe_machine, git_revision, machine_hash
    from harness.sweep.driver import now

    machine = describe_machine()
    run_id = store.start_run(
        started_at=now(),
        config=spec,
        config_hash=hash_spec(spec),
        harness_version=__version__,
        git_revision=git_revision(),
        machine=machine,
        machine_hash=machine_hash(machine),
        kind="bench",
    )
    for record in records:
        store.add_candidate(run_id, record, now())
    store.finish_run(run_id, finished_at=now(), timings={}, status="complete")
    return run_id
