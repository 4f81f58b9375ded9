"""What a sweep config decides, as frozen dataclasses: parsed once by harness.config.load, read
everywhere else. Each `spec()` is the JSON-able part that decides results (hashed into
cache and history keys), so settings that do not change results stay out of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CompressionSpec", "Config", "DatasetSpec", "LatencySpec", "ModelSpec", "RuntimeSpec",
    "TargetSpec", "TrainingSpec",
]  # fmt: skip


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    params: dict[str, Any]
    val_fraction: float
    test_fraction: float
    normalize: bool = True  # false: models see the samples as stored (imported models)
    sha256: str | None = None  # of a dataset on disk (npz, image folder): its content's identity
    revision: int | None = None  # of a generated dataset's code (shapes)

    def spec(self) -> dict[str, Any]:
        """The path alone would let an edited file hit the cache of the old one; a built-in
        dataset has no file, and its keys stay as they were."""
        out = {
            "name": self.name,
            "params": self.params,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "normalize": self.normalize,
        }
        if self.sha256 is not None:
            out["sha256"] = self.sha256
        if self.revision is not None:
            out["revision"] = self.revision
        return out


@dataclass(frozen=True)
class ModelSpec:
    """A built-in architecture to train (arch, width, depth), or an ONNX file trained
    elsewhere (onnx, its sha256), which the sweep compresses and measures as it is."""

    name: str
    arch: str
    width: int
    depth: int
    onnx: str | None = None  # absolute path of an imported model
    sha256: str | None = None  # of that file: its identity in cache and history keys
    # An imported model's task: classify (accuracy), regress (MAE, RMSE) or none (measured,
    # not scored); harness.config.tasks_section decides it when the config does not say.
    task: str = "classify"

    @property
    def imported(self) -> bool:
        return self.onnx is not None

    def spec(self) -> dict[str, Any]:
        if self.imported:
            spec = {"name": self.name, "onnx": self.onnx, "sha256": self.sha256}
            return spec if self.task == "classify" else {**spec, "task": self.task}
        return {"name": self.name, "arch": self.arch, "width": self.width, "depth": self.depth}


@dataclass(frozen=True)
class TrainingSpec:
    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    weight_decay: float
    patience: int
    threads: int
    workers: int = 1  # models trained at a time, each in its own process

    def spec(self) -> dict[str, Any]:
        """What decides the trained weights: not `workers`, which only decides how many
        models train at once (the cache keys must not change with it)."""
        return {k: v for k, v in self.__dict__.items() if k != "workers"}


@dataclass(frozen=True)
class CompressionSpec:
    """A named chain of passes; the empty chain is the uncompressed baseline."""

    name: str
    passes: tuple[Any, ...]  # harness.compress.base.Pass instances
    finetune_epochs: int = 0  # > 0: mirror prune/svd in PyTorch and fine-tune (built-in models)
    finetune_lr: float | None = None  # None: the training learning rate

    def spec(self) -> list[dict[str, Any]] | dict[str, Any]:
        steps = [p.spec() for p in self.passes]
        if not self.finetune_epochs:
            return steps
        lr = {} if self.finetune_lr is None else {"finetune_lr": self.finetune_lr}
        return {"steps": steps, "finetune_epochs": self.finetune_epochs, **lr}


@dataclass(frozen=True)
class RuntimeSpec:
    """A target: `name` labels it on the leaderboard, `engine` is the registered runtime.

    Two targets may share an engine with different settings, e.g. LiteRT float and
    LiteRT full-integer: `[runtimes."litert int8"]` with `runtime = "litert"`.
    """

    name: str
    settings: dict[str, Any]
    engine: str = ""

    def __post_init__(self) -> None:
        if not self.engine:
            object.__setattr__(self, "engine", self.name)

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "runtime": self.engine, "settings": self.settings}


@dataclass(frozen=True)
class TargetSpec:
    """A device that measures: `[targets.NAME]`. Its `resources` (e.g. {"device:rpi5": 1})
    are what a measurement asks a Ray cluster for, so it runs only on a node offering
    them; `runtimes` are the [runtimes] tables it runs. No resources: this machine."""

    name: str
    resources: dict[str, float]
    runtimes: tuple[str, ...]

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "resources": self.resources}


@dataclass(frozen=True)
class LatencySpec:
    """`batch` is the batch size of the leaderboard's latency; `extra_batches` are also
    timed (e.g. 32, for throughput) and shown on each candidate's page."""

    batch: int
    warmup: int
    min_runs: int
    min_seconds: float
    max_runs: int
    timeout_seconds: float
    extra_batches: tuple[int, ...] = ()
    # Fresh worker processes per candidate, interleaved across candidates; min_runs and
    # min_seconds are the totals over all rounds, so rounds cost start-ups, not time.
    rounds: int = 3

    @property
    def batches(self) -> tuple[int, ...]:
        return (self.batch, *self.extra_batches)

    def spec(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["extra_batches"] = list(self.extra_batches)
        return out


@dataclass(frozen=True)
class BudgetSpec:
    """A "best under a budget" box of the leaderboard: the best candidate whose `metric`
    (file_bytes or latency_p50_ms) is at most `limit` (bytes or milliseconds)."""

    label: str
    metric: str
    limit: float


DEFAULT_BUDGETS = (
    BudgetSpec("file ≤ 16 KB", "file_bytes", 16 * 1024),
    BudgetSpec("file ≤ 64 KB", "file_bytes", 64 * 1024),
    BudgetSpec("p50 ≤ 0.1 ms", "latency_p50_ms", 0.1),
    BudgetSpec("p50 ≤ 1 ms", "latency_p50_ms", 1.0),
)


@dataclass(frozen=True)
class ReportSpec:
    """How the site presents a run; it decides no result, so it is not in the config hash."""

    budgets: tuple[BudgetSpec, ...] = DEFAULT_BUDGETS

    def spec(self) -> dict[str, Any]:
        return {"budgets": [b.__dict__ for b in self.budgets]}


@dataclass(frozen=True)
class Config:
    source: str
    name: str
    seed: int
    dataset: DatasetSpec
    models: tuple[ModelSpec, ...]
    training: TrainingSpec
    policies: tuple[Any, ...]  # harness.train.augment.Policy instances
    compressions: tuple[CompressionSpec, ...]
    runtimes: tuple[RuntimeSpec, ...]
    latency: LatencySpec
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    data_kind: str = "image"  # "image" or "tabular", known before the data is loaded
    report: ReportSpec = field(default_factory=ReportSpec)
    notes: tuple[str, ...] = ()  # what parsing left out, e.g. a target not installed here
    targets: tuple[TargetSpec, ...] = ()  # none: every runtime measured on this machine

    def spec(self) -> dict[str, Any]:
        """Everything that decides the results, JSON-able (stored with the run, hashed)."""
        return {
            "name": self.name,
            "seed": self.seed,
            "dataset": self.dataset.spec(),
            "models": [m.spec() for m in self.models],
            "training": self.training.spec(),
            "policies": {p.name: p.spec() for p in self.policies},
            "compression": {c.name: c.spec() for c in self.compressions},
            "runtimes": [r.spec() for r in self.runtimes],
            "latency": self.latency.spec(),
            # only when declared: the configs without targets keep their hash (and resume)
            **(
                {"targets": [{**t.spec(), "runtimes": list(t.runtimes)} for t in self.targets]}
                if self.targets
                else {}
            ),
        }
