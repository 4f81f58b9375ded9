"""Runs the measurement subprocess (harness.measure.worker) and reads back what it measured."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import MeasurementError
from harness.measure.feeding import load_outputs
from harness.measure.lifeline import worker_env
from harness.measure.zygote import Zygote
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
    # Where the worker ran and how busy the machine was around it (load1, cpu_mhz).
    placement: dict[str, Any] = field(default_factory=dict)
    profile: list[dict[str, Any]] | None = None  # slowest operators, where the runtime profiles


def _last_line(text: str) -> str:
    """The worker's last words; a harness error's own message without its class name."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else "no output"
    return re.sub(r"^harness\.errors\.\w+: ", "", last)


def round_latency(latency: LatencySpec) -> dict[str, Any]:
    """One round's share of the timing budget: min_runs, min_seconds and max_runs are totals
    over the rounds, so R rounds time about as long as one round did."""
    share = dict(latency.spec())
    rounds = max(1, latency.rounds)
    share["min_runs"] = math.ceil(latency.min_runs / rounds)
    share["max_runs"] = math.ceil(latency.max_runs / rounds)
    share["min_seconds"] = latency.min_seconds / rounds
    return share


def _timeout(runtime: RuntimeSpec, seconds: float) -> MeasurementError:
    return MeasurementError(f"{runtime.name} did not finish within {seconds:g} s")


def _spawned(request: dict[str, Any], runtime: RuntimeSpec, timeout: float) -> tuple[int, str]:
    request_path = Path(request["out_dir"]) / "request.json"
    request_path.write_text(json.dumps(request))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "harness.measure.worker", str(request_path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=worker_env(),  # the worker dies with this process (no orphans)
        )
    except subprocess.TimeoutExpired:
        raise _timeout(runtime, timeout) from None
    return proc.returncode, proc.stderr


def _forked(
    zygote: Zygote, request: dict[str, Any], runtime: RuntimeSpec, timeout: float
) -> tuple[int, str]:
    reply = zygote.run(request, timeout)
    if reply.get("timeout"):
        raise _timeout(runtime, timeout)
    stderr = Path(request["out_dir"]) / "stderr.txt"
    return int(reply["status"]), stderr.read_text() if stderr.is_file() else ""


def run_round(
    model_path: Path,
    runtime: RuntimeSpec,
    eval_inputs: list[Path],
    latency: LatencySpec,
    first: bool,
    zygote: Zygote | None = None,
    feed: dict[str, Any] | None = None,
) -> WorkerResult:
    """One round of a candidate in a fresh process, with its share of the timing budget; the
    first round also answers the test sets and times the extra batch sizes."""
    from harness.measure.cpus import machine_load

    before = machine_load()
    result = run_worker(
        model_path,
        runtime,
        eval_inputs,
        latency,
        timing=round_latency(latency),
        outputs=first,
        batches=list(latency.batches) if first else [latency.batch],
        zygote=zygote,
        feed=feed,
    )
    after = machine_load()
    placement = {
        **result.placement,
        **{f"{k}_before": v for k, v in before.items()},
        **{f"{k}_after": v for k, v in after.items()},
    }
    return WorkerResult(**{**result.__dict__, "placement": placement})


def run_worker(
    model_path: Path,
    runtime: RuntimeSpec,
    eval_inputs: list[Path],
    latency: LatencySpec,
    *,
    timing: dict[str, Any] | None = None,
    outputs: bool = True,
    batches: list[int] | None = None,
    zygote: Zygote | None = None,
    feed: dict[str, Any] | None = None,
) -> WorkerResult:
    """Measure one model file on one runtime in a fresh process (spawned, or forked from
    `zygote`); raise MeasurementError on failure."""
    batches = list(latency.batches) if batches is None else batches
    with tempfile.TemporaryDirectory(prefix=f"harness-measure-{os.getpid()}-") as tmp:
        request = {
            "runtime": runtime.engine,
            "settings": runtime.settings,
            "model": str(model_path),
            "eval_inputs": [str(p) for p in eval_inputs],
            "latency": timing or latency.spec(),
            "outputs": outputs,
            "batches": batches,
            "out_dir": tmp,
            **({"feed": feed} if feed else {}),
        }
        if zygote is not None:
            code, stderr = _forked(zygote, request, runtime, latency.timeout_seconds)
        else:
            code, stderr = _spawned(request, runtime, latency.timeout_seconds)
        if code != 0:
            status = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            raise MeasurementError(f"{runtime.name} worker failed ({status}): {_last_line(stderr)}")
        result: dict[str, Any] = json.loads((Path(tmp) / "result.json").read_text())
        every = [load_outputs(p) for p in result["outputs"]]
        return WorkerResult(
            outputs=[outs[0] for outs in every],
            samples_ns=np.load(result["samples"][str(latency.batch)]),
            extra_samples={
                b: np.load(result["samples"][str(b)]) for b in batches if b != latency.batch
            },
            load_ms=float(result["load_ms"]),
            peak_rss_mb=float(result["peak_rss_mb"]),
            model_rss_mb=float(result["model_rss_mb"]),
            warmup=int(result["warmup"]),
            threads=int(result["threads"]),
            version=str(result["version"]),
            all_outputs=every,
            placement={"cpus": result.get("pinned_cpus"), "rule": result.get("placement")},
            profile=result.get("profile"),
        )
