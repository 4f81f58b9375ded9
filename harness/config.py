"""The sweep config: a TOML file parsed once, at the edge, into frozen dataclasses.

Every problem in the file is collected and reported together, one line each, as
`<file>:<key>: <what is wrong and what is allowed>`; inner code never sees a raw dict.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, ParamError
from harness.grid import GridError, expand, find_sweeps
from harness.registry import nearest

DEFAULT_CONFIG_NAME = "default.toml"
_REQUIRED = object()
NUMBER = (int, float)  # TOML writes 1 and 1.0 differently; both are fine where a float is asked


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    params: dict[str, Any]
    val_fraction: float
    test_fraction: float
    normalize: bool = True  # false: models see the samples as stored (imported models)

    def spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": self.params,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "normalize": self.normalize,
        }


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

    @property
    def imported(self) -> bool:
        return self.onnx is not None

    def spec(self) -> dict[str, Any]:
        if self.imported:
            return {"name": self.name, "onnx": self.onnx, "sha256": self.sha256}
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

    def spec(self) -> list[dict[str, Any]] | dict[str, Any]:
        steps = [p.spec() for p in self.passes]
        return (
            {"steps": steps, "finetune_epochs": self.finetune_epochs}
            if self.finetune_epochs
            else steps
        )


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

    @property
    def batches(self) -> tuple[int, ...]:
        return (self.batch, *self.extra_batches)

    def spec(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["extra_batches"] = list(self.extra_batches)
        return out


@dataclass(frozen=True)
class Config:
    source: str
    name: str
    seed: int
    dataset: DatasetSpec
    models: tuple[ModelSpec, ...]
    training: TrainingSpec
    policies: tuple[Any, ...]  # harness.augment.Policy instances
    compressions: tuple[CompressionSpec, ...]
    runtimes: tuple[RuntimeSpec, ...]
    latency: LatencySpec
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    data_kind: str = "image"  # "image" or "tabular", known before the data is loaded

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
        }


class _Section:
    """Reads one TOML table, recording each problem instead of stopping at the first."""

    def __init__(self, data: Any, path: str, errors: list[tuple[str, str]]) -> None:
        self.path = path
        self.errors = errors
        if not isinstance(data, dict):
            self.error("", f"must be a table, got {type(data).__name__}")
            data = {}
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, message: str) -> None:
        self.errors.append((self.key(name) if name else self.path, message))

    def get(
        self,
        name: str,
        kind: type | tuple[type, ...],
        default: Any = _REQUIRED,
        check: Callable[[Any], str | None] | None = None,
    ) -> Any:
        self.used.add(name)
        if name not in self.data:
            if default is _REQUIRED:
                self.error(name, "is required")
            return None if default is _REQUIRED else default
        value = self.data[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # bool is an int in Python, but `epochs = true` is a mistake worth naming.
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            want = " or ".join(k.__name__ for k in kinds)
            self.error(name, f"must be {want}, got {value!r}")
            return None if default is _REQUIRED else default
        if check is not None:
            problem = check(value)
            if problem:
                self.error(name, problem)
                return None if default is _REQUIRED else default
        return value

    def finish(self) -> None:
        for name in self.data:
            if name not in self.used:
                allowed = sorted(self.used)
                self.error(
                    name,
                    f"unknown key{nearest(name, allowed)}; allowed keys: {', '.join(allowed)}",
                )


def _between(lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> Callable:
    def check(v: float) -> str | None:
        low_ok = v > lo if lo_open else v >= lo
        high_ok = v < hi if hi_open else v <= hi
        if low_ok and high_ok:
            return None
        return f"must be in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}, got {v}"

    return check


def _at_least(lo: int) -> Callable:
    return lambda v: None if v >= lo else f"must be >= {lo}, got {v}"


def _one_of(choices: list[str]) -> Callable:
    def check(v: str) -> str | None:
        if v in choices:
            return None
        return f"'{v}' is not allowed{nearest(v, choices)}; choose from: {', '.join(choices)}"

    return check


def default_config_text() -> str:
    """The built-in default sweep, also what `harness init` writes."""
    return resources.files("harness").joinpath(DEFAULT_CONFIG_NAME).read_text()


def load_config(path: Path | None) -> Config:
    """Parse a config file (None: the built-in default); raise ConfigError listing every problem."""
    if path is None:
        source, text = "<default config>", default_config_text()
    else:
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file; 'harness init' writes an example")
        text = path.read_text()
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    base = path.parent if path is not None else Path.cwd()
    return parse_config(raw, source, base)


def parse_config(raw: dict[str, Any], source: str, base_dir: Path) -> Config:
    errors: list[tuple[str, str]] = []
    top = _Section(raw, "", errors)
    name = top.get("name", str, default="sweep")
    seed = top.get("seed", int, default=0, check=_at_least(0))
    dataset = _dataset(_Section(top.get("dataset", dict, default={}), "dataset", errors), base_dir)
    data_kind = _data_kind(dataset)
    models = _models(top.get("models", dict) or {}, errors, data_kind, base_dir)
    imported = [m for m in models if m.imported]
    if imported and dataset.normalize:
        errors.append(
            (
                "dataset.normalize",
                f"models.{imported[0].name} is a model trained elsewhere, fed the samples as "
                "stored; set normalize = false (built-in models then train on them as stored too)",
            )
        )
    training = _training(_Section(top.get("training", dict, default={}), "training", errors))
    # Imported models are not trained, so a config of only those needs no policies.
    only_imported = bool(models) and len(imported) == len(models)
    raw_policies = top.get("policies", dict, default=None)
    policies = (
        []
        if only_imported and raw_policies is None
        else _policies(raw_policies or {}, errors, data_kind)
    )
    compressions = _compressions(top.get("compression", dict) or {}, errors)
    runtimes = _runtimes(top.get("runtimes", dict) or {}, errors)
    latency = _latency(_Section(top.get("latency", dict, default={}), "latency", errors))
    top.finish()
    if errors:
        raise ConfigError("\n".join(f"{source}:{key}: {msg}" for key, msg in errors))
    return Config(
        source=source,
        name=name,
        seed=seed,
        dataset=dataset,
        models=tuple(models),
        training=training,
        policies=tuple(policies),
        compressions=tuple(compressions),
        runtimes=tuple(runtimes),
        latency=latency,
        raw=raw,
        data_kind=data_kind,
    )


def _dataset(sec: _Section, base_dir: Path) -> DatasetSpec:
    from harness.datasets import DATASETS

    name = sec.get("name", str, check=_one_of(DATASETS.names()))
    params: dict[str, Any] = {}
    if name in ("npz", "image_folder"):
        path = sec.get("path", str)
        if path is not None:
            resolved = (base_dir / path).resolve()
            if not resolved.exists():
                sec.error("path", f"{path}: no such file or folder (relative to the config file)")
            params["path"] = str(resolved)
    val = sec.get("val_fraction", NUMBER, default=0.15, check=_between(0, 0.5, lo_open=True))
    test = sec.get("test_fraction", NUMBER, default=0.25, check=_between(0, 0.5, lo_open=True))
    normalize = sec.get("normalize", bool, default=True)
    sec.finish()
    return DatasetSpec(
        name=name or "", params=params, val_fraction=val, test_fraction=test, normalize=normalize
    )


def _data_kind(dataset: DatasetSpec) -> str:
    """Image or tabular, known before training so policies and models can be checked."""
    if dataset.name == "breast_cancer":
        return "tabular"
    if dataset.name == "npz" and Path(dataset.params.get("path", "")).is_file():
        import numpy as np

        try:
            with np.load(dataset.params["path"], allow_pickle=False) as data:
                if "x" in data.files and data["x"].ndim == 2:
                    return "tabular"
        except (OSError, ValueError):
            pass  # the loader reports an unreadable file with its own message
    return "image"


def _named_tables(value: Any, path: str, errors: list[tuple[str, str]]) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        errors.append((path, "must be a table with at least one entry"))
        return {}
    return value


def _models(
    value: Any, errors: list[tuple[str, str]], data_kind: str, base_dir: Path
) -> list[ModelSpec]:
    from harness.models import ARCHITECTURES, INPUT_KINDS

    out = []
    for name, table in _named_tables(value, "models", errors).items():
        sec = _Section(table, f"models.{name}", errors)
        if isinstance(table, dict) and "onnx" in table:
            out.append(_imported_model(sec, name, base_dir))
            continue
        arch = sec.get("arch", str, check=_one_of(ARCHITECTURES.names()))
        width = sec.get("width", int, default=16, check=_at_least(1))
        depth = sec.get("depth", int, default=2, check=_at_least(1))
        sec.finish()
        if arch in INPUT_KINDS and data_kind not in INPUT_KINDS[arch]:
            fits = sorted(a for a, kinds in INPUT_KINDS.items() if data_kind in kinds)
            sec.error("arch", f"'{arch}' does not take {data_kind} data; use one of: {fits}")
        out.append(ModelSpec(name=name, arch=arch or "", width=width, depth=depth))
    return out


def _imported_model(sec: _Section, name: str, base_dir: Path) -> ModelSpec:
    """`onnx = "file.onnx"`: a model trained elsewhere, checked now (see harness.imported)."""
    from harness.imported import read_model

    given = sec.get("onnx", str)
    for key in ("arch", "width", "depth"):
        if key in sec.data:
            sec.error(key, "give either arch (a built-in model to train) or onnx (your own "
                      "trained model file), not both")  # fmt: skip
            sec.used.add(key)
    sec.finish()
    if not given:  # a wrong type is already reported
        if given == "":
            sec.error("onnx", "must name your model's .onnx file")
        return ModelSpec(name=name, arch="", width=0, depth=0, onnx="")
    path = (base_dir / given).resolve()
    if not path.is_file():
        sec.error("onnx", f"{given}: no such file (relative to the config file)")
        return ModelSpec(name=name, arch="", width=0, depth=0, onnx=str(path))
    try:
        _, sha256 = read_model(path)
    except ValueError as exc:
        sec.error("onnx", str(exc))
        sha256 = None
    return ModelSpec(name=name, arch="", width=0, depth=0, onnx=str(path), sha256=sha256)


def _training(sec: _Section) -> TrainingSpec:
    spec = TrainingSpec(
        epochs=sec.get("epochs", int, default=40, check=_at_least(1)),
        batch_size=sec.get("batch_size", int, default=64, check=_at_least(1)),
        optimizer=sec.get("optimizer", str, default="adam", check=_one_of(["adam", "sgd"])),
        lr=sec.get("lr", NUMBER, default=0.003, check=_between(0, 10, lo_open=True)),
        weight_decay=sec.get("weight_decay", NUMBER, default=0.0, check=_between(0, 1)),
        patience=sec.get("patience", int, default=10, check=_at_least(1)),
        threads=sec.get("threads", int, default=2, check=_at_least(1)),
        workers=sec.get("workers", int, default=1, check=_at_least(1)),
    )
    sec.finish()
    return spec


def _policies(value: Any, errors: list[tuple[str, str]], data_kind: str) -> list[Any]:
    from harness.augment import parse_policy

    out: list[Any] = []
    for name, spec in _named_tables(value, "policies", errors).items():
        variants: list[tuple[str, Any]] = [(name, spec)]
        if isinstance(spec, dict) and "preset" in spec:  # a preset's scalars may be swept
            try:
                variants = [
                    (n, t[0]) for n, t in expand(name, [spec], find_sweeps([spec], ["ops"]))
                ]
            except GridError as exc:
                errors.append((f"policies.{name}.{exc.key}", exc.message))
                continue
        for policy_name, policy_spec in variants:
            try:
                policy = parse_policy(policy_name, policy_spec, data_kind)
            except ParamError as exc:
                key = f"policies.{name}" + (f".{exc.key}" if exc.key else "")
                _once(errors, key, exc.message)
                continue
            if any(p.name == policy_name for p in out):
                _once(
                    errors,
                    f"policies.{name}",
                    f"makes the policy '{policy_name}', which is already named",
                )
            out.append(policy)
    return out


def _compressions(value: Any, errors: list[tuple[str, str]]) -> list[CompressionSpec]:
    from harness.compress import PASSES

    out: list[CompressionSpec] = []
    for name, entry in _named_tables(value, "compression", errors).items():
        path = f"compression.{name}"
        finetune_epochs = 0
        steps = entry
        if isinstance(entry, dict):
            # The table form adds chain-level settings: { steps = [...], finetune_epochs = 3 }
            sec = _Section(entry, path, errors)
            steps = sec.get("steps", list, default=[])
            finetune_epochs = sec.get("finetune_epochs", int, default=0, check=_at_least(0))
            sec.finish()
        if not isinstance(steps, list):
            errors.append((path, 'must be a list of steps like [{ pass = "quantize", bits = 8 }]'))
            continue
        prefix = f"{path}{'.steps' if isinstance(entry, dict) else ''}"
        bad = [
            i for i, step in enumerate(steps)
            if not isinstance(step, dict) or not isinstance(step.get("pass"), str)
        ]  # fmt: skip
        if bad:
            errors.append(
                (
                    f"{prefix}[{bad[0]}]",
                    "must be a table with a 'pass' name, e.g. { pass = \"prune\" }",
                )
            )
            continue
        try:
            settings = expand(name, steps, find_sweeps(steps))
        except GridError as exc:
            errors.append((f"{prefix}[{exc.index}].{exc.key}", exc.message))
            continue
        for setting, chain in settings:
            passes = []
            for i, step in enumerate(chain):
                where = f"{prefix}[{i}]"
                params = {k: v for k, v in step.items() if k != "pass"}
                if step["pass"] not in PASSES:
                    _once(errors, f"{where}.pass", PASSES.unknown_message(step["pass"]))
                    continue
                try:
                    passes.append(PASSES.get(step["pass"]).from_params(params))
                except ParamError as exc:
                    _once(errors, f"{where}.{exc.key}", exc.message)
            if any(c.name == setting for c in out):
                _once(errors, path, f"makes the setting '{setting}', which is already named")
            out.append(CompressionSpec(setting, tuple(passes), finetune_epochs or 0))
    return out


def _once(errors: list[tuple[str, str]], key: str, message: str) -> None:
    """Record a problem once, though every expansion of a swept setting meets it."""
    if (key, message) not in errors:
        errors.append((key, message))


def _runtimes(value: Any, errors: list[tuple[str, str]]) -> list[RuntimeSpec]:
    from harness.runtimes import RUNTIMES

    out = []
    for name, table in _named_tables(value, "runtimes", errors).items():
        if not isinstance(table, dict):
            errors.append((f"runtimes.{name}", "must be a table of settings, e.g. { threads = 1 }"))
            continue
        engine = table.get("runtime", name)
        if engine not in RUNTIMES:
            key = f"runtimes.{name}" + (".runtime" if "runtime" in table else "")
            errors.append((key, RUNTIMES.unknown_message(str(engine))))
            continue
        params = {k: v for k, v in table.items() if k != "runtime"}
        try:
            settings = RUNTIMES.get(engine).parse_settings(params)
        except ParamError as exc:
            errors.append((f"runtimes.{name}.{exc.key}", exc.message))
            continue
        out.append(RuntimeSpec(name=name, settings=settings, engine=engine))
    return out


def _batches(value: int | list) -> str | None:
    values = value if isinstance(value, list) else [value]
    if not values or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values
    ):
        return f"must be a batch size >= 1 or a list of them, e.g. [1, 32]; got {value!r}"
    if len(set(values)) != len(values):
        return f"lists a batch size twice: {value!r}"
    return None


def _latency(sec: _Section) -> LatencySpec:
    batches = sec.get("batch", (int, list), default=1, check=_batches)
    batches = batches if isinstance(batches, list) else [batches]
    spec = LatencySpec(
        batch=batches[0],
        extra_batches=tuple(batches[1:]),
        warmup=sec.get("warmup", int, default=20, check=_at_least(0)),
        min_runs=sec.get("min_runs", int, default=100, check=_at_least(1)),
        min_seconds=sec.get("min_seconds", NUMBER, default=0.5, check=_between(0, 3600)),
        max_runs=sec.get("max_runs", int, default=100_000, check=_at_least(1)),
        timeout_seconds=sec.get("timeout_seconds", NUMBER, default=300, check=_at_least(1)),
    )
    sec.finish()
    return spec
