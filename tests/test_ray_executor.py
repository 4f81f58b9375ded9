"""The Ray executor on a real Ray cluster started here on loopback: a sweep whose models
are trained and compressed as Ray tasks stores what the local executor stores."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.sweep.executors import LocalExecutor, make_executor
from tests.helpers.executor_sweep import sweep_on

RAY = Path(sys.executable).with_name("ray")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A head node with 2 CPUs, in its own process group, killed whole at the end."""
    pytest.importorskip("ray")
    temp = tempfile.mkdtemp(prefix="r17-")  # short: Ray's socket paths must fit 107 bytes
    head = subprocess.Popen(
        [str(RAY), "start", "--head", "--block", "--node-ip-address=127.0.0.1", "--port=0",
         "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
         f"--temp-dir={temp}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        current = Path(temp) / "ray_current_cluster"
        deadline = time.monotonic() + 120
        while not current.is_file() or not current.read_text().strip():
            if head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("ray start --head did not come up")
            time.sleep(0.2)
        host, port = current.read_text().strip().rsplit(":", 1)
        try:  # Ray's client turns 127.0.0.1 into this address, the node's routable one
            socket.create_connection((host, int(port)), timeout=5).close()
        except OSError as exc:
            pytest.skip(f"Ray maps 127.0.0.1 to {host}, unreachable here: {exc}")
        os.environ["RAY_TMPDIR"] = temp
        yield f"127.0.0.1:{port}"
    finally:
        os.environ.pop("RAY_TMPDIR", None)
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()
        shutil.rmtree(temp, ignore_errors=True)


def test_a_sweep_on_ray_stores_what_the_local_executor_does(cluster: str, tmp_path: Path) -> None:
    local, _ = sweep_on(tmp_path / "local", LocalExecutor(cores=2))
    executor = make_executor("ray", cluster)
    try:
        import ray

        assert ray.cluster_resources()["CPU"] == 2.0  # joined the cluster, not a new Ray
        on_ray, counts = sweep_on(tmp_path / "ray", executor)
    finally:
        executor.close()
    assert [r[1] for r in on_ray] == ["ok", "ok", "ok"]
    assert on_ray == local  # same accuracies and file sizes, candidate by candidate
    assert counts["compressed"] == 3
