"""A tiny sweep run on a given executor, shared by the executor tests."""

from __future__ import annotations

from pathlib import Path

from harness.config.load import load_config
from harness.store.results import Store
from harness.sweep.driver import run_sweep
from harness.sweep.executors import Executor

CONFIG = """
name = "executors"
seed = 3
[dataset]
name = "breast_cancer"
[models.mlp]
arch = "mlp"
width = 8
depth = 1
[training]
epochs = 3
threads = 1
[policies]
none = "none"
[compression]
fp32 = []
int8 = [{ pass = "quantize", bits = 8 }]
"prune 50%" = [{ pass = "prune", ratio = 0.5 }]
[runtimes.onnxruntime]
threads = 1
[latency]
warmup = 1
min_runs = 3
min_seconds = 0.0
"""

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
