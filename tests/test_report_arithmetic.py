"""The arithmetic field: what each runtime computed for each kind of compressed model."""

from __future__ import annotations

from typing import Any

import pytest

from harness.report.arithmetic import ARITHMETIC, arithmetic, cpu_choice, of_details
from harness.report.modelcard import model_card, model_card_markdown
from harness.report.pages import _candidate_sections
from harness.store.results import CandidateRecord, Run

ORT_INT8 = {"pass": "ort_int8", "mode": "static", "calibrate": "minmax", "per_channel": True}
INT8 = {"pass": "quantize", "bits": 8}
QAT8 = {"pass": "qat", "bits": 8, "epochs": 2, "per_channel": True, "activations": True}
QAT4 = {"pass": "qat", "bits": 4, "epochs": 2, "per_channel": True, "activations": False}
ORT: dict[str, Any] = {"name": "onnxruntime", "settings": {"threads": 1}}
FOLDED: dict[str, Any] = {"name": "onnxruntime", "settings": {"fold_dequantize": True}}
LITERT: dict[str, Any] = {"name": "litert", "settings": {"threads": 1, "quantize": "none"}}


def litert(quantize: str) -> dict[str, Any]:
    return {"name": "litert", "settings": {"quantize": quantize}}


@pytest.mark.parametrize(
    ("spec", "runtime", "kind", "says"),
    [
        ([], ORT, "fp32", "float32 weights and compute"),
        ([], LITERT, "fp32", "float32 weights and compute"),
        ([ORT_INT8], ORT, "int8 kernels", "fuses the QuantizeLinear/DequantizeLinear pairs"),
        ([ORT_INT8], LITERT, "simulated int8 on float kernels", "not int8 kernels"),
        ([ORT_INT8], FOLDED, "simulated int8 on float kernels", "float compute"),
        ([INT8], ORT, "weight-only dequantized", "int8 weights dequantized to float32 on every call"),
        ([INT8], FOLDED, "fp32", "int8 weights dequantized once at load"),
        ([INT8], LITERT, "weight-only dequantized", "int8 weights dequantized to float32"),
        (
            [{**INT8, "layers": "conv"}, {"pass": "quantize", "bits": 4, "layers": "dense"}],
            ORT, "weight-only dequantized", "int4/int8 weights",
        ),
        ([{"pass": "float16"}], ORT, "fp32", "float16 weights cast to float32 at load"),
        ([], litert("int8"), "int8 kernels", "full-integer int8 kernels"),
        ([{"pass": "prune", "ratio": 0.5}], litert("dynamic"), "int8 kernels", "dynamic range"),
        ([], litert("weight_only"), "weight-only dequantized", "int8 weights dequantized"),
        (
            {"steps": [{"pass": "prune", "ratio": 0.5}, ORT_INT8], "finetune_epochs": 2},
            ORT, "int8 kernels", "int8 kernels",
        ),
        ({"steps": [{"pass": "svd", "rank": 2}], "finetune_epochs": 2}, ORT, "fp32", "float32"),
        # qat stores what quantize stores, plus QDQ activations for full-integer int8
        ([QAT8], ORT, "int8 kernels", "fuses the QuantizeLinear/DequantizeLinear pairs"),
        ([QAT8], LITERT, "simulated int8 on float kernels", "not int8 kernels"),
        ([QAT4], ORT, "weight-only dequantized", "int4 weights dequantized to float32"),
        ({"steps": [{**QAT4, "activations": True}]}, ORT, "weight-only dequantized", "int4"),
        ([{"pass": "prune", "ratio": 0.5}, QAT4], FOLDED, "fp32", "int4 weights dequantized once"),
    ],
)  # fmt: skip
def test_arithmetic_per_compression_and_runtime(
    spec: Any, runtime: dict[str, Any], kind: str, says: str
) -> None:
    got = arithmetic(spec, runtime)
    assert got.kind == kind and kind in ARITHMETIC
    assert says in got.explain


def test_the_weight_only_latency_note_names_the_setting_that_avoids_it() -> None:
    assert "fold_dequantize = true does it once at load" in arithmetic([INT8], ORT).explain


NOTE = {
    "pass": "ort_int8", "isa": "avx2", "reduce_range": True,
    "why": "7-bit weights for avx2: AVX2 without VNNI: saturates",
}  # fmt: skip


def record(runtime: dict[str, Any]) -> CandidateRecord:
    return CandidateRecord(
        key="k", dataset="digits", model="cnn", policy="none", compression="ort int8",
        runtime=runtime["name"], status="ok", metrics={"accuracy": 0.97},
        details={"compression_spec": [ORT_INT8], "compression_notes": [NOTE],
                 "runtime_info": runtime},
    )  # fmt: skip


RUN = Run(
    id=1, started_at="2026-01-01T00:00:00+00:00", finished_at=None, status="complete",
    config={}, config_hash="c", harness_version="0", git_revision=None,
    machine={"cpu": "AMD EPYC", "isa": ["avx2", "fma"]}, machine_hash="m", timings={},
)  # fmt: skip


def test_cpu_choice_is_the_resolved_isa_and_its_reason() -> None:
    assert cpu_choice([{"pass": "prune"}, NOTE]) == f"made for avx2: {NOTE['why']}"
    assert cpu_choice([{"pass": "quantize", "bits": 8}]) is None
    qat = {"pass": "qat", "isa": "avx2", "why": "7-bit weights for avx2: saturates"}
    assert cpu_choice([qat]) == "made for avx2: 7-bit weights for avx2: saturates"
    assert cpu_choice([]) is None


def test_candidate_page_and_model_card_say_which_arithmetic_ran() -> None:
    sections = dict(_candidate_sections(record(LITERT)))
    settings = dict(sections["Settings"])
    assert settings["arithmetic"].startswith("simulated int8 on float kernels: ")
    assert settings["int8 weights"] == f"made for avx2: {NOTE['why']}"
    card = model_card(record(ORT), RUN)
    assert card["arithmetic"]["kind"] == "int8 kernels"
    assert card["int8_weights"] == f"made for avx2: {NOTE['why']}"
    text = model_card_markdown(card)
    assert "- **Arithmetic**: int8 kernels: ONNX Runtime fuses" in text
    assert f"- **int8 weights**: made for avx2: {NOTE['why']}" in text


def test_a_file_benchmarked_as_given_has_no_known_arithmetic() -> None:
    unknown = of_details({"runtime_info": ORT})  # `harness bench` stores no compression spec
    assert unknown.kind == "" and unknown.explain.startswith("not known")
    assert of_details({"compression_spec": [], "runtime_info": ORT}).kind == "fp32"
