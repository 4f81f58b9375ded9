"""A simulated device lab on Ray: can the design keep 100 devices busy, and does the
single SQLite writer keep up?

    python benchmarks/fleet.py [--devices 100] [--types 10] [--candidates 5000] [--mean 0.5]

One Ray node started here offers `types` custom resources ("device:sim0" ...) with
devices/types units each, standing for racks of identical devices. Each candidate is a
measurement task, submitted through the harness's own RayExecutor exactly as a sweep
submits a target's measurement (resources {"device:simT": 1}: run by an actor holding one
device), that sleeps a modelled latency (lognormal, mean `mean` s). `--design tasks`
runs them instead as a Ray task per candidate, the design the actors replaced. The driver commits every result through
the real results store (one writer, one SQLite transaction per candidate, with its
rounds and a realistic details payload), as the sweep driver does.

Prints: the warm-up (Ray starting one worker per device), the scheduler's own rate with
tasks that do nothing, device utilisation (slept device-seconds over devices x wall) and
candidates committed per second, next to what the writer alone can commit.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.store.results import CandidateRecord, Store
from harness.sweep.executors import Task
from harness.sweep.ray_executor import RayExecutor


def simulated_measurement(seconds: float) -> tuple[float, float, float]:
    """A device busy for `seconds`: (start, end, slept) on the node's clock."""
    start = time.time()
    time.sleep(seconds)
    end = time.time()
    return start, end, end - start


def _record(i: int, samples: list[float]) -> CandidateRecord:
    return CandidateRecord(
        key=f"{i:08x}", dataset="sim", model="m", policy="p", compression=f"c{i % 24}",
        runtime=f"onnxruntime @ sim{i % 10}", status="ok",
        metrics={"accuracy": 0.9, "file_bytes": 10_000, "latency_p50_ms": float(np.median(samples))},
        details={"latency": {"samples_ms": samples}}, device=f"sim{i % 10}", node="sim-node",
        node_machine={"cpu": "sim", "arch": "aarch64", "cores": 4, "os": "Linux"},
    )  # fmt: skip


def _rounds(samples: list[float]) -> list[dict[str, Any]]:
    p50 = float(np.median(samples))
    return [
        {"round": r, "p50_ms": p50, "p90_ms": p50, "p99_ms": p50, "mean_ms": p50,
         "min_ms": p50, "runs": 34, "machine": {"cpus": [0]}}
        for r in range(3)
    ]  # fmt: skip


def _start_run(store: Store) -> int:
    return store.start_run(
        started_at="t", config={"fleet": True}, config_hash="fleet", harness_version="0",
        git_revision=None, machine={"cpu": "sim"}, machine_hash="sim",
    )  # fmt: skip


def run_tasks(
    executor: RayExecutor, tasks: list[Task], store: Store | None
) -> tuple[float, list[Any], float]:
    """(wall seconds, outcomes, seconds spent committing) of running `tasks`."""
    run_id = _start_run(store) if store is not None else 0
    samples = np.round(np.random.default_rng(0).gamma(20, 0.05, 100), 4).tolist()
    outcomes, commit = [], 0.0
    started = time.perf_counter()
    for task, outcome in executor.run(tasks):
        if isinstance(outcome, Exception):
            raise outcome
        outcomes.append(outcome)
        if store is not None:
            t0 = time.perf_counter()
            store.add_candidate(run_id, _record(int(task.key), samples), "t", _rounds(samples))
            commit += time.perf_counter() - t0
    return time.perf_counter() - started, outcomes, commit


def run_raw_tasks(ray: Any, tasks: list[Task], store: Store) -> tuple[float, list[Any], float]:
    """The design before device actors: one Ray task per candidate asking for its device."""
    remote = ray.remote(num_cpus=0, max_retries=0)(simulated_measurement)
    run_id = _start_run(store)
    samples = np.round(np.random.default_rng(0).gamma(20, 0.05, 100), 4).tolist()
    started = time.perf_counter()
    pending = {remote.options(resources=t.resources).remote(*t.args): t for t in tasks}
    outcomes, commit = [], 0.0
    while pending:
        refs = list(pending)
        ray.wait(refs, num_returns=1)
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in ready:
            task = pending.pop(ref)
            outcomes.append(ray.get(ref))
            t0 = time.perf_counter()
            store.add_candidate(run_id, _record(int(task.key), samples), "t", _rounds(samples))
            commit += time.perf_counter() - t0
    return time.perf_counter() - started, outcomes, commit


def writer_alone(folder: Path, n: int) -> float:
    """Candidates per second the store commits with nothing else running."""
    samples = np.round(np.random.default_rng(0).gamma(20, 0.05, 100), 4).tolist()
    with Store(folder / "alone.db") as store:
        run_id = _start_run(store)
        t0 = time.perf_counter()
        for i in range(n):
            store.add_candidate(run_id, _record(i, samples), "t", _rounds(samples))
        return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--types", type=int, default=10)
    parser.add_argument("--candidates", type=int, default=5000)
    parser.add_argument("--mean", type=float, default=0.5, help="mean modelled seconds")
    parser.add_argument(
        "--design", choices=("executor", "tasks"), default="executor",
        help="executor: the harness's (an actor per device); tasks: a Ray task per candidate",
    )  # fmt: skip
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local Ray: no token to leave behind
    import ray

    per_type = args.devices // args.types
    resources = {f"device:sim{t}": float(per_type) for t in range(args.types)}
    ray.init(num_cpus=2, resources=resources, include_dashboard=False, log_to_driver=False)
    executor = RayExecutor(ray)

    def tasks(n: int, seconds: np.ndarray) -> list[Task]:
        return [
            Task(str(i), simulated_measurement, (float(seconds[i]),), 0,
                 {f"device:sim{i % args.types}": 1.0})
            for i in range(n)
        ]  # fmt: skip

    try:
        t0 = time.perf_counter()
        warm, _, _ = run_tasks(executor, tasks(args.devices, np.full(args.devices, 2.0)), None)
        print(f"warm-up: {args.devices} devices busy 2 s each at once took {warm:.1f} s "
              f"(Ray starting a worker per device)", flush=True)  # fmt: skip
        wall, _, _ = run_tasks(executor, tasks(args.candidates, np.zeros(args.candidates)), None)
        print(f"executor alone: {args.candidates} empty measurements in {wall:.1f} s = "
              f"{args.candidates / wall:.0f}/s (actors started included)", flush=True)  # fmt: skip
        sigma = 0.25
        mu = np.log(args.mean) - sigma**2 / 2
        seconds = np.random.default_rng(1).lognormal(mu, sigma, args.candidates)
        with tempfile.TemporaryDirectory() as tmp:
            with Store(Path(tmp) / "fleet.db") as store:
                todo = tasks(args.candidates, seconds)
                if args.design == "executor":
                    wall, outcomes, commit = run_tasks(executor, todo, store)
                else:
                    wall, outcomes, commit = run_raw_tasks(ray, todo, store)
                (committed,) = store._db.execute("SELECT COUNT(*) FROM candidates").fetchone()
            alone = writer_alone(Path(tmp), 2000)
        starts = min(o[0] for o in outcomes)
        ends = max(o[1] for o in outcomes)
        slept = sum(o[2] for o in outcomes)
        ideal = seconds.sum() / args.devices
        print(
            f"\n[{args.design}] {args.candidates} candidates on {args.devices} devices ({args.types} types x "
            f"{per_type}), modelled measurement {args.mean:g} s mean (lognormal sigma {sigma}):"
        )
        print(f"  wall {wall:.1f} s (ideal {ideal:.1f} s: all device time / devices)")
        print(
            f"  device utilisation {slept / (args.devices * wall):.1%} over the wall; "
            f"{slept / (args.devices * (ends - starts)):.1%} from first start to last end"
        )
        print(f"  scheduler throughput {args.candidates / wall:.0f} candidates/s")
        print(
            f"  committed {committed} candidates, {committed / wall:.0f}/s; the writer spent "
            f"{commit:.1f} s committing ({commit / wall:.0%} of the wall); alone it commits "
            f"{alone:.0f}/s"
        )
        print(
            f"  total with warm-up {time.perf_counter() - t0:.0f} s; load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
    finally:
        executor.close()


if __name__ == "__main__":
    main()
