"""`harness bench`: measure a model file the user brings, on every runtime that can run it.

The data is fed exactly as given (the user's .npz holds model-ready inputs), so the
numbers are those of the user's own pipeline. An .onnx file also runs on LiteRT through
the converter; a .tflite file runs on LiteRT only.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.config.load import LatencySpec, RuntimeSpec
from harness.errors import ConfigError, ConversionError, HarnessError
from harness.hashing import hash_bytes
from harness.measure.runner import run_worker
from harness.store.results import CandidateRecord, Store
from harness.sweep.stages import evaluate
from harness.train.datasets import check_samples, labels, numeric, read_npz

SUFFIXES = {".onnx": ("onnxruntime", "litert"), ".tflite": ("litert",)}


@dataclass(frozen=True)
class BenchData:
    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]


def load_bench_data(path: Path) -> BenchData:
    """x (model-ready float32 inputs, fed as stored) and y (class ids) from an .npz."""
    arrays = read_npz(path)
    x = numeric(arrays["x"], path)
    y, classes = labels(np.asarray(arrays["y"]), path)
    check_samples(x, y, str(path))
    return BenchData(x, y, classes)


def check_model_file(path: Path, runtimes: tuple[str, ...]) -> tuple[str, ...]:
    """The runtimes to use for this file; a clear error for files no runtime takes."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such model file")
    usable = SUFFIXES.get(path.suffix.lower())
    if usable is None:
        raise ConfigError(
            f"{path}: unknown model format '{path.suffix}'; give an .onnx or .tflite file"
        )
    if not runtimes:
        return usable
    wrong = [r for r in runtimes if r not in usable]
    if wrong:
        raise ConfigError(
            f"{path.name}: runtime {wrong[0]} cannot run a {path.suffix} file; use {', '.join(usable)}"
        )
    return runtimes


def bench_file(
    model_path: Path,
    data: BenchData,
    runtimes: list[RuntimeSpec],
    latency: LatencySpec,
) -> list[CandidateRecord]:
    """One record per runtime; a runtime that fails gives a failed record, not an exception."""
    from harness.measure.size import file_size

    key_base = hash_bytes(model_path.read_bytes())
    records = []
    reference = None
    with tempfile.TemporaryDirectory(prefix=f"harness-bench-{os.getpid()}-") as tmp:
        x_path = Path(tmp) / "x.npy"
        np.save(x_path, data.x)
        for runtime in runtimes:
            metrics: dict = {}
            try:
                path = _file_for(model_path, runtime.name, Path(tmp))
                metrics["file_bytes"], metrics["compressed_bytes"] = file_size(path.read_bytes())
                result = run_worker(path, runtime, [x_path], latency)
                measured, details = evaluate(result, data.y, data.classes, latency.batch, reference)
                if runtime.name == "onnxruntime":
                    reference = result.outputs[0]
                metrics.update(measured)
                details["runtime_info"] = {
                    "name": runtime.name,
                    "version": result.version,
                    "settings": runtime.settings,
                }
                status, error = "ok", None
            except HarnessError as exc:
                details, status, error = {}, "failed", str(exc).splitlines()[0]
            records.append(
                CandidateRecord(
                    key=f"bench-{key_base}-{runtime.name}",
                    dataset=data_name(data),
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


def data_name(data: BenchData) -> str:
    return f"{len(data.y)} samples, {len(data.classes)} classes"


def _file_for(model_path: Path, runtime: str, tmp: Path) -> Path:
    """The file this runtime loads: the model itself, or its LiteRT conversion."""
    if runtime == "litert" and model_path.suffix.lower() == ".onnx":
        import onnx

        from harness.convert.tflite import onnx_to_tflite

        try:
            model = onnx.load(str(model_path))
        except Exception as exc:  # onnx raises DecodeError and others for a bad file
            raise ConversionError(f"{model_path.name}: not a readable ONNX model ({exc})") from None
        out = tmp / (model_path.stem + ".tflite")
        out.write_bytes(onnx_to_tflite(model))
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
