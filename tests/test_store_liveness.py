"""Which run is live, which was killed, and which one a rerun resumes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import StoreError
from harness.store.liveness import RunLock, is_live, shown_status
from harness.store.results import Store


def _start(store: Store, config_hash: str, machine_hash: str = "m") -> int:
    return store.start_run(
        started_at="2026-01-01T00:00:00+00:00", config={"name": "x"}, config_hash=config_hash,
        harness_version="0", git_revision=None, machine={"cpu": "c"}, machine_hash=machine_hash,
    )  # fmt: skip


def test_resume_finds_the_unfinished_run_whatever_was_stored_after_it(tmp_path: Path) -> None:
    with Store(tmp_path / "r.db") as store:
        killed = _start(store, "h")
        other = _start(store, "other")
        store.finish_run(other, finished_at="t", timings={}, status="complete")
        on_another_machine = _start(store, "h", machine_hash="elsewhere")
        assert store.resumable_run("h", "m") == killed
        assert store.resumable_run("h", "elsewhere") == on_another_machine
        store.finish_run(killed, finished_at="t", timings={}, status="complete")
        assert store.resumable_run("h", "m") is None


def test_a_second_holder_of_a_configs_lock_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    first = RunLock(db, "h" * 64)
    first.acquire()
    assert is_live(db, "h" * 64) and not is_live(db, "g" * 64)
    with pytest.raises(StoreError, match=r"already running on this store \(process \d+, started"):
        RunLock(db, "h" * 64).acquire()
    other = RunLock(db, "g" * 64)
    other.acquire()  # another config is independent
    first.release()
    assert not is_live(db, "h" * 64)
    again = RunLock(db, "h" * 64)
    again.acquire()
    for lock in (other, again):
        lock.release()


def test_a_lock_dies_with_its_process_even_on_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from harness.store.liveness import RunLock;"
         f"lock = RunLock(__import__('pathlib').Path({str(db)!r}), 'h'); lock.acquire();"
         "print('held', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert is_live(db, "h")
        assert shown_status(db, "running", "h") == "running"
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    assert not is_live(db, "h")
    assert shown_status(db, "running", "h") == "interrupted"
    assert shown_status(db, "complete", "h") == "complete"


def test_runs_left_running_by_a_killed_sweep_are_marked_interrupted(tmp_path: Path) -> None:
    with Store(tmp_path / "r.db") as store:
        stale, elsewhere = _start(store, "h"), _start(store, "other")
        store.mark_stale_interrupted("h")
        assert store.run(stale).status == "interrupted"
        assert store.run(elsewhere).status == "running"
