"""ONNX Runtime, LiteRT and ExecuTorch on the same models, data and machine, fp32 and int8.

    python benchmarks/three_runtimes.py

Runs one sweep through the harness itself: the default digits CNN (small_cnn 16x2) and the
mobile CNN (mobile_cnn 16x2), trained briefly, measured at batch 1 and 32 on
  ONNX Runtime   fp32, and int8 = ONNX Runtime's static QDQ quantizer (ort_int8 pass)
  LiteRT         fp32, and int8 = ai-edge-quantizer full integer (`quantize = "int8"`)
  ExecuTorch     fp32, and int8 = PT2E with the XNNPACK quantizer (`quantize = "int8"`)
each int8 calibrated on the same 256 training samples. Prints accuracy, file size, p50 at
both batches, load time, the worker's peak memory and what loading the model added to it,
then for ExecuTorch the harness's p50 against a bare loop in this process around the same
call (execute() with the input set once), which should be within 5% of 1.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from timing import int8_sweep, loop_p50_ms

from harness.config.load import parse_config
from harness.store.results import Store
from harness.sweep.driver import run_sweep

CONFIG = int8_sweep(
    "three-runtimes",
    {
        "cnn": {"arch": "small_cnn", "width": 16, "depth": 2},
        "mobile": {"arch": "mobile_cnn", "width": 16, "depth": 2},
    },
    epochs=15,
)
CONFIG["runtimes"] |= {
    "executorch": {"threads": 1},
    "executorch int8": {"runtime": "executorch", "threads": 1, "quantize": "int8"},
}
CONFIG["latency"] = {"batch": [1, 32], "warmup": 50, "min_runs": 500, "min_seconds": 1.0}
# (compression, runtime) of each row: int8 is each runtime's own int8 path.
ROWS = [
    ("fp32", "onnxruntime", "ORT fp32"),
    ("ort int8", "onnxruntime", "ORT int8"),
    ("fp32", "litert", "LiteRT fp32"),
    ("fp32", "litert int8", "LiteRT int8"),
    ("fp32", "executorch", "ExecuTorch fp32"),
    ("fp32", "executorch int8", "ExecuTorch int8"),
]
BARE_RUNS = 2000


def bare_p50(path: str, batch: int, x: np.ndarray) -> float:
    """p50 in ms of the call the harness times (inputs set once, then execute()), timed
    in a tight loop in this process after the same warm-up."""
    from harness.measure.runtimes import RUNTIMES

    runtime = RUNTIMES.get("executorch")
    session = runtime.load(path, runtime.parse_settings({"threads": 1}))
    call = session.bind(np.ascontiguousarray(np.resize(x, (batch, *x.shape[1:]))))
    return loop_p50_ms(call, BARE_RUNS, CONFIG["latency"]["warmup"])


def main() -> None:
    config = parse_config(CONFIG, "<three_runtimes>", Path.cwd())
    with tempfile.TemporaryDirectory() as tmp:
        with Store(Path(tmp) / "r.db") as store:
            summary = run_sweep(config, store, Path(tmp) / "art")
            records = {
                (r.model, r.compression, r.runtime): r for r in store.candidates(summary.run_id)
            }
        print(
            f"{'model':<8}{'target':<17}{'accuracy':>9}{'KB':>8}{'p50 b1 ms':>11}"
            f"{'p50 b32 ms':>12}{'load ms':>9}{'peak MB':>9}{'model MB':>9}"
        )
        bare_rows = []
        x = None
        for model in ("cnn", "mobile"):
            for compression, runtime, label in ROWS:
                r = records[(model, compression, runtime)]
                if r.status != "ok":
                    print(f"{model:<8}{label:<17} {r.status}: {r.error}")
                    continue
                b32 = r.details["latency_batches"]["32"]["latency_p50_ms"]
                print(
                    f"{model:<8}{label:<17}{r.metric('accuracy'):>9.4f}"
                    f"{r.metric('file_bytes') / 1024:>8.1f}{r.metric('latency_p50_ms'):>11.4f}"
                    f"{b32:>12.4f}{r.metric('load_ms'):>9.1f}{r.metric('peak_rss_mb'):>9.1f}"
                    f"{r.details['memory']['model_rss_mb']:>9.1f}"
                )
                if runtime.startswith("executorch"):
                    bare_rows.append((model, label, r, b32))
        from harness.sweep.stages import write_eval_inputs
        from harness.train.datasets import load, split

        spec = config.dataset
        splits = split(
            load(spec.name, spec.params), config.seed, spec.val_fraction, spec.test_fraction
        )
        x = np.load(write_eval_inputs(splits, config.seed, Path(tmp))[0])
        print(
            f"\n{'model':<8}{'target':<17}{'batch':>6}{'harness p50':>13}{'bare p50':>10}{'harness/bare':>14}"
        )
        for model, label, r, b32 in bare_rows:
            for batch, harness_p50 in ((1, r.metric("latency_p50_ms")), (32, b32)):
                bare = bare_p50(r.artifact, batch, x)
                print(
                    f"{model:<8}{label:<17}{batch:>6}{harness_p50:>13.4f}{bare:>10.4f}"
                    f"{harness_p50 / bare:>14.3f}"
                )
        print(f"\nsweep timings (s): { {k: round(v, 1) for k, v in summary.timings.items()} }")


if __name__ == "__main__":
    main()
