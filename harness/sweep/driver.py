"""The sweep driver: schedules the stages over the plan and commits each candidate.

A stage that fails marks its candidates failed with the reason and the sweep goes
on; every finished candidate is committed at once, so an interrupted sweep resumes.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from harness import __version__
from harness.config.load import Config
from harness.errors import ConfigError, UnsupportedError, one_line
from harness.hashing import hash_spec
from harness.measure.machine import describe_machine, git_revision, machine_hash
from harness.store.artifacts import Artifacts
from harness.store.liveness import RunLock
from harness.store.results import CandidateRecord, Store
from harness.sweep.executorch_stage import pte_stage
from harness.sweep.executors import Executor, LocalExecutor
from harness.sweep.fanout import TRAINING, Fanout, preload, untrained
from harness.sweep.lanes import measure_everywhere
from harness.sweep.plan import Candidate, CompressJob, Plan, TrainJob, make_plan
from harness.sweep.progress import Progress, QuietProgress
from harness.sweep.rounds import Pending
from harness.sweep.stages import (
    Built,
    calibration_data,
    candidate_details,
    compress_stage,
    convert_stage,
    data_facts,
    train_stage,
    write_eval_inputs,
)
from harness.train.datasets import Splits, load, split
from harness.train.imported import check_fits, read_model
from harness.train.previews import policy_previews


@dataclass
class SweepSummary:
    run_id: int
    ok: int = 0
    failed: int = 0
    resumed: int = 0
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _reason(stage: str, exc: Exception) -> str:
    """One line for the leaderboard: the stage, and the error's first line."""
    return f"{stage}: {one_line(exc)}"


class Sweep:
    """One run of a config: owns the store handle, the artifacts and the timing tally."""

    def __init__(
        self,
        config: Config,
        store: Store,
        artifacts: Path,
        progress: Progress,
        executor: Executor | None = None,
    ) -> None:
        self.config = config
        self.executor: Executor = executor or LocalExecutor()
        self.own_executor = executor is None  # closed here at the end, else by its owner
        self.made: set[str] = set()  # compressed models made ahead by the executor
        self.store = store
        self.artifacts = Artifacts(artifacts)
        self.progress = progress
        self.plan: Plan = make_plan(config)
        self.lock: RunLock | None = None
        self.pending: list[Pending] = []

    @contextmanager
    def timed(self, summary: SweepSummary, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            summary.timings[stage] += time.perf_counter() - started

    def start(self) -> tuple[int, set[str]]:
        machine = describe_machine()
        spec = self.config.spec()
        config_hash = hash_spec(spec)
        mhash = machine_hash(machine)
        self.store.mark_stale_interrupted(config_hash)  # this process holds the run lock
        resumed = self.store.resumable_run(config_hash, mhash)
        if resumed is not None:
            self.store.mark_running(resumed)
            return resumed, self.store.done_keys(resumed)
        run_id = self.store.start_run(
            started_at=now(),
            config=spec,
            config_hash=config_hash,
            harness_version=__version__,
            git_revision=git_revision(),
            machine=machine,
            machine_hash=mhash,
        )
        return run_id, set()

    def run(self) -> SweepSummary:
        # The data comes first: a dataset or an imported model that does not fit it stops
        # the sweep with one line before a run is recorded.
        started = time.perf_counter()
        self.lock = RunLock(self.store.path, hash_spec(self.config.spec()))
        self.lock.acquire()  # refuses a second live sweep of this config, before any work
        try:
            if untrained(self.plan.trains, self.artifacts):  # its imports overlap the data's
                self.executor.warm(preload(self.config))
            splits = self._load_data()
            data_seconds = time.perf_counter() - started
            run_id, done = self.start()
            summary = SweepSummary(run_id=run_id, resumed=len(done))
            summary.timings["data"] += data_seconds
            self._run_todo(summary, done, splits, started)
        finally:
            if self.own_executor:
                self.executor.close()
            self.lock.release()
        return summary

    def _run_todo(
        self, summary: SweepSummary, done: set[str], splits: Splits, started: float
    ) -> None:
        run_id = summary.run_id
        todo = [c for c in self.plan.candidates if c.key not in done]
        self.progress.begin(len(todo) * self.config.latency.rounds)
        status = "interrupted"
        try:
            if todo:
                self._run_candidates(summary, todo, splits)
            status = "complete"
        finally:
            summary.timings["total"] = time.perf_counter() - started
            self.store.finish_run(
                run_id, finished_at=now(), timings=dict(summary.timings), status=status
            )

    def _load_data(self) -> Splits:
        spec = self.config.dataset
        splits = split(
            load(spec.name, spec.params), self.config.seed,
            spec.val_fraction, spec.test_fraction, spec.normalize,
        )  # fmt: skip
        for model in self.config.models:
            if model.imported:
                try:
                    onnx_model, _ = read_model(Path(model.onnx or ""))
                except ValueError as exc:  # changed since the config was read
                    raise ConfigError(f"models.{model.name}: {exc}") from None
                check_fits(
                    onnx_model, model.name, splits.input_shape, splits.dataset.n_classes, model.task
                )
        return splits

    def _run_candidates(self, summary: SweepSummary, todo: list[Candidate], splits: Splits) -> None:
        with self.timed(summary, "data"):
            calibration = calibration_data(splits, self.config.seed)
            if splits.dataset.kind == "image" and self.config.policies:
                previews = policy_previews(self.config.policies, splits, self.config.seed)
                self.store.put_extra(summary.run_id, "policy_previews", previews)
            self.store.put_extra(summary.run_id, "report", self.config.report.spec())
            self.store.put_extra(summary.run_id, "data", data_facts(splits))
        with tempfile.TemporaryDirectory(prefix=f"harness-eval-{os.getpid()}-") as tmp:
            eval_inputs = write_eval_inputs(splits, self.config.seed, Path(tmp))
            by_job: dict[str, list[Candidate]] = defaultdict(list)
            for cand in todo:
                by_job[cand.job.key].append(cand)
            jobs = [job for job in self.plan.compressions if job.key in by_job]
            trained = self._make_models(summary, jobs, by_job, splits, calibration)
            for job in jobs:
                self._run_job(summary, job, trained[job.train.key], by_job[job.key], splits,
                              calibration)  # fmt: skip
            self._measure(summary, splits, eval_inputs)

    def _make_models(
        self, summary: SweepSummary, jobs: list[CompressJob], by_job: dict[str, list[Candidate]],
        splits: Splits, calibration: np.ndarray,
    ) -> dict[str, Built | Exception]:  # fmt: skip
        """{model key: trained model or why not}, and the files of `jobs` made, in one run
        on the executor: a model's compression jobs start once it is trained, beside the
        models still training (locally training.workers at a time). Timed as "train" until
        the last model is trained, then "compress"; cached and imported models come first."""
        models = {job.train.key: job.train for job in jobs}
        left = {t.key: t for t in untrained(models.values(), self.artifacts)}
        ready = {k: self._train(summary, t, splits) for k, t in models.items() if k not in left}
        fanout = Fanout(jobs, by_job, calibration, self.artifacts, splits, self.config)
        where = f"on the {self.executor.name} executor"
        self.progress.note(f"training {len(left)} models {where}; each compressed once trained"
                           if left else f"compressing and converting {where}")  # fmt: skip
        trained, stage, started = dict(ready), "train" if left else "compress", time.perf_counter()
        for task, outcome in self.executor.run(
            fanout.first(list(left.values()), ready), {TRAINING: self.config.training.workers},
            lambda task, why: self.progress.note(f"{why}; retrying its {task.kind} job"),
            fanout.then if left else None,  # none: a pool is not started for one job
        ):  # fmt: skip
            if task.kind != TRAINING:
                if isinstance(outcome, Built) and not outcome.reused:
                    self.made.add(str(outcome.path))
                continue
            trained[task.key], job = outcome, left.pop(task.key)
            what = f"{job.model.name} under policy {job.policy.name}"
            if isinstance(outcome, Exception):
                self.progress.note(f"training {what} failed: {one_line(outcome)}")
            else:
                summary.counts["trained"] += 1
                self.progress.note(f"trained {what}")
            if not left:
                summary.timings["train"] += time.perf_counter() - started
                stage, started = "compress", time.perf_counter()
                self.progress.note(f"compressing and converting {where}")
        summary.timings[stage] += time.perf_counter() - started
        return trained

    def _train(self, summary: SweepSummary, job: TrainJob, splits: Splits) -> Built | Exception:
        if job.model.imported:
            self.progress.note(f"importing {job.model.name} from {job.model.onnx}")
        else:
            self.progress.note(f"training {job.model.name} under policy {job.policy.name}")
        with self.timed(summary, "train"):
            try:
                built = train_stage(job, splits, self.config, self.artifacts)
            except Exception as exc:  # recorded on each of its candidates
                return exc
        if built.reused:
            summary.counts["reused_trained"] += 1
        else:
            summary.counts["imported" if job.model.imported else "trained"] += 1
        return built

    def _run_job(
        self,
        summary: SweepSummary,
        job: CompressJob,
        trained: Built | Exception,
        candidates: list[Candidate],
        splits: Splits,
        calibration: np.ndarray,
    ) -> None:
        """Train, compress and convert: the candidates' files, measured later in rounds."""
        if isinstance(trained, Exception):
            for cand in candidates:
                self._record_failure(summary, cand, _reason("train", trained), {})
            return
        with self.timed(summary, "compress"):
            try:
                compressed = compress_stage(
                    job, trained, calibration, self.artifacts, splits, self.config
                )
            except Exception as exc:
                for cand in candidates:
                    self._record_failure(
                        summary,
                        cand,
                        _reason("compress", exc),
                        candidate_details(cand, trained, None),
                    )
                return
        fresh = not compressed.reused or str(compressed.path) in self.made
        summary.counts["compressed" if fresh else "reused_compressed"] += 1
        for cand in candidates:
            details = candidate_details(cand, trained, compressed)
            metrics: dict[str, Any] = dict(compressed.meta["size"])
            try:
                model_file = compressed
                if _format(cand) == "tflite":
                    with self.timed(summary, "convert"):
                        model_file = convert_stage(
                            job,
                            compressed,
                            self.artifacts,
                            cand.runtime.settings.get("quantize", "none"),
                            calibration,
                        )
                elif _format(cand) == "pte":
                    with self.timed(summary, "convert"):
                        model_file = pte_stage(
                            job, cand.runtime, splits, calibration, self.config, self.artifacts
                        )
                    details["conversion"] = model_file.meta
                if model_file is not compressed:
                    from harness.measure.size import file_size

                    metrics["file_bytes"], metrics["compressed_bytes"] = file_size(
                        model_file.path.read_bytes()
                    )
            except UnsupportedError as exc:  # the runtime cannot take it: not a failure
                self._record(summary, cand, "unsupported", one_line(exc), metrics, details, None)
                continue
            except Exception as exc:
                self._record_failure(summary, cand, _reason("convert", exc), details, metrics)
                continue
            self.pending.append(Pending(cand, model_file.path, metrics, details))

    def _measure(self, summary: SweepSummary, splits: Splits, eval_inputs: list[Path]) -> None:
        """Every candidate whose model file is ready, in interleaved latency rounds, here
        and on its target's device (harness.sweep.lanes)."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        rounds = self.config.latency.rounds
        self.progress.note(f"measuring {len(pending)} candidates in {rounds} rounds")
        with self.timed(summary, "measure"):
            for p, left in measure_everywhere(pending, self.executor, self.config.latency,
                                              eval_inputs, splits, self.progress.advance,
                                              self.progress.note):  # fmt: skip
                ok = p.error is None
                self._record(summary, p.cand, "ok" if ok else "failed", p.error, p.metrics,
                             p.details, p.model_path if ok else None, p.rounds if ok else None,
                             p.version if ok else None, steps=left, where=p)  # fmt: skip

    def _record(
        self,
        summary: SweepSummary,
        cand: Candidate,
        status: str,
        error: str | None,
        metrics: dict[str, Any],
        details: dict[str, Any],
        artifact: Path | None,
        rounds: list[dict[str, Any]] | None = None,
        runtime_version: str | None = None,
        steps: int | None = None,
        where: Pending | None = None,
    ) -> None:
        """Commit one candidate; `steps` of progress (default: all its rounds) advance;
        `where` it was measured, if on a target's node."""
        job = cand.job
        record = CandidateRecord(
            key=cand.key,
            dataset=self.config.dataset.name,
            model=job.train.model.name,
            policy=job.train.policy.name,
            compression=job.compression.name,
            runtime=cand.runtime_label,
            status=status,
            error=error,
            metrics=metrics,
            details=details,
            artifact=str(artifact.resolve()) if artifact else None,
            artifact_sha256=hashlib.sha256(artifact.read_bytes()).hexdigest() if artifact else None,
            runtime_version=runtime_version,
            device=cand.target.name if cand.target else None,
            node=where.node if where else None,
            node_machine=where.machine if where else None,
        )
        self.store.add_candidate(summary.run_id, record, now(), rounds)
        if status == "ok":
            summary.ok += 1
        elif status == "unsupported":
            summary.counts["unsupported"] += 1
        else:
            summary.failed += 1
        for _ in range(self.config.latency.rounds if steps is None else steps):
            self.progress.advance(cand.label + ("" if status == "ok" else f" ({status})"))

    def _record_failure(
        self, summary: SweepSummary, cand: Candidate, reason: str, details: dict[str, Any],
        metrics: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        self._record(summary, cand, "failed", reason, metrics or {}, details, None)


def _format(cand: Candidate) -> str:
    from harness.measure.runtimes import RUNTIMES

    return RUNTIMES.get(cand.runtime.engine).model_format


def run_sweep(
    config: Config, store: Store, artifacts: Path, progress: Progress | None = None,
    executor: Executor | None = None,
) -> SweepSummary:  # fmt: skip
    """Run (or resume) the sweep of `config`, committing each candidate to `store`;
    training, compression and conversion run on `executor` (default: a local pool,
    closed at the end; a given executor is closed by its owner)."""
    return Sweep(config, store, artifacts, progress or QuietProgress(), executor).run()
