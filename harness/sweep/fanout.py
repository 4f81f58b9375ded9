"""The sweep's independent work as executor tasks, made before measurement starts: each
model to train, and as soon as it is trained its compression jobs (ONNX passes, LiteRT
conversion and ExecuTorch lowering, one job per compressed model), so compressing one
model overlaps training the others.

Both stages cache their files by content hash, so the driver's own pass over the
candidates finds them ready (or meets the same error again and records it with its
stage): the store, resume and the recorded reasons do not depend on where a file
was made. Measurement stays in the driver, one at a time, on a quiet machine.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from harness.errors import UnsupportedError
from harness.specs import RuntimeSpec
from harness.store.artifacts import Artifacts
from harness.sweep.executorch_stage import mirrored_passes, pte_key, pte_stage
from harness.sweep.executors import Task
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

__all__ = ["TRAINING", "COMPRESSION", "Fanout", "training_task", "untrained"]

TRAINING, COMPRESSION = "training", "compression"  # the tasks' kinds


def untrained(jobs: Iterable[TrainJob], artifacts: Artifacts) -> list[TrainJob]:
    """The jobs whose model must be trained: built in and not in the cache."""
    return [
        job for job in jobs
        if not job.model.imported and artifacts.get("trained", job.key, "onnx") is None
    ]  # fmt: skip


def training_task(
    job: TrainJob, splits: Splits, config: Any, artifacts: Artifacts, modules: tuple[str, ...] = ()
) -> Task:
    """Train one model, on `training.threads` cores."""
    args = (job, splits, config, artifacts)
    return Task(job.key, train_stage, args, config.training.threads, preload=modules, kind=TRAINING)


def preload(config: Any) -> tuple[str, ...]:
    """The modules beyond forks.PRELOAD that this sweep's jobs import: the harness's
    ExecuTorch stage when a runtime converts to .pte. ExecuTorch's lowering itself (about
    three CPU-seconds) is imported by each worker at its first .pte job: in the fork
    server it would save that CPU but no wall time, since the server imports on one core
    before any job starts while the other cores wait."""
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


class Fanout:
    """The tasks that make a sweep's models: `first` the trainings and the compression jobs
    of models already at hand (cached, imported), `then` a trained model's compression
    jobs, handed to the executor as the model's training ends (executors.Then)."""

    def __init__(
        self,
        jobs: Sequence[CompressJob],
        candidates: dict[str, list[Candidate]],
        calibration: np.ndarray,
        artifacts: Artifacts,
        splits: Splits,
        config: Any,
    ) -> None:
        self.by_model: dict[str, list[CompressJob]] = defaultdict(list)
        for job in jobs:
            if job.key in candidates:
                self.by_model[job.train.key].append(job)
        self.candidates = candidates
        self.calibration = calibration
        self.artifacts = artifacts
        self.splits = splits
        self.config = config
        self.modules = preload(config)

    def first(self, trains: Sequence[TrainJob], ready: dict[str, Built | Exception]) -> list[Task]:
        """Training each of `trains`, then compressing the models of `ready`."""
        tasks = [
            training_task(job, self.splits, self.config, self.artifacts, self.modules)
            for job in trains
        ]
        for key, built in ready.items():
            tasks.extend(self.compressions(key, built))
        return tasks

    def then(self, task: Task, outcome: Any) -> list[Task]:
        """A trained model's compression jobs; nothing after a failed training (its
        candidates are recorded failed by the driver) or after a compression."""
        return self.compressions(task.key, outcome) if task.kind == TRAINING else []

    def compressions(self, model: str, built: Built | Exception) -> list[Task]:
        """One task per compression job of `model` whose files are not all cached."""
        if not isinstance(built, Built):
            return []
        tasks = []
        for job in self.by_model.get(model, []):
            quantizes = _quantizes(self.candidates[job.key])
            ptes = _ptes(job, self.candidates[job.key])
            if not _cached(job, quantizes, ptes, self.artifacts, self.config):
                args = (job, built, self.calibration, self.artifacts, self.splits, self.config,
                        quantizes, ptes)  # fmt: skip
                tasks.append(Task(job.key, prepare, args, preload=self.modules, kind=COMPRESSION))
        return tasks
