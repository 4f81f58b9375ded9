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

# Two models on digits, trained one at a time: the small MLP first, then the CNN, which
# trains many times longer than the MLP's fp32 and int8 files take to make.
TWO_MODELS = sweep_config(
    "overlap",
    3,
    models={"a_mlp": model("mlp", 8), "b_cnn": model("small_cnn", 8)},
    training={"epochs": 3, "workers": 1},
    policies={"none": "none"},
    compression=chains("fp32", "int8"),
    latency=latency_table(1, 3),
)

Row = tuple[str, str, str, str, str | None, float | None, float | None]


def sweep_on(
    folder: Path, executor: Executor, config: str = CONFIG
) -> tuple[list[Row], dict[str, int]]:
    """Each candidate's (key, model, compression, status, error, accuracy, file bytes)."""
    folder.mkdir(exist_ok=True)
    (folder / "c.toml").write_text(config)
    with Store(folder / "r.db") as store:
        summary = run_sweep(load_config(folder / "c.toml"), store, folder / "art", None, executor)
        rows = sorted(
            (r.key, r.model, r.compression, r.status, r.error, r.metric("accuracy"),
             r.metric("file_bytes"))
            for r in store.candidates(summary.run_id)
        )  # fmt: skip
    return rows, dict(summary.counts)
