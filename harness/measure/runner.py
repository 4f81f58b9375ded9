"""Runs the measurement subprocess (harness.measure.worker) and reads back what it measured."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import MeasurementError
from harness.measure.feeding import load_outputs
from harness.specs import LatencySpec, RuntimeSpec


@dataclass(frozen=True)
class WorkerResult:
    outputs: list[np.ndarray]  # the first model output per eval input, in order
    samples_ns: np.ndarray  # one wall time per timed call, at the primary batch size
    extra_samples: dict[int, np.ndarray]  # the same at each extra batch size
    load_ms: float
    peak_rss_mb: float  # the whole worker process: Python, numpy, the runtime's libraries
    model_rss_mb: float  # resident memory that loading the model added
    warmup: int  # untimed calls before the timed ones
    threads: int
    version: str
    all_outputs: list[list[np.ndarray]] = field(default_factory=list)  # every output, per input


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def run_worker(
    model_path: Path,
    runtime: RuntimeSpec,
    eval_inputs: list[Path],
    latency: LatencySpec,
    feed: dict[str, Any] | None = None,
) -> WorkerResult:
    """Measure one model file on one runtime in a fresh process; raise MeasurementError on failure."""
    with tempfile.TemporaryDirectory(prefix="harness-measure-") as tmp:
        request = {
            "runtime": runtime.engine,
            "settings": runtime.settings,
            "model": str(model_path),
            "eval_inputs": [str(p) for p in eval_inputs],
            "latency": latency.spec(),
            "out_dir": tmp,
            **({"feed": feed} if feed else {}),
        }
        request_path = Path(tmp) / "request.json"
        request_path.write_text(json.dumps(request))
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "harness.measure.worker", str(request_path)],
                capture_output=True,
                text=True,
                timeout=latency.timeout_seconds,
            )
        except subprocess.TimeoutExpired:
            raise MeasurementError(
                f"{runtime.name} did not finish within {latency.timeout_seconds:g} s"
            ) from None
        if proc.returncode != 0:
            why = _last_line(proc.stderr)
            code = proc.returncode
            status = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            raise MeasurementError(f"{runtime.name} worker failed ({status}): {why}")
        result: dict[str, Any] = json.loads((Path(tmp) / "result.json").read_text())
        every = [load_outputs(p) for p in result["outputs"]]
        return WorkerResult(
            outputs=[outs[0] for outs in every],
            samples_ns=np.load(result["samples"][str(latency.batch)]),
            extra_samples={b: np.load(result["samples"][str(b)]) for b in latency.extra_batches},
            load_ms=float(result["load_ms"]),
            peak_rss_mb=float(result["peak_rss_mb"]),
            model_rss_mb=float(result["model_rss_mb"]),
            warmup=int(result["warmup"]),
            threads=int(result["threads"]),
            version=str(result["version"]),
            all_outputs=every,
        )
