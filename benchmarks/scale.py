"""Scaling a sweep: the default sweep cold on each executor, measurement lanes on pinned
cores, and what starting a measuring process costs.

    python benchmarks/scale.py sweeps [--sweep default,4x6] [--executors serial,local,ray,ray2]
    python benchmarks/scale.py lanes [--lanes 2]
    python benchmarks/scale.py overhead

sweeps: the default sweep (3 policies x 6 settings) and a 4-policy x 6-setting one, cold,
  for serial (one process), local (the fork-server pool), ray (one Ray node started here,
  sized to this process's cores) and ray2 (two Ray nodes on loopback, `ray start` head +
  worker, the cores split between them): wall time and cores busy per stage. Cores busy
  is CPU seconds of this process's tree (the driver, its workers, their children, and the
  Ray daemons and workers it started) over wall seconds, sampled from /proc every 0.2 s
  (harness.measure.proctree); machine-wide CPU (/proc/stat, every user's) is printed
  beside it only as context. A model's compression starts as soon as it is trained, so
  "train" runs until the last model is trained (compressing the others meanwhile),
  "compress+convert" is what is left after it, and "train+compress" is both together.
  Starting Ray (ray.init, or the two nodes) is not in the wall; the local pool's fork
  server starts inside the sweep, while the driver loads the data.
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
import time
from pathlib import Path
from statistics import median
from typing import Any

import harness.config
from harness.config.load import load_config
from harness.measure.proctree import TreeSampler
from harness.store.results import Store
from harness.sweep.driver import run_sweep
from harness.sweep.executors import Executor, available_cores, make_executor

STAGES = ("train", "compress", "convert", "measure", "total")  # the driver's own timings


def machine_busy_seconds() -> float:
    """CPU seconds spent not idle by the whole machine since boot (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


# The driver's progress notes that open each stage, and the stage's name in the table.
OPENERS = (("training", "train"), ("compressing", "compress+convert"), ("measuring", "measure"))


class Phases:
    """A Progress that marks each stage's start on a process-tree sampler."""

    def __init__(self, sampler: TreeSampler) -> None:
        self.sampler = sampler
        self.seen: set[str] = set()

    def begin(self, total: int) -> None:
        pass

    def advance(self, label: str) -> None:
        pass

    def note(self, message: str) -> None:
        for opener, stage in OPENERS:
            if message.startswith(opener) and stage not in self.seen:
                self.seen.add(stage)
                self.sampler.mark(stage)


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
        deadline = time.monotonic() + 180
        while sum(n["Alive"] for n in executor.ray.nodes()) < 2:  # type: ignore[attr-defined]
            if time.monotonic() > deadline or any(n.poll() is not None for n in nodes):
                executor.close()
                for node in nodes:
                    os.killpg(node.pid, 9)
                raise RuntimeError("the second Ray node did not join (a busy machine?)")
            time.sleep(0.2)
        return executor, nodes
    return make_executor(name), []


def one_sweep(config_path: Path | None, name: str, workdir: Path) -> dict[str, float]:
    config = load_config(config_path)
    executor, nodes = make(name)
    sampler = TreeSampler()
    phases = Phases(sampler)
    wall0, machine0 = time.perf_counter(), machine_busy_seconds()
    try:
        with sampler, Store(workdir / "results.db") as store:
            sampler.mark("setup")
            summary = run_sweep(config, store, workdir / "artifacts", phases, executor)
            sampler.mark("end")  # before Ray's shutdown: its daemons' exit is not the sweep
    finally:
        executor.close()
        for node in nodes:
            os.killpg(node.pid, 9)
            node.wait()
    wall = time.perf_counter() - wall0
    row = {stage: summary.timings.get(stage, 0.0) for stage in STAGES}
    row["wall"] = wall
    stages = sampler.stages()
    ends = dict(sampler.marks)
    whole = ends["end"] - ends["setup"]
    row["tree cores"] = (sampler.cpu_at(ends["end"]) - sampler.cpu_at(ends["setup"])) / whole
    for _, stage in OPENERS:
        row[f"{stage} s"], row[f"{stage} cores"] = stages.get(stage, (0.0, float("nan")))
    # Compression starts while models still train: the two stages' cores are judged together.
    first = ends.get("train", ends.get("compress+convert", ends["setup"]))
    last = ends.get("measure", ends["end"])
    row["train+compress s"] = last - first
    row["train+compress cores"] = (sampler.cpu_at(last) - sampler.cpu_at(first)) / (last - first)
    row["tree cpu s"] = row["tree cores"] * whole
    row["machine cores"] = (machine_busy_seconds() - machine0) / wall
    row["ok"] = summary.ok
    row["failed"] = summary.failed
    return row


def config_file(sweep: str, folder: Path) -> Path | None:
    """The built-in default sweep (None), or it with a fourth policy: 4 policies x 6
    compression settings."""
    if sweep == "default":
        return None
    default = Path(harness.config.__file__).with_name("default.toml").read_text()
    line = 'randaugment = { preset = "randaugment", n = 2, m = 5 }\n'
    assert line in default, "default.toml changed: update benchmarks/scale.py"
    text = default.replace(line, line + 'trivialaugment = "trivialaugment"\n')
    path = folder / "sweep-4x6.toml"
    path.write_text(text.replace('name = "digits-default"', 'name = "digits-4x6"'))
    return path


ROWS = (
    "wall", "train s", "train cores", "compress+convert s", "compress+convert cores",
    "train+compress s", "train+compress cores", "measure s", "measure cores", "tree cores",
    "tree cpu s", "machine cores", "ok", "failed",
)  # fmt: skip


def sweeps(args: argparse.Namespace) -> None:
    names = args.executors.split(",")
    for sweep in args.sweep.split(","):
        rows = {}
        for name in names:
            with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
                config = args.config or config_file(sweep, Path(tmp))
                print(f"{sweep} sweep cold on the {name} executor (load {load()}) ...", flush=True)
                try:
                    rows[name] = one_sweep(config, name, Path(tmp))
                except Exception as exc:  # a Ray that did not start: the others still count
                    print(f"  {name} failed: {exc}", flush=True)
                    continue
                print("  " + ", ".join(f"{k} {v:.2f}" for k, v in rows[name].items()), flush=True)
        print(f"\n{sweep} sweep, cold; cores busy = CPU seconds of the sweep's process tree / wall")
        print(f"{'':<24}" + "".join(f"{n:>10}" for n in rows))
        for key in ROWS:
            print(f"{key:<24}" + "".join(f"{rows[n][key]:>10.2f}" for n in rows))
        if "serial" in rows and "local" in rows:
            print(f"local / serial wall: {rows['local']['wall'] / rows['serial']['wall']:.2f}")
        print(flush=True)


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


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
    parser.add_argument("--sweep", default="default,4x6", help="default, 4x6, or both")
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
