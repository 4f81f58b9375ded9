"""The sweep config: a TOML file parsed once, at the edge, into frozen dataclasses
(harness.specs), section by section (harness.config.sections).

Every problem in the file is collected and reported together, one line each, as
`<file>:<key>: <what is wrong and what is allowed>`; inner code never sees a raw dict.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from harness.config import report_section, sections
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

DEFAULT_CONFIG_NAME = "default.toml"


def default_config_text() -> str:
    """The built-in default sweep, also what `harness init` writes."""
    return resources.files("harness.config").joinpath(DEFAULT_CONFIG_NAME).read_text()


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
    top = sections.Section(raw, "", errors)
    name = top.get("name", str, default="sweep")
    seed = top.get("seed", int, default=0, check=sections.at_least(0))
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
    runtimes = sections.runtimes(top.get("runtimes", dict) or {}, errors)
    latency = sections.latency(
        sections.Section(top.get("latency", dict, default={}), "latency", errors)
    )
    report = report_section.report(
        sections.Section(top.get("report", dict, default={}), "report", errors)
    )
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
        report=report,
    )
