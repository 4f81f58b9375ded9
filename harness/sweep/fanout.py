"""The sweep's independent work handed to an executor before measurement starts:
training every model, then compressing and converting every candidate's model (ONNX
passes, LiteRT conversion and ExecuTorch lowering, one job per compressed model).

Both stages cache their files by content hash, so the driver's own pass over the
candidates finds them ready (or meets the same error again and records it with its
stage): the store, resume and the recorded reasons do not depend on where a file
was made. Measurement stays in the driver, one at a time, on a quiet machine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from harness.errors import UnsupportedError
from harness.specs import RuntimeSpec
from harness.store.artifacts import Artifacts
from harness.sweep.executorch_stage import mirrored_passes, pte_key, pte_stage
from harness.sweep.executors import Executor, Task
from harness.sweep.keys import compressed_key, converted_key
from harness.sweep.plan import Candidate, CompressJob, TrainJob
from harness.sweep.stages import (
    Built,
    compress_stage,
    convert_stage,
    for_this_cpu,
    train_stage,
)
from harness.train.datasets import Splits

__all__ = ["prepare_all", "train_all"]


def train_all(
    executor: Executor,
    jobs: Sequence[TrainJob],
    splits: Splits,
    config: Any,
    artifacts: Artifacts,
    on_done: Callable[[TrainJob, Built | Exception], None],
) -> dict[str, Built | Exception]:
    """{job key: the trained model, or why it failed}; `on_done` runs here as each ends."""
    by_key = {job.key: job for job in jobs}
    tasks = [
        Task(job.key, train_stage, (job, splits, config, artifacts), config.training.threads)
        for job in jobs
    ]
    results: dict[str, Built | Exception] = {}
    for task, outcome in executor.run(tasks):
        results[task.key] = outcome
        on_done(by_key[task.key], outcome)
    return results


def preload(config: Any) -> tuple[str, ...]:
    """The modules beyond forks.PRELOAD that this sweep's jobs import: ExecuTorch's
    lowering (about three CPU-seconds to import) when a runtime converts to .pte."""
    from importlib.util import find_spec

    from harness.measure.runtimes import RUNTIMES

    formats = {RUNTIMES.get(r.engine).model_format for r in config.runtimes}
    if "pte" in formats and find_spec("executorch") is not None:
        return ("harness.sweep.executorch_stage", "harness.convert.executorch")
    return ()


def prepare(
    job: CompressJob,
    trained: Built,
    calibration: np.ndarray,
    artifacts: Artifacts,
    splits: Splits,
    config: Any,
    quantizes: Sequence[str],
    ptes: Sequence[RuntimeSpec] = (),
) -> Built:
    """In a worker: compress one job's model, convert it for each LiteRT setting its
    candidates ask for, and lower it to .pte for each ExecuTorch target. A conversion
    that fails (or that the runtime cannot take) is left to the driver's pass, which
    records it on its own candidate; the compressed model is still good for the rest."""
    compressed = compress_stage(job, trained, calibration, artifacts, splits, config)
    for quantize in quantizes:
        try:
            convert_stage(job, compressed, artifacts, quantize, calibration)
        except Exception:  # recorded by the driver on that candidate
            continue
    for runtime in ptes:
        try:
            pte_stage(job, runtime, splits, calibration, config, artifacts)
        except Exception:  # recorded by the driver (unsupported or failed)
            continue
    return compressed


def _quantizes(candidates: Sequence[Candidate]) -> list[str]:
    from harness.measure.runtimes import RUNTIMES

    wanted = {
        c.runtime.settings.get("quantize", "none")
        for c in candidates
        if RUNTIMES.get(c.runtime.engine).model_format == "tflite"
    }
    return sorted(wanted)


def _ptes(job: CompressJob, candidates: Sequence[Candidate]) -> list[RuntimeSpec]:
    """The ExecuTorch runtimes of the job's candidates that can take its model."""
    from harness.measure.runtimes import RUNTIMES

    wanted = {
        c.runtime.name: c.runtime
        for c in candidates
        if RUNTIMES.get(c.runtime.engine).model_format == "pte"
    }
    if not wanted:
        return []
    try:
        mirrored_passes(job)
    except UnsupportedError:  # no PyTorch form: the driver records it unsupported
        return []
    return [wanted[name] for name in sorted(wanted)]


def _cached(
    job: CompressJob,
    quantizes: Sequence[str],
    ptes: Sequence[RuntimeSpec],
    artifacts: Artifacts,
    config: Any,
) -> bool:
    """Whether the job's compressed model and every conversion it needs are in the cache
    (then a worker would only start up to find them)."""
    passes = for_this_cpu(job.compression.passes)
    if artifacts.get("compressed", compressed_key(job, passes), "onnx") is None:
        return False
    if not all(artifacts.get("tflite", converted_key(job, q, passes), "tflite") for q in quantizes):
        return False
    return all(artifacts.get("pte", pte_key(job, r, config), "pte") for r in ptes)


def prepare_all(
    executor: Executor,
    jobs: Sequence[CompressJob],
    trained: dict[str, Built | Exception],
    candidates: dict[str, list[Candidate]],
    calibration: np.ndarray,
    artifacts: Artifacts,
    splits: Splits,
    config: Any,
) -> set[str]:
    """Compress and convert every job whose model trained, concurrently; the paths of
    the compressed models made (not found in the cache) in this call."""
    tasks = []
    modules = preload(config)
    for job in jobs:
        built = trained.get(job.train.key)
        if not isinstance(built, Built) or job.key not in candidates:
            continue
        quantizes = _quantizes(candidates[job.key])
        ptes = _ptes(job, candidates[job.key])
        if not _cached(job, quantizes, ptes, artifacts, config):
            args = (job, built, calibration, artifacts, splits, config, quantizes, ptes)
            tasks.append(Task(job.key, prepare, args, preload=modules))
    made: set[str] = set()
    for _, outcome in executor.run(tasks):
        if isinstance(outcome, Built) and not outcome.reused:
            made.add(str(outcome.path))
    return made
