"""The parsers of a config's sections: each reads one TOML table into its spec and records
every problem as (key, message) instead of stopping at the first (see harness.config.load).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.config.grid import GridError, expand, find_sweeps
from harness.errors import ParamError
from harness.hashing import hash_path
from harness.registry import nearest
from harness.specs import (
    CompressionSpec,
    DatasetSpec,
    ModelSpec,
    RuntimeSpec,
    TrainingSpec,
)

_REQUIRED = object()
MAX_UNKNOWN_KEYS = 10
NUMBER = (int, float)  # TOML writes 1 and 1.0 differently; both are fine where a float is asked


class Section:
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
        allowed = sorted(self.used)
        unknown = [name for name in self.data if name not in self.used]
        # A flood (a data file given as the config) is named in part, not key by key.
        for name in unknown[:MAX_UNKNOWN_KEYS]:
            self.error(
                name, f"unknown key{nearest(name, allowed)}; allowed keys: {', '.join(allowed)}"
            )
        if len(unknown) > MAX_UNKNOWN_KEYS:
            where = self.path or "(top level)"
            self.errors.append((where, f"{len(unknown) - MAX_UNKNOWN_KEYS:,} more unknown keys"))


def _between(lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> Callable:
    def check(v: float) -> str | None:
        low_ok = v > lo if lo_open else v >= lo
        high_ok = v < hi if hi_open else v <= hi
        if low_ok and high_ok:
            return None
        return f"must be in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}, got {v}"

    return check


def in_range(lo: int, hi: int) -> Callable:
    return lambda v: None if lo <= v <= hi else f"must be an integer in [{lo}, {hi}], got {v}"


def at_least(lo: int) -> Callable:
    return lambda v: None if v >= lo else f"must be >= {lo}, got {v}"


def _one_of(choices: list[str]) -> Callable:
    def check(v: str) -> str | None:
        if v in choices:
            return None
        return f"'{v}' is not allowed{nearest(v, choices)}; choose from: {', '.join(choices)}"

    return check


def dataset(sec: Section, base_dir: Path) -> DatasetSpec:
    from harness.train.datasets import DATASETS, INT_PARAMS, REVISIONS

    name = sec.get("name", str, check=_one_of(DATASETS.names()))
    params: dict[str, Any] = {}
    for key, (default, lo, hi) in INT_PARAMS.get(name or "", {}).items():
        params[key] = sec.get(key, int, default=default, check=_between(lo, hi))
    sha256 = None
    if name in ("npz", "image_folder"):
        path = sec.get("path", str)
        if path is not None:
            resolved = (base_dir / path).resolve()
            if not resolved.exists():
                sec.error("path", f"{path}: no such file or folder (relative to the config file)")
            else:
                sha256 = hash_path(resolved)
            params["path"] = str(resolved)
    val = sec.get("val_fraction", NUMBER, default=0.15, check=_between(0, 0.5, lo_open=True))
    test = sec.get("test_fraction", NUMBER, default=0.25, check=_between(0, 0.5, lo_open=True))
    normalize = sec.get("normalize", bool, default=True)
    sec.finish()
    return DatasetSpec(
        name=name or "", params=params, val_fraction=val, test_fraction=test, normalize=normalize,
        sha256=sha256, revision=REVISIONS.get(name or ""),
    )  # fmt: skip


def data_kind(dataset: DatasetSpec) -> str:
    """Image or tabular, known before training so policies and models can be checked."""
    if dataset.name == "breast_cancer":
        return "tabular"
    if dataset.name == "npz" and Path(dataset.params.get("path", "")).is_file():
        from harness.errors import DataError
        from harness.train.npz import npz_headers

        try:
            x = npz_headers(Path(dataset.params["path"])).get("x")
        except DataError:
            return "image"  # the loader reports an unreadable file with its own message
        if x is not None and len(x.shape) == 2:
            return "tabular"
    return "image"


def _named_tables(value: Any, path: str, errors: list[tuple[str, str]]) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        errors.append((path, "must be a table with at least one entry"))
        return {}
    return value


def models(
    value: Any, errors: list[tuple[str, str]], data_kind: str, base_dir: Path
) -> list[ModelSpec]:
    from harness.models import ARCHITECTURES, INPUT_KINDS

    out = []
    for name, table in _named_tables(value, "models", errors).items():
        sec = Section(table, f"models.{name}", errors)
        if isinstance(table, dict) and "onnx" in table:
            out.append(_imported_model(sec, name, base_dir))
            continue
        arch = sec.get("arch", str, check=_one_of(ARCHITECTURES.names()))
        width = sec.get("width", int, default=16, check=at_least(1))
        depth = sec.get("depth", int, default=2, check=at_least(1))
        sec.finish()
        if arch in INPUT_KINDS and data_kind not in INPUT_KINDS[arch]:
            fits = sorted(a for a, kinds in INPUT_KINDS.items() if data_kind in kinds)
            sec.error("arch", f"'{arch}' does not take {data_kind} data; use one of: {fits}")
        out.append(ModelSpec(name=name, arch=arch or "", width=width, depth=depth))
    return out


def _imported_model(sec: Section, name: str, base_dir: Path) -> ModelSpec:
    """`onnx = "file.onnx"`: a model trained elsewhere, checked now (see harness.train.imported)."""
    from harness.config.tasks_section import check_task
    from harness.train.imported import read_model

    given = sec.get("onnx", str)
    # "infer": decided from the data and the outputs by harness.config.tasks_section
    task = sec.get("task", str, default="infer", check=check_task)
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
    return ModelSpec(
        name=name, arch="", width=0, depth=0, onnx=str(path), sha256=sha256, task=task or "infer"
    )


def training(sec: Section) -> TrainingSpec:
    spec = TrainingSpec(
        epochs=sec.get("epochs", int, default=40, check=at_least(1)),
        batch_size=sec.get("batch_size", int, default=64, check=at_least(1)),
        optimizer=sec.get("optimizer", str, default="adam", check=_one_of(["adam", "sgd"])),
        lr=sec.get("lr", NUMBER, default=0.003, check=_between(0, 10, lo_open=True)),
        weight_decay=sec.get("weight_decay", NUMBER, default=0.0, check=_between(0, 1)),
        patience=sec.get("patience", int, default=10, check=at_least(1)),
        threads=sec.get("threads", int, default=2, check=at_least(1)),
        workers=sec.get("workers", int, default=1, check=at_least(1)),
    )
    sec.finish()
    return spec


def policies(value: Any, errors: list[tuple[str, str]], data_kind: str) -> list[Any]:
    from harness.train.augment import parse_policy

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


def compressions(value: Any, errors: list[tuple[str, str]]) -> list[CompressionSpec]:
    from harness.compress import PASSES
    from harness.train.steps import chain_problem

    out: list[CompressionSpec] = []
    for name, entry in _named_tables(value, "compression", errors).items():
        path = f"compression.{name}"
        finetune_epochs, finetune_lr = 0, None
        steps = entry
        if isinstance(entry, dict):
            # The table form adds chain-level settings: { steps = [...], finetune_epochs = 3 }
            sec = Section(entry, path, errors)
            steps = sec.get("steps", list, default=[])
            finetune_epochs = sec.get("finetune_epochs", int, default=0, check=at_least(0))
            finetune_lr = sec.get(
                "finetune_lr", NUMBER, default=None, check=_between(0, 10, lo_open=True)
            )
            if finetune_lr is not None and not finetune_epochs:
                sec.error("finetune_lr", "sets the fine-tuning rate; give finetune_epochs too")
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
            if len(passes) == len(chain):
                problem = chain_problem(passes, finetune_epochs or 0)
                if problem:
                    _once(errors, f"{prefix}[{problem[0]}].pass", problem[1])
            if any(c.name == setting for c in out):
                _once(errors, path, f"makes the setting '{setting}', which is already named")
            out.append(
                CompressionSpec(
                    setting,
                    tuple(passes),
                    finetune_epochs or 0,
                    None if finetune_lr is None else float(finetune_lr),
                )
            )
    return out


def _once(errors: list[tuple[str, str]], key: str, message: str) -> None:
    """Record a problem once, though every expansion of a swept setting meets it."""
    if (key, message) not in errors:
        errors.append((key, message))


def runtimes(
    value: Any, errors: list[tuple[str, str]], skipped: list[str] | None = None
) -> list[RuntimeSpec]:
    """The target runtimes. A target whose runtime is not installed is an error, unless it
    says `if_installed = true`: then it is left out and a note added to `skipped`."""
    from harness.measure.runtimes import RUNTIMES

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
        params = {k: v for k, v in table.items() if k not in ("runtime", "if_installed")}
        if_installed = table.get("if_installed", False)
        if not isinstance(if_installed, bool):
            errors.append((f"runtimes.{name}.if_installed", "must be true or false"))
            continue
        runtime = RUNTIMES.get(engine)
        try:
            settings = runtime.parse_settings(params)
        except ParamError as exc:
            errors.append((f"runtimes.{name}.{exc.key}", exc.message))
            continue
        missing = runtime.unavailable()
        if missing and if_installed:
            if skipped is not None:
                skipped.append(f"runtimes.{name}: left out, {missing}")
            continue
        if missing:
            errors.append(
                (f"runtimes.{name}", f"{missing}; or set if_installed = true to leave it out")
            )
            continue
        out.append(RuntimeSpec(name=name, settings=settings, engine=engine))
    return out
