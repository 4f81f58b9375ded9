"""A simulated device lab on Ray: can the design keep 100 devices busy, and does the
single SQLite writer keep up?

    python benchmarks/fleet.py [--devices 100] [--types 10] [--candidates 5000] [--mean 0.5]

One Ray node started here offers `types` custom resources ("device:sim0" ...) with
devices/types units each, standing for racks of identical devices. Each candidate is a
measurement task, submitted through the harness's own RayExecutor exactly as a sweep
submits a target's measurement (num_cpus 0, resources {"device:simT": 1}), that sleeps a
modelled latency (lognormal, mean `mean` s). The driver commits every result through
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


def run_actors(
    ray: Any, types: int, per_type: int, seconds: np.ndarray, store: Store
) -> tuple[float, list[Any], float]:
    """The alternative design: one long-lived actor per device holding its resource, fed
    two candidates at a time (the next one waits on the device, not on the scheduler)."""
    device = ray.remote(num_cpus=0)(Device)
    actors = [
        device.options(resources={f"device:sim{t}": 1.0}).remote()
        for t in range(types)
        for _ in range(per_type)
    ]
    ray.get([a.ready.remote() for a in actors])
    queues = [[i for i in range(len(seconds)) if i % types == t] for t in range(types)]
    run_id = _start_run(store)
    samples = np.round(np.random.default_rng(0).gamma(20, 0.05, 100), 4).tolist()
    in_flight: dict[Any, tuple[Any, int]] = {}

    def feed(actor: Any, t: int) -> None:
        if queues[t]:
            i = queues[t].pop(0)
            in_flight[actor.measure.remote(float(seconds[i]))] = (actor, i)

    started = time.perf_counter()
    for n, actor in enumerate(actors):
        for _ in range(2):
            feed(actor, n // per_type)
    outcomes, commit = [], 0.0
    while in_flight:
        ready, _ = ray.wait(list(in_flight), num_returns=1)
        ready, _ = ray.wait(list(in_flight), num_returns=len(in_flight), timeout=0)
        for ref in ready:
            actor, i = in_flight.pop(ref)
            feed(actor, i % types)
            outcomes.append(ray.get(ref))
            t0 = time.perf_counter()
            store.add_candidate(run_id, _record(i, samples), "t", _rounds(samples))
            commit += time.perf_counter() - t0
    return time.perf_counter() - started, outcomes, commit


class Device:
    """A device's actor: alive for the whole sweep, measuring one candidate at a time."""

    def ready(self) -> bool:
        return True

    def measure(self, seconds: float) -> tuple[float, float, float]:
        return simulated_measurement(seconds)


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
        "--design", choices=("tasks", "actors"), default="tasks",
        help="tasks: the executor's (a task per candidate); actors: one actor per device",
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
        print(f"scheduler alone: {args.candidates} empty tasks in {wall:.1f} s = "
              f"{args.candidates / wall:.0f} tasks/s", flush=True)  # fmt: skip
        sigma = 0.25
        mu = np.log(args.mean) - sigma**2 / 2
        seconds = np.random.default_rng(1).lognormal(mu, sigma, args.candidates)
        with tempfile.TemporaryDirectory() as tmp:
            with Store(Path(tmp) / "fleet.db") as store:
                if args.design == "tasks":
                    todo = tasks(args.candidates, seconds)
                    wall, outcomes, commit = run_tasks(executor, todo, store)
                else:
                    wall, outcomes, commit = run_actors(ray, args.types, per_type, seconds, store)
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
