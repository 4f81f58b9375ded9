"""distill and qat in a sweep, end to end: stored with their notes, cached, on the
leaderboard as their own families, and drawn as training curves on the candidate page."""

from __future__ import annotations

import json
import platform
import re
from pathlib import Path

from click.testing import CliRunner

from harness.cli.commands import cli
from harness.compress.int8_isa import FAMILIES, isa_family
from harness.measure.machine import cpu_isa
from harness.report.axes import family_symbol
from harness.report.charts import accuracy_scatter
from harness.report.families import candidate_family
from harness.store.results import CandidateRecord, Store
from tests.helpers.configs import chains, latency_table, model, sweep_config

TINY = [
    {"pass": "distill", "student": model("small_cnn", 2), "epochs": 2},
    {"pass": "quantize", "bits": 8},
]
MINI = sweep_config(
    "mini-steps",
    1,
    models={"cnn": model("small_cnn", 8)},
    training={"epochs": 3, "batch_size": 64},
    policies={"none": "none"},
    compression={
        **chains("fp32"),
        "tiny": TINY,
        "int8 trained": [{"pass": "qat", "bits": 8, "epochs": 1}],
    },
    runtimes=("onnxruntime", "litert"),
    latency=latency_table(1, 5),
)


def test_a_sweep_distills_and_trains_quantized_and_shows_both(tmp_path: Path) -> None:
    (tmp_path / "mini.toml").write_text(MINI)
    args = ["run", str(tmp_path / "mini.toml"), "--db", str(tmp_path / "r.db"),
            "--artifacts", str(tmp_path / "art"), "--site", str(tmp_path / "site")]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    with Store(tmp_path / "r.db") as store:
        rows = {(r.compression, r.runtime): r for r in store.candidates(1)}
    assert all(r.status == "ok" for r in rows.values()), [r.error for r in rows.values()]
    tiny = rows[("tiny", "onnxruntime")]
    distill, quantize = tiny.details["compression_notes"]
    assert distill["pass"] == "distill" and quantize["pass"] == "quantize"
    # The measured model is the quantized student: its parameters, not the teacher's.
    assert tiny.metric("params") == distill["student_params"] == 20 + 264 + 90
    assert tiny.metric("macs") == distill["student_macs"]
    qat = rows[("int8 trained", "litert")].details["compression_notes"][0]
    assert qat["pass"] == "qat" and qat["activations"] == "int8"
    # Full-integer int8 is trained for this machine's CPU, as its cache key says.
    family = isa_family(platform.machine(), cpu_isa())
    assert qat["isa"] == family and qat["weight_bits"] == (7 if qat["reduce_range"] else 8)
    assert qat["reduce_range"] is FAMILIES[family].reduce_range
    # Both runtimes ran the QAT export and agree on its answers.
    assert rows[("int8 trained", "litert")].metric("parity_agreement") >= 0.99
    # Families follow the chain, not the setting's name; each has its own marker.
    assert candidate_family(tiny) == "distill"
    assert candidate_family(rows[("int8 trained", "onnxruntime")]) == "qat"
    assert candidate_family(rows[("fp32", "onnxruntime")]) == "fp32"
    figure = accuracy_scatter(list(rows.values()), "file_bytes")
    symbols = {t["name"]: t["marker"]["symbol"] for t in figure["data"] if "marker" in t}
    assert symbols["distill on onnxruntime"] == family_symbol("distill") == "hexagon"
    assert symbols["qat on litert"] == family_symbol("qat") == "pentagon"
    # The candidate page: the step's card and its loss curves (train and validation).
    page = (tmp_path / "site" / "candidates" / f"{tiny.id}.html").read_text()
    assert "Distillation of the student" in page
    assert "Distillation of the student: loss per epoch" in page
    figures = re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', page, re.S)
    names = {t.get("name") for f in figures for t in json.loads(f).get("data", [])}
    assert {"train loss", "soft (teacher) loss", "hard (label) loss", "validation loss"} <= names
    # A second run reuses the student and the QAT model from the cache.
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert "3 compressed" not in again.output and "0 compressed, 3 reused" in again.output


def test_a_setting_named_like_another_family_still_is_its_chain() -> None:
    spec = {"steps": [{"pass": "qat", "bits": 4}], "finetune_epochs": 0}
    record = CandidateRecord("k", "d", "m", "p", "int4 please", "ort", "ok",
                             details={"compression_spec": spec})  # fmt: skip
    assert candidate_family(record) == "qat"
    plain = CandidateRecord("k", "d", "m", "p", "int4 please", "ort", "ok",
                            details={"compression_spec": [{"pass": "quantize", "bits": 4}]})  # fmt: skip
    assert candidate_family(plain) == "int4"
