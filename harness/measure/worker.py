"""The measurement subprocess: `python -m harness.measure.worker REQUEST.json`.

One model, one runtime, one process: a crash or a leak stays here and becomes a
failed candidate in the parent; peak RSS and load time are this process's own.
The request names input .npy files; outputs go to .npy files and a result.json.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

EVAL_CHUNK = 256


def _rss_mb() -> float:
    """This process's resident memory now (Linux /proc; 0 where it is not readable)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's VmHWM belongs to the process's own
    address space; ru_maxrss would also carry the parent's peak from before the exec (a
    sweep parent holding torch made every worker read ~550 MB)."""
    peak = _status_mb("VmHWM")
    if peak is not None:
        return peak
    # ru_maxrss is in kilobytes on Linux (bytes on macOS, where /proc is missing).
    scale = 1024 if sys.platform != "darwin" else 1024 * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def measure(request: dict[str, Any]) -> dict[str, Any]:
    from harness.measure import feeding
    from harness.measure.cpus import choose_cpus
    from harness.measure.latency import time_calls
    from harness.measure.runtimes import RUNTIMES

    runtime = RUNTIMES.get(request["runtime"])
    settings = request["settings"]
    # Pinned so runs don't migrate between cores; to the idlest, so they don't share one.
    placement = choose_cpus(int(settings.get("threads", 1)))
    runtime.prepare()  # the runtime's Python modules: imported before the load clock starts
    version = runtime.version()
    before_mb = _rss_mb()
    started = time.perf_counter()
    session = runtime.load(request["model"], settings)
    load_ms = (time.perf_counter() - started) * 1000
    # What loading the model added: weights, arena and plan, without Python and the runtime's
    # own libraries (imported before `before_mb`), which the process peak includes.
    model_rss_mb = max(0.0, _rss_mb() - before_mb)
    outputs = []
    plan = request.get("feed")  # inputs by name and a fixed batch (harness.measure.feeding)
    # Only the first round answers the test sets: later rounds only time.
    for i, path in enumerate(request["eval_inputs"] if request.get("outputs", True) else []):
        out_path = str(Path(request["out_dir"]) / f"outputs_{i}.npz")
        feeding.save_outputs(out_path, feeding.evaluate(session, path, plan, EVAL_CHUNK))
        outputs.append(out_path)
    lat = request["latency"]
    samples: dict[str, str] = {}
    for size in request.get("batches", [lat["batch"], *lat["extra_batches"]]):
        # Inputs are prepared and bound before the clock starts.
        call = feeding.timed_call(session, request["eval_inputs"][0], plan, size)
        timed = time_calls(
            call,
            warmup=lat["warmup"],
            min_runs=lat["min_runs"],
            min_seconds=lat["min_seconds"],
            max_runs=lat["max_runs"],
        )
        samples[str(size)] = str(Path(request["out_dir"]) / f"samples_ns_{size}.npy")
        np.save(samples[str(size)], timed)
    peak_rss_mb = _peak_rss_mb()  # before profiling, which loads more
    # A per-operator profile, where the runtime has one: once, in the round that answers outputs.
    profile = getattr(session, "profile", None) if request.get("outputs", True) else None
    largest = max([lat["batch"], *lat["extra_batches"]])
    if profile:
        feeds, _ = feeding.load_feeds(request["eval_inputs"][0], session, plan)
        x = feeds[session.input_names[0]]
    return {
        "outputs": outputs,
        "samples": samples,
        "load_ms": load_ms,
        "peak_rss_mb": peak_rss_mb,
        "model_rss_mb": model_rss_mb,
        "version": version,
        "warmup": lat["warmup"],
        "threads": int(settings.get("threads", 1)),
        "pinned_cpus": placement["cpus"],
        "placement": placement["rule"],
        "profile": (
            profile(np.resize(x, (largest, *x.shape[1:])), request["out_dir"]) if profile else None
        ),
    }


def main(argv: list[str]) -> int:
    from harness.measure.lifeline import die_with_parent_from_env

    die_with_parent_from_env()
    # Ctrl-C reaches the whole process group; the sweep decides, and stops this worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    request_path = Path(argv[1])
    request = json.loads(request_path.read_text())
    result = measure(request)
    (Path(request["out_dir"]) / "result.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
