"""Scaling a sweep: the default sweep cold on each executor, measurement lanes on pinned
cores, and what starting a measuring process costs.

    python benchmarks/scale.py sweeps [--executors serial,local,ray,ray2] [--config FILE]
    python benchmarks/scale.py lanes [--lanes 2]
    python benchmarks/scale.py overhead

sweeps: wall time per stage and cores busy, for serial (one process), local (a process
  pool), ray (one Ray node started here, sized to this process's cores) and ray2 (two
  Ray nodes on loopback, `ray start` head + worker, the cores split between them).
  Cores busy is CPU seconds over wall seconds: for this process tree (os.times; Ray's
  workers belong to its daemons, so they count only machine-wide), machine-wide from
  /proc/stat (every process on the machine, other users' included: on a shared machine
  an upper bound), and machine-wide during training + compression alone (sampled).
lanes: the same candidates measured serially and in N lanes pinned to disjoint cores
  (--measure-parallel N): per-candidate p50 parallel/serial and each one's round spread.
overhead: one latency round of a small model, a fresh spawned Python (before) against a
  child forked from a zygote with the runtime imported (after), timed loop excluded.
Each part prints `uptime`'s load: other work on the machine shares its cores.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from statistics import median
from typing import Any

from harness.config.load import load_config
from harness.store.results import Store
from harness.sweep.driver import run_sweep
from harness.sweep.executors import Executor, available_cores, make_executor

STAGES = ("train", "compress", "convert", "measure", "total")


def machine_busy_seconds() -> float:
    """CPU seconds spent not idle by the whole machine since boot (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Phases:
    """A Progress that notes when the sweep starts measuring, sampling /proc/stat meanwhile."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self.measuring: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), machine_busy_seconds()))
            time.sleep(0.25)

    def begin(self, total: int) -> None:
        pass

    def advance(self, label: str) -> None:
        pass

    def note(self, message: str) -> None:
        if message.startswith("measuring") and self.measuring is None:
            self.measuring = time.perf_counter()

    def busy_until_measuring(self, start: float) -> float:
        """Machine-wide cores busy from `start` until measurement began."""
        self._stop.set()
        self._thread.join()
        end = self.measuring or self.samples[-1][0]
        window = [(t, b) for t, b in self.samples if start <= t <= end]
        if len(window) < 2:
            return float("nan")
        return (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])


def start_two_nodes(cores: int) -> tuple[str, list[subprocess.Popen[bytes]], Path]:
    """A Ray head and a worker node on loopback, splitting `cores` between them."""
    ray = Path(sys.executable).with_name("ray")
    temp = Path(tempfile.mkdtemp(prefix="rb17-"))
    common = ["--block", "--disable-usage-stats", f"--temp-dir={temp}"]
    head = subprocess.Popen(
        [str(ray), "start", "--head", "--node-ip-address=127.0.0.1", "--port=0",
         f"--num-cpus={cores - cores // 2}", "--include-dashboard=false", *common],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    current = temp / "ray_current_cluster"
    while not current.is_file() or not current.read_text().strip():
        time.sleep(0.2)
    joined = current.read_text().strip()
    ports = []  # the worker's agents: the head's default ports are taken on this host
    for name in ("dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                 "metrics-export-port", "runtime-env-agent-port"):  # fmt: skip
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(f"--{name}={sock.getsockname()[1]}")
    worker = subprocess.Popen(
        [str(ray), "start", f"--address={joined}", f"--num-cpus={cores // 2}", *ports, *common],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    os.environ["RAY_TMPDIR"] = str(temp)
    return f"127.0.0.1:{joined.rsplit(':', 1)[1]}", [head, worker], temp


def connect_when_up(address: str, timeout: float = 120) -> Any:
    """The Ray executor, once the head (still starting on a busy machine) answers."""
    from harness.errors import ConfigError

    deadline = time.monotonic() + timeout
    while True:
        try:
            return make_executor("ray", address)
        except ConfigError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def make(name: str) -> tuple[Executor, list[subprocess.Popen[bytes]]]:
    cores = available_cores()
    if name == "ray":
        import ray

        from harness.sweep.ray_executor import RayExecutor

        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
        return RayExecutor(ray), []
    if name == "ray2":
        address, nodes, _ = start_two_nodes(cores)
        executor = connect_when_up(address)
        while sum(n["Alive"] for n in executor.ray.nodes()) < 2:  # type: ignore[attr-defined]
            time.sleep(0.2)
        return executor, nodes
    return make_executor(name), []


def one_sweep(config_path: Path | None, name: str, workdir: Path) -> dict[str, float]:
    config = load_config(config_path)
    executor, nodes = make(name)
    phases = Phases()
    wall0, tree0, machine0 = time.perf_counter(), tree_cpu_seconds(), machine_busy_seconds()
    try:
        with Store(workdir / "results.db") as store:
            summary = run_sweep(config, store, workdir / "artifacts", phases, executor)
    finally:
        executor.close()
        for node in nodes:
            os.killpg(node.pid, 9)
            node.wait()
    wall = time.perf_counter() - wall0
    row = {stage: summary.timings.get(stage, 0.0) for stage in STAGES}
    row["wall"] = wall
    row["tree cores"] = (tree_cpu_seconds() - tree0) / wall
    row["machine cores"] = (machine_busy_seconds() - machine0) / wall
    row["train+compress cores"] = phases.busy_until_measuring(wall0)
    row["ok"] = summary.ok
    row["failed"] = summary.failed
    return row


def sweeps(args: argparse.Namespace) -> None:
    names = args.executors.split(",")
    rows = {}
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"running the sweep cold on the {name} executor ...", flush=True)
            rows[name] = one_sweep(args.config, name, Path(tmp))
            print("  " + ", ".join(f"{k} {v:.2f}" for k, v in rows[name].items()), flush=True)
    print(f"\n{'':<22}" + "".join(f"{n:>10}" for n in names))
    keys = ("wall", *STAGES, "tree cores", "machine cores", "train+compress cores", "ok", "failed")
    for key in keys:
        print(f"{key:<22}" + "".join(f"{rows[n][key]:>10.2f}" for n in names))


def lanes(args: argparse.Namespace) -> None:
    """The same candidates measured in 1 and in N pinned lanes (models made first)."""
    config = load_config(args.config)
    with tempfile.TemporaryDirectory() as tmp:
        art = Path(tmp) / "artifacts"
        found: dict[int, dict[str, Any]] = {}
        for n in (1, 1, args.lanes):  # the first run makes the models (not timed here)
            with Store(Path(tmp) / f"r{n}-{len(found)}.db") as store:
                started = time.perf_counter()
                summary = run_sweep(config, store, art, None, make_executor("local", None, n))
                wall = time.perf_counter() - started
                rows = {r.key: r for r in store.candidates(summary.run_id) if r.status == "ok"}
            found[n] = {"rows": rows, "measure": summary.timings.get("measure", 0.0), "wall": wall}
    serial, parallel = found[1]["rows"], found[args.lanes]["rows"]
    keys = sorted(set(serial) & set(parallel))
    ratio = [
        parallel[k].metric("latency_p50_ms") / serial[k].metric("latency_p50_ms") for k in keys
    ]  # type: ignore[operator]
    spread = {
        n: [found[n]["rows"][k].details["latency"]["spread"] for k in keys] for n in (1, args.lanes)
    }
    print(f"{len(keys)} candidates measured serially and in {args.lanes} pinned lanes:")
    print(f"  measure stage: serial {found[1]['measure']:.1f} s, {args.lanes} lanes "
          f"{found[args.lanes]['measure']:.1f} s")  # fmt: skip
    print(f"  p50 {args.lanes} lanes / serial: median {median(ratio):.3f}, "
          f"min {min(ratio):.3f}, max {max(ratio):.3f}")  # fmt: skip
    for n in (1, args.lanes):
        print(f"  round-to-round p50 spread ({'serial' if n == 1 else f'{n} lanes'}): median "
              f"{median(spread[n]):.1%}, max {max(spread[n]):.1%}")  # fmt: skip


def small_model(path: Path) -> Path:
    """A 64 -> 32 -> 10 MLP as ONNX (the size of the default sweep's tabular models)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(size=(64, 32)), rng.normal(size=(32, 10))
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("MatMul", ["r", "w2"], ["y"])],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])],
        [numpy_helper.from_array(w1.astype(np.float32), "w1"),
         numpy_helper.from_array(w2.astype(np.float32), "w2")],
    )  # fmt: skip
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def overhead(args: argparse.Namespace) -> None:
    """Wall per round minus its timed loop: spawned worker vs zygote child."""
    import numpy as np

    from harness.measure.runner import run_worker
    from harness.measure.runtimes import RUNTIMES
    from harness.measure.zygote import Zygote
    from harness.specs import LatencySpec, RuntimeSpec

    with tempfile.TemporaryDirectory() as tmp:
        model = small_model(Path(tmp) / "mlp.onnx")
        x = Path(tmp) / "x.npy"
        np.save(x, np.zeros((4, 64), np.float32))
        latency = LatencySpec(
            batch=1, warmup=1, min_runs=5, min_seconds=0.0, max_runs=5, timeout_seconds=60
        )
        runtime = RuntimeSpec(
            "onnxruntime", RUNTIMES.get("onnxruntime").parse_settings({"threads": 1})
        )
        costs: dict[str, list[float]] = {"spawned": [], "zygote": []}
        zygote = Zygote("onnxruntime")
        try:
            for _ in range(args.repeat):
                for kind in ("spawned", "zygote"):
                    t0 = time.perf_counter()
                    result = run_worker(model, runtime, [x], latency, outputs=False,
                                        zygote=zygote if kind == "zygote" else None)  # fmt: skip
                    timed = float(result.samples_ns.sum()) / 1e9
                    costs[kind].append(time.perf_counter() - t0 - timed)
        finally:
            zygote.close()
    before, after = median(costs["spawned"]), median(costs["zygote"])
    print(f"per-round overhead (start + load, timed loop excluded), median of {args.repeat}:")
    print(f"  before, a spawned Python: {before * 1000:.0f} ms")
    print(f"  after, forked from a zygote: {after * 1000:.0f} ms ({before / after:.1f}x less)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("sweeps", "lanes", "overhead"))
    parser.add_argument("--config", type=Path, help="sweep config (default: the built-in one)")
    parser.add_argument("--executors", default="serial,local,ray,ray2")
    parser.add_argument("--lanes", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    # Loopback clusters started here: no token authentication (a token another Ray left
    # in ~/.ray would be asked by one side only).
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    {"sweeps": sweeps, "lanes": lanes, "overhead": overhead}[args.part](args)
    print(f"{available_cores()} cores; load average {os.getloadavg()[0]:.1f} at the end "
          f"(uptime: {' '.join(os.popen('uptime').read().split()[-5:])})")  # fmt: skip


if __name__ == "__main__":
    main()
