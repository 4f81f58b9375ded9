"""End to end: a miniature sweep through every stage, from the CLI, twice."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from harness.models import REVISIONS

from harness.cli.commands import cli
from harness.config.load import load_config
from harness.store.results import Store
from harness.sweep.driver import run_sweep
from tests.helpers.cli import folder_args
from tests.helpers.configs import chains, latency_table, model, sweep_config

TWO_POLICIES = {"none": "none", "geometric": "geometric"}
COMPRESSION = chains("fp32", "int8", "prune 50%", "svd 50%")


def _mini(
    policies: dict[str, str] = TWO_POLICIES,
    compression: dict[str, Any] = COMPRESSION,
    runtimes: tuple[str, ...] = ("onnxruntime", "litert"),
) -> str:
    return sweep_config(
        "mini",
        3,
        models={"cnn": model("small_cnn", 8)},
        training={"epochs": 8},
        policies=policies,
        compression=compression,
        runtimes=runtimes,
        latency=latency_table(2, 10, batch=[1, 4]),
    )


MINI = _mini()


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "mini.toml").write_text(MINI)
    return tmp_path


def test_run_measures_every_candidate_renders_and_reuses_models(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["run", str(workdir / "mini.toml"), *folder_args(workdir)])
    assert first.exit_code == 0, first.output
    assert "16 candidates measured, 0 failed" in first.output
    assert "2 trained, 0 reused" in first.output
    assert f"site: {(workdir / 'site' / 'index.html').resolve()}" in first.output
    assert "top 10 of 16 candidates" in first.output
    assert re.search(
        r"stages: data [\d.]+ s \(\d+%\), train [\d.]+ s \(\d+%\), compress .*, convert .*,"
        r" measure [\d.]+ s \(\d+%\), total [\d.]+ s",
        first.output,
    )

    db = sqlite3.connect(workdir / "r.db")
    rows = db.execute(
        "SELECT policy, compression, runtime, status, accuracy, file_bytes, latency_p50_ms"
        " FROM candidates"
    ).fetchall()
    assert len(rows) == 16
    assert {(r[0], r[1], r[2]) for r in rows} == {
        (p, c, rt)
        for p in ("none", "geometric")
        for c in ("fp32", "int8", "prune 50%", "svd 50%")
        for rt in ("onnxruntime", "litert")
    }
    for policy, compression, runtime, status, acc, size, p50 in rows:
        assert status == "ok", (policy, compression, runtime)
        assert 0.5 < acc <= 1.0 and size > 0 and p50 > 0
    size = {(r[1], r[2]): r[5] for r in rows if r[0] == "none"}
    assert size[("int8", "onnxruntime")] < 0.5 * size[("fp32", "onnxruntime")]
    # What a model card needs is stored with the run and each candidate.
    facts = json.loads(
        db.execute("SELECT data_json FROM run_extras WHERE name = 'data'").fetchone()[0]
    )
    assert facts["classes"] == [str(i) for i in range(10)] and facts["model_layout"] == "NCHW"
    assert facts["model_sample_shape"] == [1, 8, 8] and len(facts["normalization"]["mean"]) == 1
    for (details,) in db.execute("SELECT details_json FROM candidates"):
        d = json.loads(details)
        assert d["latency"]["warmup"] >= 0 and d["latency"]["threads"] == 1
        assert 0 <= d["memory"]["model_rss_mb"] < d["memory"]["process_peak_rss_mb"]
    assert size[("int8", "litert")] < 0.5 * size[("fp32", "litert")]

    index = (workdir / "site" / "index.html").read_text()
    for compression in ("int8", "prune 50%", "svd 50%"):
        assert compression in index
    candidate_page = next((workdir / "site" / "candidates").glob("*.html")).read_text()
    assert "Latency at batch 4" in candidate_page
    results = json.loads((workdir / "site" / "results.json").read_text())["candidates"]
    ran = {(c["compression"], c["runtime"]): c["arithmetic"] for c in results}
    assert ran[("int8", "onnxruntime")] == "weight-only dequantized"
    assert ran[("fp32", "litert")] == ran[("svd 50%", "onnxruntime")] == "fp32"
    # One preview grid per policy: 4 images x 6 draws, each 8x8 digit enlarged 7x.
    from PIL import Image

    for i, policy in enumerate(("none", "geometric")):
        src = f"previews/run1-{i}-{policy}.png"
        assert f'src="{src}"' in index
        with Image.open(workdir / "site" / src) as grid:
            assert grid.size == (6 * 56 + 7 * 3, 4 * 56 + 5 * 3)

    second = runner.invoke(cli, ["run", str(workdir / "mini.toml"), *folder_args(workdir)])
    assert second.exit_code == 0, second.output
    assert "0 trained, 2 reused from cache" in second.output
    assert "0 compressed, 8 reused" in second.output
    # Each candidate was timed in 3 rounds, each recording where it ran and the load.
    with Store(workdir / "r.db") as store:
        rounds = store.rounds(2)
        records = store.candidates(2)
    assert len(rounds) == 16 and {len(r) for r in rounds.values()} == {3}
    for entry in (r for rs in rounds.values() for r in rs):
        assert entry["machine"]["rule"] in ("idlest over 20 ms",) or entry["machine"][
            "rule"
        ].startswith("os (")
        assert entry["p50_ms"] > 0 and entry["runs"] >= 4  # ceil(10 min_runs / 3)
    for record in records:
        assert (
            record.artifact_sha256
            == hashlib.sha256(Path(record.artifact or "").read_bytes()).hexdigest()
        )
        assert record.metric("latency_p50_ms") == sorted(r["p50_ms"] for r in rounds[record.key])[1]
    # The same files on the same runtimes: latency changes are noise samples, never failures.
    same = runner.invoke(cli, ["compare", "1", "2", "--fail-on", "p50>+10%", "--db",
                               str(workdir / "r.db")])  # fmt: skip
    assert same.exit_code == 0, same.output
    assert "FAIL" not in same.output and "inconclusive" not in same.output
    run_page = (workdir / "site" / "runs" / "2.html").read_text()
    assert "Measurement conditions" in run_page and "round-to-round noise, litert" in run_page
    listing = runner.invoke(cli, ["runs", "--db", str(workdir / "r.db")])
    assert listing.exit_code == 0
    assert [line.split()[0] for line in listing.output.splitlines()[2:4]] == ["1", "2"]

    # New pass code recompresses (but keeps the trained models); a new revision of the
    # architecture retrains.
    monkeypatch.setattr("harness.sweep.keys.PASSES_VERSION", "next")
    third = runner.invoke(cli, ["run", str(workdir / "mini.toml"), *folder_args(workdir)])
    assert "0 trained, 2 reused from cache; 8 compressed, 0 reused" in third.output
    monkeypatch.setitem(REVISIONS, "small_cnn", REVISIONS["small_cnn"] + 1)
    fourth = runner.invoke(cli, ["run", str(workdir / "mini.toml"), *folder_args(workdir)])
    assert "2 trained, 0 reused from cache; 8 compressed, 0 reused" in fourth.output


class _StopAfter:
    """Progress that interrupts the sweep like Ctrl-C after n candidates."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.labels: list[str] = []

    def begin(self, total: int) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def advance(self, label: str) -> None:
        self.labels.append(label)
        self.n -= 1
        if self.n == 0:
            raise KeyboardInterrupt


def test_an_interrupted_sweep_keeps_its_rows_and_resumes(workdir: Path) -> None:
    config = load_config(workdir / "mini.toml")
    assert config.latency.rounds == 3
    with Store(workdir / "r.db") as store:
        # Rounds are interleaved: round 1 of all 16 candidates, then round 2 of all, then
        # round 3; a candidate is committed after its third, so 2 x 16 + 5 rounds store 5.
        stop = _StopAfter(2 * 16 + 5)
        with pytest.raises(KeyboardInterrupt):
            run_sweep(config, store, workdir / "art", stop)
        first = [label.split(": ", 1)[1] for label in stop.labels[:16]]
        assert len(set(first)) == 16
        order = [f"round {r}/3: {label}" for r in (1, 2) for label in first] + first[:5]
        assert stop.labels == order
        run = store.runs()[-1]
        assert run.status == "interrupted"
        assert len(store.candidates(run.id)) == 5
        assert {len(rounds) for rounds in store.rounds(run.id).values()} == {3}
        summary = run_sweep(config, store, workdir / "art")
        assert summary.run_id == run.id and summary.resumed == 5
        assert summary.ok == 11
        assert len(store.candidates(run.id)) == 16
        assert store.run(run.id).status == "complete"


def test_a_failing_candidate_is_recorded_and_the_sweep_goes_on(workdir: Path) -> None:
    ort_dynamic = [{"pass": "ort_int8", "mode": "dynamic"}]
    text = _mini(
        {"none": "none"}, {**chains("fp32", "int8", "prune 50%"), "ort dynamic": ort_dynamic}
    )
    (workdir / "mini.toml").write_text(text)
    result = CliRunner().invoke(
        cli, ["sweep", str(workdir / "mini.toml"), *folder_args(workdir)[:4]]
    )
    # The sweep completes; the distinct exit status 3 tells a nightly job something failed.
    assert result.exit_code == 3, result.output
    with Store(workdir / "r.db") as store:
        rows = {(r.compression, r.runtime): r for r in store.candidates(1)}
    assert len(rows) == 8
    failed = [r for r in rows.values() if r.status == "failed"]
    assert f"{len(failed)} of 8 candidates failed; first reasons:" in result.output
    assert (
        f"cnn / none / ort dynamic / litert: {rows[('ort dynamic', 'litert')].error}"
        in result.output
    )
    ok = [r for r in rows.values() if r.status == "ok"]
    assert ok and all(r.error is None for r in ok)
    for r in failed:
        assert r.error and r.error.startswith(("convert: ", "measure: ")), r.error
        # Whatever was measured before the failure is kept: the model's size.
        assert r.metric("params") and r.metric("params") > 0
    assert rows[("ort dynamic", "onnxruntime")].status == "ok"


def test_finetune_recovers_pruned_accuracy_and_the_page_reports_it(workdir: Path) -> None:
    prune_ft = {"steps": [{"pass": "prune", "ratio": 0.7}], "finetune_epochs": 3}
    text = _mini(
        {"none": "none"},
        {**chains("fp32", "int8", "prune 50%"), "prune 70% ft": prune_ft},
        ("onnxruntime",),
    )
    (workdir / "mini.toml").write_text(text)
    result = CliRunner().invoke(cli, ["run", str(workdir / "mini.toml"), *folder_args(workdir)])
    assert result.exit_code == 0, result.output
    with Store(workdir / "r.db") as store:
        rows = {r.compression: r for r in store.candidates(1)}
    tuned = rows["prune 70% ft"]
    assert tuned.status == "ok", tuned.error
    note = tuned.details["compression_notes"][0]
    assert note["pass"] == "finetune" and note["epochs"] == 3
    assert note["val_accuracy_after"] >= note["val_accuracy_before"]
    assert tuned.details["compression_spec"]["finetune_epochs"] == 3
    # The pruned zeros survive fine-tuning: as sparse as the untuned chain.
    assert tuned.metric("nonzeros") <= rows["prune 50%"].metric("nonzeros")
    page = (workdir / "site" / "candidates").glob("*.html")
    assert any("Fine-tuning after compression" in p.read_text() for p in page)
