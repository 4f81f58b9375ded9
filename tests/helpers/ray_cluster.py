"""A real Ray cluster on this machine for the tests: a head node and device nodes, each
`ray start --block` in its own process group (killed whole to stop it, or to make a
node die mid-task), with its own temporary folder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")
# The head declares a dead node after ~1.5 s of missed health checks (default ~30 s).
FAST_FAILURE = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 500,
    "health_check_timeout_ms": 500,
    "health_check_failure_threshold": 3,
}


# A loopback cluster without Ray's token authentication: a token another Ray left in
# ~/.ray would otherwise be required by the driver and not by these nodes, or the reverse.
NO_TOKEN = {"RAY_AUTH_MODE": "disabled"}


@dataclass
class Node:
    process: subprocess.Popen[bytes]
    tmp: Path  # its TMPDIR: a measurement on it makes its folder there

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()

    def measuring(self) -> bool:
        return any(self.tmp.glob("harness-device-*"))


@dataclass
class Cluster:
    address: str  # 127.0.0.1:PORT, what a driver is given
    temp: Path
    head: Node
    devices: list[Node] = field(default_factory=list)
    joined: str = ""  # the address Ray itself reports, what a joining node is given

    def stop(self) -> None:
        for node in [*self.devices, self.head]:
            node.kill()
        shutil.rmtree(self.temp, ignore_errors=True)


def _start(args: list[str], tmp: Path) -> Node:
    tmp.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [str(RAY), "start", "--block", "--disable-usage-stats", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "TMPDIR": str(tmp), **NO_TOKEN},
    )  # fmt: skip
    return Node(process, tmp)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


AGENT_PORTS = (
    "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "metrics-export-port",
    "runtime-env-agent-port",
)  # fmt: skip


def own_ports(*names: str) -> list[str]:
    """`--NAME=PORT` with a free port each: the defaults collide with any other Ray
    node on this host (another test's, a benchmark's)."""
    return [f"--{name}={_free_port()}" for name in names]


def start_head(cpus: int) -> Cluster:
    """A head node with `cpus` CPUs and no device; returns once it is up."""
    temp = Path(tempfile.mkdtemp(prefix="r17-"))  # short: Ray's socket paths fit 107 bytes
    head = _start(
        ["--head", "--node-ip-address=127.0.0.1", "--port=0", f"--num-cpus={cpus}",
         "--include-dashboard=false", f"--temp-dir={temp}",
         f"--system-config={json.dumps(FAST_FAILURE)}",
         *own_ports(*AGENT_PORTS, "ray-client-server-port")],
        temp / "head",
    )  # fmt: skip
    cluster = Cluster("", temp, head)
    try:
        current = temp / "ray_current_cluster"
        deadline = time.monotonic() + 120
        while not current.is_file() or not current.read_text().strip():
            if head.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("ray start --head did not come up")
            time.sleep(0.2)
        cluster.joined = current.read_text().strip()
        cluster.address = f"127.0.0.1:{cluster.joined.rsplit(':', 1)[1]}"
        return cluster
    except BaseException:
        cluster.stop()
        raise


def add_device(cluster: Cluster, resources: dict[str, float]) -> Node:
    """A node offering `resources` and no CPUs (no training lands there). Its agents get
    ports of their own: two nodes on one host would otherwise collide on the defaults."""
    ports = own_ports(*AGENT_PORTS)
    node = _start(
        [f"--address={cluster.joined}", "--num-cpus=0", f"--temp-dir={cluster.temp}",
         f"--resources={json.dumps(resources)}", *ports],
        cluster.temp / f"device{len(cluster.devices)}",
    )  # fmt: skip
    cluster.devices.append(node)
    return node


def wait_for_nodes(ray: object, count: int, timeout: float = 120) -> None:
    """Wait (in a connected driver) until `count` nodes are alive."""
    deadline = time.monotonic() + timeout
    while sum(n["Alive"] for n in ray.nodes()) < count:  # type: ignore[attr-defined]
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {count} Ray nodes joined")
        time.sleep(0.2)
