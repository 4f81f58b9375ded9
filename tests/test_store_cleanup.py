"""`harness gc`: what no stored run refers to goes, what a run or a live process needs stays."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from harness.cli.commands import cli
from harness.store.artifacts import Artifacts
from harness.store.cleanup import artifact_garbage, site_garbage, store_size, temp_garbage
from harness.store.results import CandidateRecord, Store


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _cache(root: Path) -> dict[str, Path]:
    """A cache with a chain used by a stored candidate and one nobody uses."""
    art = Artifacts(root)
    paths = {
        "trained": art.put("trained", "t1", "onnx", b"t" * 100, {}),
        "state": art.put("state", "t1", "pt", b"s" * 50, {"trained": "t1"}),
        "compressed": art.put("compressed", "c1-p1", "onnx", b"c" * 70, {"trained": "t1"}),
        "tflite": art.put("tflite", "l1", "tflite", b"l" * 30, {"source": "c1-p1"}),
        "old_trained": art.put("trained", "t0", "onnx", b"o" * 1000, {}),
        "old_compressed": art.put("compressed", "c0-p1", "onnx", b"x" * 500, {"trained": "t0"}),
    }
    return paths


def test_only_artifacts_no_stored_candidate_leads_to_are_garbage(tmp_path: Path) -> None:
    paths = _cache(tmp_path / "art")
    garbage = artifact_garbage(tmp_path / "art", [str(paths["tflite"])])
    names = sorted(g.path.relative_to(tmp_path / "art").as_posix() for g in garbage)
    assert names == [
        "compressed/c0-p1.json", "compressed/c0-p1.onnx", "trained/t0.json", "trained/t0.onnx"
    ]  # fmt: skip
    assert sum(g.size for g in garbage) == 1000 + 500 + len("{}") + len('{"trained": "t0"}')


def test_a_compressed_model_without_its_source_keeps_every_trained_model(tmp_path: Path) -> None:
    art = Artifacts(tmp_path / "art")
    art.put("trained", "t0", "onnx", b"o", {})
    legacy = art.put("compressed", "c0-p1", "onnx", b"c", {"passes": []})  # no "trained"
    assert artifact_garbage(tmp_path / "art", [str(legacy)]) == []


def test_folders_of_finished_processes_are_garbage_and_live_ones_are_not(tmp_path: Path) -> None:
    dead, live = _dead_pid(), os.getpid()
    for name in (f"harness-eval-{dead}-ab", f"harness-measure-{dead}-cd", f"harness-eval-{live}-ef",
                 "harness-evaluation-notes", f"other-{dead}-x"):  # fmt: skip
        (tmp_path / name).mkdir()
        (tmp_path / name / "f.npy").write_bytes(b"1234")
    found = sorted(g.path.name for g in temp_garbage(tmp_path))
    assert found == [f"harness-eval-{dead}-ab", f"harness-measure-{dead}-cd"]
    (tmp_path / f".site.new-{dead}-zz").mkdir()
    (tmp_path / f".site.new-{live}-yy").mkdir()
    assert [g.path.name for g in site_garbage(tmp_path / "site")] == [f".site.new-{dead}-zz"]


def test_gc_lists_removes_and_counts_bytes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    (tmp_path / "tmp").mkdir()
    leftover = tmp_path / "tmp" / f"harness-eval-{_dead_pid()}-q"
    leftover.mkdir()
    (leftover / "x.npy").write_bytes(b"z" * 4096)
    paths = _cache(tmp_path / "art")
    db = tmp_path / "r.db"
    with Store(db) as store:
        run = store.start_run(
            started_at="t", config={}, config_hash="h", harness_version="0", git_revision=None,
            machine={}, machine_hash="m",
        )  # fmt: skip
        record = CandidateRecord(
            key="k", dataset="d", model="m", policy="p", compression="c", runtime="litert",
            status="ok", artifact=str(paths["tflite"]),
        )  # fmt: skip
        store.add_candidate(run, record, "t")
        store.finish_run(run, finished_at="t", timings={}, status="complete")
    args = [
        "gc",
        "--db",
        str(db),
        "--artifacts",
        str(tmp_path / "art"),
        "--site",
        str(tmp_path / "site"),
    ]
    expected = 1000 + 500 + 2 + len(json.dumps({"trained": "t0"})) + 4096
    dry = CliRunner().invoke(cli, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"would remove 5 item(s), 5.5 KB ({expected} bytes)" in dry.output
    assert str(leftover) in dry.output and paths["old_trained"].is_file()
    done = CliRunner().invoke(cli, args)
    assert f"removed 5 item(s), 5.5 KB ({expected} bytes)" in done.output
    assert not leftover.exists() and not paths["old_trained"].exists()
    assert all(paths[k].is_file() for k in ("trained", "state", "compressed", "tflite"))
    listing = CliRunner().invoke(
        cli, ["runs", "--db", str(db), "--artifacts", str(tmp_path / "art")]
    )
    cache = sum(p.stat().st_size for p in (tmp_path / "art").rglob("*") if p.is_file())
    assert f"store: {db} {store_size(db) / 1024:.1f} KB; model cache: " in listing.output
    assert cache == 100 + 50 + 70 + 30 + 2 + 3 * len(json.dumps({"trained": "t1"})) - len(
        json.dumps({"trained": "t1"})
    ) + len(json.dumps({"source": "c1-p1"}))
