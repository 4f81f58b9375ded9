"""Config texts several test modules start from, and the builder of the miniature sweeps
the end-to-end tests run (each differs only in what its test is about)."""

from __future__ import annotations

import json
import re
from typing import Any

# The smallest valid sweep: one dataset, model, policy, compression and runtime.
MINIMAL = """
[dataset]
name = "digits"
[models.m]
arch = "small_cnn"
[policies]
none = "none"
[compression]
fp32 = []
[runtimes.onnxruntime]
threads = 1
"""

# The compression chains the miniature sweeps pick from, by their names in the config.
CHAINS: dict[str, Any] = {
    "fp32": [],
    "int8": [{"pass": "quantize", "bits": 8}],
    "prune 50%": [{"pass": "prune", "ratio": 0.5}],
    "svd 50%": [{"pass": "svd", "rank_ratio": 0.5}],
}


def chains(*names: str) -> dict[str, Any]:
    """The named entries of CHAINS, in the order given."""
    return {name: CHAINS[name] for name in names}


def model(arch: str, width: int, depth: int = 1) -> dict[str, Any]:
    return {"arch": arch, "width": width, "depth": depth}


def latency_table(
    warmup: int, min_runs: int, min_seconds: float = 0.0, **more: Any
) -> dict[str, Any]:
    """A latency table short enough for a test (`batch=[1, 4]` and the like in `more`)."""
    return {**more, "warmup": warmup, "min_runs": min_runs, "min_seconds": min_seconds}


def sweep_config(
    name: str,
    seed: int,
    *,
    models: dict[str, dict[str, Any]],
    compression: dict[str, Any],
    latency: dict[str, Any],
    dataset: str | dict[str, Any] = "digits",
    training: dict[str, Any] | None = None,
    policies: dict[str, Any] | None = None,
    runtimes: tuple[str, ...] = ("onnxruntime",),
) -> str:
    """The TOML text of a sweep: every runtime and the training on one thread; no
    [training] or [policies] table when None is given (an imported model has neither)."""
    tables: dict[str, dict[str, Any] | None] = {
        "dataset": {"name": dataset} if isinstance(dataset, str) else dataset,
        **{f"models.{key}": spec for key, spec in models.items()},
        "training": None if training is None else {"threads": 1, **training},
        "policies": policies,
        "compression": compression,
        **{f"runtimes.{runtime}": {"threads": 1} for runtime in runtimes},
        "latency": latency,
    }
    lines = [f"name = {_value(name)}", f"seed = {seed}"]
    for table, entries in tables.items():
        if entries is not None:
            lines.append(f"[{table}]")
            lines += [f"{_key(key)} = {_value(value)}" for key, value in entries.items()]
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _value(value: Any) -> str:
    """A TOML value, inline tables and arrays included (JSON's string escapes are TOML's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML value for {value!r}")
