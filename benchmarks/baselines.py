"""Test accuracy of the built-in models with no augmentation, through the real sweep.

    python benchmarks/baselines.py

Digits with the default small CNN, and breast cancer with an MLP (where accuracy is
literally (TP+TN)/(P+N)); fp32 on ONNX Runtime, with the 95% Wilson interval and, for the
binary task, TP/TN/FP/FN.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from harness.config.load import parse_config
from harness.store.results import Store
from harness.sweep.driver import run_sweep

COMMON = {
    "policies": {"none": "none"},
    "compression": {"fp32": []},
    "runtimes": {"onnxruntime": {"threads": 1}},
    "latency": {"min_runs": 20, "min_seconds": 0.0},
}
CONFIGS = {
    "digits / small_cnn": {
        "dataset": {"name": "digits"},
        "models": {"cnn": {"arch": "small_cnn", "width": 16, "depth": 2}},
        "training": {"epochs": 60, "batch_size": 32, "lr": 0.003, "patience": 15},
    },
    "breast_cancer / mlp": {
        "dataset": {"name": "breast_cancer"},
        "models": {"mlp": {"arch": "mlp", "width": 32, "depth": 2}},
        "training": {"epochs": 100, "batch_size": 32, "lr": 0.001, "patience": 20},
    },
}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for label, raw in CONFIGS.items():
            config = parse_config({**COMMON, **raw}, label, Path(tmp))
            with Store(Path(tmp) / "r.db") as store:
                summary = run_sweep(config, store, Path(tmp) / "art")
                (record,) = store.candidates(summary.run_id)
            m = record.metrics
            line = (
                f"{label:<22} accuracy {m['accuracy']:.4f} "
                f"[{m['accuracy_low']:.4f}, {m['accuracy_high']:.4f}] on {m['n_test']:.0f} test samples"
            )
            binary = record.details.get("binary")
            if binary:
                line += " ; TP {tp} TN {tn} FP {fp} FN {fn}".format(**binary)
            print(line)


if __name__ == "__main__":
    main()
