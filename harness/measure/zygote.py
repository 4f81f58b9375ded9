"""A fork server for latency rounds: `python -m harness.measure.zygote ENGINE`.

Starting Python and importing numpy and a runtime takes 0.5-1 s on a busy machine, longer
than one round's timing. The zygote pays it once per runtime; each round is a child
forked from it: a fresh process (its own session, memory, CPU placement, crash and
timeout) that starts in milliseconds. Requests and replies are JSON lines on stdin/stdout.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from harness.errors import MeasurementError
from harness.measure.lifeline import die_with_parent, die_with_parent_from_env, worker_env

# Libraries a runtime's sessions import, loaded once in the zygote (best effort: an
# engine not listed imports its library in each child).
PRELOAD = {
    "onnxruntime": ("onnxruntime",),
    "litert": ("ai_edge_litert.interpreter",),
    "executorch": ("executorch.runtime",),
}
# Loggers whose import-time warnings are about their own builds, not the user's models
# (torchao, pulled in by ExecuTorch, reports optional CUDA kernels it cannot load).
QUIET_LOGGERS = ("torchao", "torch.utils._pytree")
_POLL_SECONDS = 0.002


def _child(request: dict[str, Any]) -> None:
    """In the forked child: measure, write result.json, never return."""
    out = Path(request["out_dir"])
    code = 1
    die_with_parent(os.getppid())  # a fork does not inherit the zygote's parent-death signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends a measurement at once
    try:
        fd = os.open(out / "stderr.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 1)  # stdout is the zygote's reply channel: keep children off it
        os.dup2(fd, 2)
        from harness.measure.worker import measure

        (out / "result.json").write_text(json.dumps(measure(request)))
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def _serve_one(request: dict[str, Any]) -> dict[str, Any]:
    pid = os.fork()
    if pid == 0:
        _child(request)
    deadline = time.monotonic() + float(request["timeout_seconds"])
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return {"status": os.waitstatus_to_exitcode(status)}
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return {"timeout": True}
        time.sleep(_POLL_SECONDS)


def serve(engine: str, requests: IO[str], replies: IO[str]) -> None:
    die_with_parent_from_env()  # no orphan zygote when the sweep is killed
    # Ctrl-C reaches the whole process group: the parent handles it and closes our stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # What every child runs, imported once here rather than in each child.
    import harness.measure.cpus
    import harness.measure.latency
    import harness.measure.worker  # noqa: F401
    from harness.measure.runtimes import RUNTIMES

    RUNTIMES.get(engine)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for module in PRELOAD.get(engine, ()):
        try:
            importlib.import_module(module)
        except ImportError:
            pass  # the child reports the runtime as unavailable, with the reason
    replies.write("ready\n")
    replies.flush()
    for line in requests:
        replies.write(json.dumps(_serve_one(json.loads(line))) + "\n")
        replies.flush()


class Zygote:
    """The parent's handle on one zygote process (one per runtime engine)."""

    def __init__(self, engine: str, cpus: Sequence[int] | None = None) -> None:
        self.engine = engine
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "harness.measure.zygote", engine],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=worker_env(),
        )
        if cpus and hasattr(
            os, "sched_setaffinity"
        ):  # its rounds (forked children) inherit it: they pick their cores inside it
            os.sched_setaffinity(self.proc.pid, cpus)
        if self._read() != "ready":
            raise MeasurementError(f"the {engine} measurement server did not start")

    def _read(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def run(self, request: dict[str, Any], timeout_seconds: float) -> dict[str, Any]:
        """Fork one measurement; {"status": exit code} or {"timeout": True}."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({**request, "timeout_seconds": timeout_seconds}) + "\n")
        self.proc.stdin.flush()
        reply = self._read()
        if not reply:
            raise MeasurementError(f"the {self.engine} measurement server stopped")
        result: dict[str, Any] = json.loads(reply)
        return result

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class Zygotes:
    """One zygote per runtime engine, started on first use, stopped on close; with `cpus`,
    each is held to those cores (a lane of parallel measurement)."""

    def __init__(self, cpus: Sequence[int] | None = None) -> None:
        self._by_engine: dict[str, Zygote] = {}
        self.cpus = cpus

    def get(self, engine: str) -> Zygote:
        if engine not in self._by_engine:
            self._by_engine[engine] = Zygote(engine, self.cpus)
        return self._by_engine[engine]

    def close(self) -> None:
        for zygote in self._by_engine.values():
            zygote.close()
        self._by_engine.clear()

    def __enter__(self) -> Zygotes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    serve(sys.argv[1], sys.stdin, sys.stdout)
