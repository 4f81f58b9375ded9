"""A sweep killed at any point leaves no process behind, resumes where it stopped (even
after other runs were stored), and ends with the candidates an uninterrupted run gets.

Each sweep runs as `harness` in its own session (so its process group is its own), on a
tiny config: two small MLPs trained by two workers, two settings, one runtime.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.store.results import Store
from tests.helpers.configs import chains, latency_table, model, sweep_config

pytestmark = pytest.mark.slow


def _tiny(min_seconds: float = 0.3) -> str:
    return sweep_config(
        "tiny",
        1,
        dataset="breast_cancer",
        models={"a": model("mlp", 8), "b": model("mlp", 16)},
        training={"epochs": 5, "workers": 2},
        policies={"none": "none"},
        compression=chains("fp32", "int8"),
        latency=latency_table(2, 20, min_seconds),
    )


TINY = _tiny()
N_CANDIDATES = 4


class Sweep:
    """One `harness` process in its own session, writing into `folder`."""

    def __init__(self, folder: Path, command: str = "sweep") -> None:
        self.folder = folder
        self.args = [command, "tiny.toml", "--db", "r.db", "--artifacts", "art"]
        if command == "run":
            self.args += ["--site", "site"]
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        (self.folder / "tmp").mkdir(exist_ok=True)
        return {**os.environ, "TMPDIR": str(self.folder / "tmp")}

    def start(self) -> Sweep:
        self.out = open(self.folder / "out.txt", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from harness.cli import main; main()", *self.args],
            cwd=self.folder, env=self.env(), stdout=self.out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        return self

    def finish(self, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from harness.cli import main; main()", *self.args],
            cwd=self.folder, env=self.env(), capture_output=True, text=True, timeout=timeout,
            start_new_session=True,
        )  # fmt: skip

    @property
    def pgid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def output(self) -> str:
        self.out.flush()
        return (self.folder / "out.txt").read_text()

    def wait_for(self, what: str, ready: Callable[[], bool], timeout: float = 300) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while not ready():
            assert self.proc.poll() is None, f"ended before {what}:\n{self.output()}"
            assert time.monotonic() < deadline, f"no {what} within {timeout} s"
            # Fine-grained: on a quiet machine the rendering's staging folder exists for
            # only the ~10-20 ms its files take to write.
            time.sleep(0.0005)

    def members(self) -> list[tuple[int, str]]:
        """Live processes of the sweep's process group, with their command lines."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            state, _, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
            if int(pgrp) == self.pgid and state not in "ZX":
                found.append((int(entry), cmdline.decode(errors="replace")))
        return found

    def running(self, *markers: str) -> bool:
        return any(marker in cmd for _, cmd in self.members() for marker in markers)

    def group_gone(self, timeout: float = 20) -> list[tuple[int, str]]:
        """Wait for every process of the group to end; what is left after `timeout`."""
        deadline = time.monotonic() + timeout
        while self.members() and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.members()

    def cleanup(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.out.close()


TRAINING = "multiprocessing.forkserver"  # the fork server training workers fork from
# A round runs forked from the per-runtime fork server, or spawned as the worker module.
MEASURING = ("harness.measure.zygote", "harness.measure.worker")


def training(sweep: Sweep) -> bool:
    """Whether the sweep trains: its fork server starts while the data loads, before the
    run is recorded, so the progress line says when training has begun."""
    return sweep.running(TRAINING) and "] training " in sweep.output()


@pytest.fixture()
def sweeps() -> Iterator[list[Sweep]]:
    started: list[Sweep] = []
    yield started
    for sweep in started:
        sweep.cleanup()


def _folder(tmp: Path, artifacts: Path | None = None) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "tiny.toml").write_text(TINY)
    if artifacts is not None:
        shutil.copytree(artifacts, tmp / "art")
    return tmp


def _results(db: Path, run_id: int) -> dict[str, tuple[str, float, float]]:
    with Store(db) as store:
        return {
            c.key: (c.status, c.metrics["accuracy"], c.metrics["file_bytes"])  # type: ignore[misc]
            for c in store.candidates(run_id)
        }


def _store_another_run(db: Path) -> None:
    """Another run (a different config) stored after the killed one."""
    with Store(db) as store:
        run = store.start_run(
            started_at="2026-01-01T00:00:00+00:00", config={"name": "other"},
            config_hash="other", harness_version="0", git_revision=None,
            machine={"cpu": "c"}, machine_hash="m",
        )  # fmt: skip
        store.finish_run(run, finished_at="t", timings={}, status="complete")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """An uninterrupted run: its candidates, and its model cache (to skip training)."""
    folder = _folder(tmp_path_factory.mktemp("reference"))
    done = Sweep(folder).finish()
    assert done.returncode == 0, done.stdout + done.stderr
    results = _results(folder / "r.db", 1)
    assert len(results) == N_CANDIDATES and {s for s, _, _ in results.values()} == {"ok"}
    return results, folder / "art"


def _kill_resume_compare(
    sweep: Sweep, phase: str, ready: Callable[[], bool], reference: dict, resumes: bool
) -> subprocess.CompletedProcess[str]:
    sweep.start()
    sweep.wait_for(phase, ready)
    os.kill(sweep.pgid, signal.SIGKILL)  # the sweep only: its workers must follow
    assert sweep.proc is not None
    sweep.proc.wait()
    assert sweep.group_gone() == [], "processes outlived the killed sweep"
    db = sweep.folder / "r.db"
    _store_another_run(db)
    rerun = sweep.finish()
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    with Store(db) as store:
        runs = {r.id: r.status for r in store.runs()}
    if resumes:  # the killed run 1 is resumed, though run 2 was stored after it
        assert "run 1: " in rerun.stdout, rerun.stdout
        assert runs == {1: "complete", 2: "complete"}
        final = 1
    else:  # killed after the sweep completed: the rerun is a new, complete run
        assert runs == {1: "complete", 2: "complete", 3: "complete"}
        final = 3
    assert _results(db, final) == reference
    return rerun


def test_sigkill_during_training_orphans_nothing_and_resumes(
    tmp_path: Path, sweeps: list[Sweep], reference: tuple[dict, Path]
) -> None:
    sweep = Sweep(_folder(tmp_path))
    sweeps.append(sweep)
    _kill_resume_compare(sweep, "training", lambda: training(sweep), reference[0], True)


def test_sigkill_during_measurement_orphans_nothing_and_resumes(
    tmp_path: Path, sweeps: list[Sweep], reference: tuple[dict, Path]
) -> None:
    sweep = Sweep(_folder(tmp_path, reference[1]))
    sweeps.append(sweep)
    rerun = _kill_resume_compare(
        sweep, "measurement", lambda: sweep.running(*MEASURING), reference[0], True
    )
    assert "0 trained, 2 reused from cache" in rerun.stdout


def test_sigkill_during_rendering_leaves_a_staging_folder_gc_removes(
    tmp_path: Path, sweeps: list[Sweep], reference: tuple[dict, Path]
) -> None:
    folder = _folder(tmp_path, reference[1])
    sweep = Sweep(folder, "run")
    sweeps.append(sweep)

    def staging() -> bool:
        return any(folder.glob(".site.new-*"))

    _kill_resume_compare(sweep, "rendering", staging, reference[0], False)
    assert (folder / "site" / "index.html").is_file()
    leftovers = sorted(p.name for p in folder.glob(".site.new-*"))
    assert len(leftovers) == 1  # the killed render's; the rerun's own was swapped in
    gc = subprocess.run(
        [sys.executable, "-c", "from harness.cli import main; main()", "gc", "--db", "r.db",
         "--artifacts", "art", "--site", "site"],
        cwd=folder, env=sweep.env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert gc.returncode == 0, gc.stderr
    assert leftovers[0] in gc.stdout and "unfinished site build" in gc.stdout
    assert not any(folder.glob(".site.new-*"))


def test_sigterm_marks_the_run_interrupted_and_says_how_to_resume(
    tmp_path: Path, sweeps: list[Sweep], reference: tuple[dict, Path]
) -> None:
    folder = _folder(tmp_path, reference[1])
    # Slower measurements, so the first sweep is still live when the second one starts.
    (folder / "tiny.toml").write_text(_tiny(min_seconds=1.5))
    sweep = Sweep(folder).start()
    sweeps.append(sweep)
    sweep.wait_for("measurement", lambda: sweep.running(*MEASURING))
    # The same config once more, while the first is live: refused, nothing measured twice.
    second = sweep.finish()
    assert second.returncode == 2
    assert "a sweep of this config is already running on this store (process " in second.stderr
    os.kill(sweep.pgid, signal.SIGTERM)
    assert sweep.proc is not None
    assert sweep.proc.wait(timeout=60) == 143
    assert sweep.group_gone() == []
    out = sweep.output()
    assert "Traceback" not in out
    with Store(tmp_path / "r.db") as store:
        run = store.run(1)
        stored = len(store.candidates(1))
    assert run.status == "interrupted"
    assert (
        f"harness: interrupted by SIGTERM; run 1 is marked interrupted with {stored} of "
        f"{N_CANDIDATES} candidates stored" in out
    )
    assert "resume with: harness sweep tiny.toml --db r.db --artifacts art" in out


def test_sigint_to_the_group_during_training_exits_130(tmp_path: Path, sweeps: list[Sweep]) -> None:
    sweep = Sweep(_folder(tmp_path)).start()
    sweeps.append(sweep)
    sweep.wait_for("training", lambda: training(sweep))
    time.sleep(0.3)  # workers starting up, importing torch
    os.killpg(sweep.pgid, signal.SIGINT)  # what Ctrl-C in a terminal does
    assert sweep.proc is not None
    assert sweep.proc.wait(timeout=60) == 130
    assert sweep.group_gone() == []
    out = sweep.output()
    assert "Traceback" not in out and "Aborted!" not in out
    assert "harness: interrupted by SIGINT; run 1 is marked interrupted with 0 of 4" in out
    assert "resume with: harness sweep tiny.toml --db r.db --artifacts art" in out
    listing = subprocess.run(
        [sys.executable, "-c", "from harness.cli import main; main()", "runs", "--db", "r.db"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listing.stdout.splitlines()[2].split()[2] == "interrupted"
