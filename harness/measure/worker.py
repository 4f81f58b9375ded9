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


def measure(request: dict[str, Any]) -> dict[str, Any]:
    from harness.measure.cpus import choose_cpus
    from harness.measure.latency import time_calls
    from harness.measure.runtimes import RUNTIMES

    runtime = RUNTIMES.get(request["runtime"])
    settings = request["settings"]
    # Pinned so runs don't migrate between cores; to the idlest, so they don't share one.
    placement = choose_cpus(int(settings.get("threads", 1)))
    version = runtime.version()  # imports the runtime's libraries before `before_mb`
    before_mb = _rss_mb()
    started = time.perf_counter()
    session = runtime.load(request["model"], settings)
    load_ms = (time.perf_counter() - started) * 1000
    # What loading the model added: weights, arena and plan, without Python and the runtime's
    # own libraries (imported before `before_mb`), which the process peak includes.
    model_rss_mb = max(0.0, _rss_mb() - before_mb)
    outputs = []
    # Only the first round answers the test sets: later rounds only time.
    for i, path in enumerate(request["eval_inputs"] if request.get("outputs", True) else []):
        x = np.load(path)
        chunks = [session.run(x[s : s + EVAL_CHUNK]) for s in range(0, len(x), EVAL_CHUNK)]
        out_path = Path(request["out_dir"]) / f"outputs_{i}.npy"
        np.save(out_path, np.concatenate(chunks))
        outputs.append(str(out_path))
    lat = request["latency"]
    x = np.load(request["eval_inputs"][0])
    samples: dict[str, str] = {}
    for size in request.get("batches", [lat["batch"], *lat["extra_batches"]]):
        # Inputs are prepared and bound before the clock starts.
        call = session.bind(np.ascontiguousarray(np.resize(x, (size, *x.shape[1:]))))
        timed = time_calls(
            call,
            warmup=lat["warmup"],
            min_runs=lat["min_runs"],
            min_seconds=lat["min_seconds"],
            max_runs=lat["max_runs"],
        )
        samples[str(size)] = str(Path(request["out_dir"]) / f"samples_ns_{size}.npy")
        np.save(samples[str(size)], timed)
    return {
        "outputs": outputs,
        "samples": samples,
        "load_ms": load_ms,
        # ru_maxrss is in kilobytes on Linux.
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "model_rss_mb": model_rss_mb,
        "version": version,
        "warmup": lat["warmup"],
        "threads": int(settings.get("threads", 1)),
        "pinned_cpus": placement["cpus"],
        "placement": placement["rule"],
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
