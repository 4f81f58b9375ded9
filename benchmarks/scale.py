"""The default sweep, cold, on each executor: wall time per stage and cores kept busy.

    python benchmarks/scale.py [--config FILE] [--executors serial,local,ray]

Cores busy is CPU seconds over wall seconds, counted two ways side by side: for this
process and the workers it waited for (os.times; Ray's workers belong to its own
daemons, so they are counted only machine-wide), and machine-wide from /proc/stat
(every process on the machine, other users' included: on a shared machine it is an
upper bound). Ray runs as one node started here, sized to this process's cores.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from harness.config.load import load_config
from harness.store.results import Store
from harness.sweep.driver import run_sweep
from harness.sweep.executors import available_cores, make_executor

STAGES = ("train", "compress", "convert", "measure", "total")


def machine_busy_seconds() -> float:
    """CPU seconds spent not idle by the whole machine since boot (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def one_run(config_path: Path | None, name: str, workdir: Path) -> dict[str, float]:
    config = load_config(config_path)
    executor = make_executor(name)
    if name == "ray":
        executor.close()  # make_executor started a default Ray; size it to our cores instead
        import ray

        ray.init(num_cpus=available_cores(), include_dashboard=False, log_to_driver=False)
        from harness.sweep.ray_executor import RayExecutor

        executor = RayExecutor(ray)
    wall0, tree0, machine0 = time.perf_counter(), tree_cpu_seconds(), machine_busy_seconds()
    try:
        with Store(workdir / "results.db") as store:
            summary = run_sweep(config, store, workdir / "artifacts", None, executor)
    finally:
        executor.close()
    wall = time.perf_counter() - wall0
    row = {stage: summary.timings.get(stage, 0.0) for stage in STAGES}
    row["wall"] = wall
    row["tree cores"] = (tree_cpu_seconds() - tree0) / wall
    row["machine cores"] = (machine_busy_seconds() - machine0) / wall
    row["ok"] = summary.ok
    row["failed"] = summary.failed
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="sweep config (default: the built-in one)")
    parser.add_argument("--executors", default="serial,local,ray")
    args = parser.parse_args()
    names = args.executors.split(",")
    rows = {}
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"running the sweep cold on the {name} executor ...", flush=True)
            rows[name] = one_run(args.config, name, Path(tmp))
    load = os.getloadavg()[0]
    print(f"\n{'':<15}" + "".join(f"{n:>10}" for n in names))
    for key in ("wall", *STAGES, "tree cores", "machine cores", "ok", "failed"):
        print(f"{key:<15}" + "".join(f"{rows[n][key]:>10.2f}" for n in names))
    base = rows[names[0]]["wall"]
    print(
        "wall / " + names[0] + ": " + ", ".join(f"{n} {rows[n]['wall'] / base:.2f}" for n in names)
    )
    print(
        f"{available_cores()} cores; load average {load:.1f} at the end: other work on this "
        "machine shares the cores, so times and machine-wide cores busy are noisy"
    )


if __name__ == "__main__":
    main()
