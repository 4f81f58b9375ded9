"""The sweep config: a TOML file parsed once, at the edge, into frozen dataclasses
(harness.specs), section by section (harness.config.sections).

Every problem in the file is collected and reported together, one line each, as
`<file>:<key>: <what is wrong and what is allowed>`; inner code never sees a raw dict.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from harness.config import latency_section, report_section, sections, targets_section, tasks_section
from harness.config.examples import DEFAULT_EXAMPLE, example_source, example_text
from harness.errors import ConfigError
from harness.specs import (
    CompressionSpec,
    Config,
    DatasetSpec,
    LatencySpec,
    ModelSpec,
    RuntimeSpec,
    TrainingSpec,
)

__all__ = [
    "CompressionSpec", "Config", "DatasetSpec", "LatencySpec", "ModelSpec", "RuntimeSpec",
    "TrainingSpec", "default_config_text", "load_config", "parse_config",
]  # fmt: skip


def default_config_text() -> str:
    """The built-in default sweep, also what `harness init` writes."""
    return example_text(DEFAULT_EXAMPLE)


def load_config(path: Path | None, example: str | None = None) -> Config:
    """Parse a config file (None: the built-in `example`, by default the default sweep);
    raise ConfigError listing every problem."""
    if path is not None and example is not None:
        raise ConfigError(f"give a config file or --example {example}, not both")
    if path is None:
        name = example or DEFAULT_EXAMPLE
        source, text = example_source(name), example_text(name)
    else:
        source = str(path)
        text = read_config_text(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    base = path.parent if path is not None else Path.cwd()
    return parse_config(raw, source, base)


# A sweep config is a page or two of TOML; anything this big is the wrong file.
MAX_CONFIG_BYTES = 4 * 1024 * 1024
SEED_MAX = 2**32 - 2  # scikit-learn takes seeds below 2**32, and the split uses seed + 1
# Names become parts of file names (site pages, previews): keep them well under 255 bytes.
MAX_NAME_CHARS = 80


def read_config_text(path: Path) -> str:
    """The text of a config file, or a ConfigError for a missing, special, huge, unreadable
    or non-UTF-8 file (a FIFO or /dev/zero would otherwise block or never end)."""
    if not path.exists():
        raise ConfigError(f"{path}: no such config file; 'harness init' writes an example")
    if not path.is_file():
        raise ConfigError(f"{path}: not a regular file; give a TOML config file")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc.strerror or exc})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: larger than {MAX_CONFIG_BYTES // 1024 // 1024} MB; a sweep config is a "
            "short TOML file"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start}); save the config as UTF-8"
        ) from None


def _check_names(named: list[tuple[str, str]], errors: list[tuple[str, str]]) -> None:
    """Every name that ends up in a file name or a page title must be printable and short."""
    for key, name in named:
        shown = key if len(key) <= MAX_NAME_CHARS + 20 else f"{key[:MAX_NAME_CHARS]}..."
        if len(name) > MAX_NAME_CHARS:
            errors.append(
                (shown, f"name is {len(name)} characters long; use at most {MAX_NAME_CHARS}")
            )
        elif not name.strip() or not name.isprintable():
            errors.append((shown, f"name {name!r} must be printable and not blank"))


def parse_config(raw: dict[str, Any], source: str, base_dir: Path) -> Config:
    errors: list[tuple[str, str]] = []
    top = sections.Section(raw, "", errors)
    name = top.get("name", str, default="sweep")
    seed = top.get("seed", int, default=0, check=sections.in_range(0, SEED_MAX))
    dataset = sections.dataset(
        sections.Section(top.get("dataset", dict, default={}), "dataset", errors), base_dir
    )
    data_kind = sections.data_kind(dataset)
    models = sections.models(top.get("models", dict) or {}, errors, data_kind, base_dir)
    imported = [m for m in models if m.imported]
    if imported and dataset.normalize:
        errors.append(
            (
                "dataset.normalize",
                f"models.{imported[0].name} is a model trained elsewhere, fed the samples as "
                "stored; set normalize = false (built-in models then train on them as stored too)",
            )
        )
    training = sections.training(
        sections.Section(top.get("training", dict, default={}), "training", errors)
    )
    # Imported models are not trained, so a config of only those needs no policies.
    only_imported = bool(models) and len(imported) == len(models)
    raw_policies = top.get("policies", dict, default=None)
    policies = (
        []
        if only_imported and raw_policies is None
        else sections.policies(raw_policies or {}, errors, data_kind)
    )
    compressions = sections.compressions(top.get("compression", dict) or {}, errors)
    models = tasks_section.resolve(models, dataset, compressions, errors)
    skipped: list[str] = []
    raw_runtimes = top.get("runtimes", dict) or {}
    runtimes = sections.runtimes(raw_runtimes, errors, skipped)
    left_out = [str(n) for n in raw_runtimes if n not in {r.name for r in runtimes}]
    targets = targets_section.targets(
        top.get("targets", dict, default=None), errors, runtimes, left_out, skipped
    )
    latency = latency_section.latency(
        sections.Section(top.get("latency", dict, default={}), "latency", errors)
    )
    report = report_section.report(
        sections.Section(top.get("report", dict, default={}), "report", errors)
    )
    top.finish()
    _check_names(
        [("name", name or "sweep")]
        + [(f"models.{m.name}", m.name) for m in models]
        + [(f"policies.{p.name}", p.name) for p in policies]
        + [(f"compression.{c.name}", c.name) for c in compressions]
        + [(f"runtimes.{r.name}", r.name) for r in runtimes]
        + [(f"targets.{t.name}", t.name) for t in targets],
        errors,
    )
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
        report=report,
        notes=tuple(skipped),
        targets=tuple(targets),
    )
