"""The grid of candidates: dataset x model x policy x compression x runtime, and with
[targets] declared, each runtime on each target (device) that runs it (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.config.load import CompressionSpec, Config, ModelSpec, RuntimeSpec
from harness.hashing import hash_spec
from harness.models import REVISIONS
from harness.specs import TargetSpec
from harness.train.augment import Policy, parse_policy

BASELINE = "fp32"
PRETRAINED = "pretrained"  # the policy column of an imported model: trained elsewhere


@dataclass(frozen=True)
class TrainJob:
    """One model trained under one policy; `key` addresses its cached ONNX file."""

    model: ModelSpec
    policy: Any  # harness.train.augment.Policy
    key: str


@dataclass(frozen=True)
class CompressJob:
    train: TrainJob
    compression: CompressionSpec
    key: str


@dataclass(frozen=True)
class Candidate:
    """What one leaderboard row measures; `key` is stable across runs (the history series)."""

    job: CompressJob
    runtime: RuntimeSpec
    key: str
    target: TargetSpec | None = None  # None: no [targets], measured on this machine

    @property
    def runtime_label(self) -> str:
        """The leaderboard's runtime: on a target, "runtime @ target" (latency on two
        devices is two series, never one)."""
        return (
            self.runtime.name
            if self.target is None
            else f"{self.runtime.name} @ {self.target.name}"
        )

    @property
    def label(self) -> str:
        job = self.job
        return f"{job.train.model.name} / {job.train.policy.name} / {job.compression.name} / {self.runtime_label}"


@dataclass(frozen=True)
class Plan:
    trains: tuple[TrainJob, ...]
    compressions: tuple[CompressJob, ...]
    candidates: tuple[Candidate, ...]


def _policies_for(model: ModelSpec, config: Config) -> tuple[Policy, ...]:
    """The config's policies, or for a model trained elsewhere the one it came with."""
    if model.imported:
        return (parse_policy(PRETRAINED, "none", config.data_kind),)
    return config.policies


def _placements(
    runtimes: list[RuntimeSpec], targets: tuple[TargetSpec, ...]
) -> list[tuple[TargetSpec | None, RuntimeSpec]]:
    """(target, runtime) of every measurement of one model: each runtime here without
    targets; with them, each target's runtimes, in the runtimes' order."""
    if not targets:
        return [(None, r) for r in runtimes]
    return [(t, r) for t in targets for r in runtimes if r.name in t.runtimes]


def make_plan(config: Config) -> Plan:
    """Every candidate of the sweep, ordered so each runtime's reference (ONNX Runtime) comes first."""
    base = {
        "dataset": config.dataset.spec(),
        "training": config.training.spec(),
        "seed": config.seed,
    }
    trains, compressions, candidates = [], [], []
    runtimes = sorted(config.runtimes, key=lambda r: r.engine != "onnxruntime")
    placed = _placements(runtimes, config.targets)
    for model in config.models:
        for policy in _policies_for(model, config):
            # An imported file is its own identity (sha256); a built-in one is its code's.
            revision = {} if model.imported else {"revision": REVISIONS[model.arch]}
            train_spec = {
                **base,
                "model": {**model.spec(), **revision},
                "policy": policy.spec(),
            }
            train = TrainJob(model, policy, hash_spec(train_spec))
            trains.append(train)
            for compression in config.compressions:
                job = CompressJob(
                    train,
                    compression,
                    hash_spec({"trained": train.key, "passes": compression.spec()}),
                )
                compressions.append(job)
                for target, runtime in placed:
                    where = {} if target is None else {"target": target.spec()}
                    key = hash_spec(
                        {
                            **train_spec,
                            "compression": compression.spec(),
                            "runtime": runtime.spec(),
                            "batch": config.latency.batch,
                            **where,
                        }
                    )
                    candidates.append(Candidate(job, runtime, key, target))
    return Plan(tuple(trains), tuple(compressions), tuple(candidates))
