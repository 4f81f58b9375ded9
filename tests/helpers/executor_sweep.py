"""A tiny sweep run on a given executor, shared by the executor tests."""

from __future__ import annotations

from pathlib import Path

from harness.config.load import load_config
from harness.store.results import Store
from harness.sweep.driver import run_sweep
from harness.sweep.executors import Executor
from tests.helpers.configs import chains, latency_table, model, sweep_config


def executor_config(
    compressions: tuple[str, ...] = ("fp32", "int8", "prune 50%"), min_seconds: float = 0.0
) -> str:
    """One MLP on breast_cancer, measured on ONNX Runtime after each of `compressions`."""
    return sweep_config(
        "executors",
        3,
        dataset="breast_cancer",
        models={"mlp": model("mlp", 8)},
        training={"epochs": 3},
        policies={"none": "none"},
        compression=chains(*compressions),
        latency=latency_table(1, 3, min_seconds),
    )


CONFIG = executor_config()

Row = tuple[str, str, float | None, float | None]


def sweep_on(folder: Path, executor: Executor) -> tuple[list[Row], dict[str, int]]:
    folder.mkdir()
    (folder / "c.toml").write_text(CONFIG)
    with Store(folder / "r.db") as store:
        summary = run_sweep(load_config(folder / "c.toml"), store, folder / "art", None, executor)
        rows = sorted(
            (r.compression, r.status, r.metric("accuracy"), r.metric("file_bytes"))
            for r in store.candidates(summary.run_id)
        )
    return rows, dict(summary.counts)
