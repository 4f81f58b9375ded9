"""Model cards carry what an application needs: the file's real inputs and outputs, the
preprocessing with its constants, class names in output order, the runtime and memory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from harness.convert.tflite import onnx_to_tflite
from harness.measure.model_io import model_io
from harness.report.modelcard import export, export_name, model_card_markdown
from harness.store.results import CandidateRecord, Run

FACTS = {
    "kind": "image", "classes": ["cat", "dog", "owl"], "raw_sample_shape": [4, 4, 1],
    "raw_layout": "HWC, float32 in [0, 1]",
    "normalization": {"mean": [0.25], "std": [0.5]},
    "model_sample_shape": [1, 4, 4], "model_layout": "NCHW",
}  # fmt: skip


def _classifier(softmax: bool) -> onnx.ModelProto:
    """(N, 1, 4, 4) image -> Flatten -> Gemm -> (N, 3) scores."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(16, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(np.zeros(3, np.float32), "b")
    nodes = [
        helper.make_node("Flatten", ["image"], ["flat"]),
        helper.make_node("Gemm", ["flat", "w", "b"], ["scores" if not softmax else "logits"]),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["scores"], axis=1))
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 4, 4])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 3])],
        [w, b],
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _record(artifact: Path, runtime: str) -> CandidateRecord:
    return CandidateRecord(
        key="k", dataset="shapes", model="cnn", policy="rand aug/2", compression="prune 50% + int8",
        runtime=runtime, status="ok", metrics={"accuracy": 0.9, "file_bytes": 300.0},
        details={
            "runtime_info": {"name": runtime.split()[0], "version": "9.9", "settings": {"threads": 1}},
            "memory": {"model_rss_mb": 0.4, "process_peak_rss_mb": 61.5},
            "latency": {"runs": 200, "warmup": 20, "threads": 1, "batch": 1, "samples_ms": [0.1]},
        },
        artifact=str(artifact),
    )  # fmt: skip


RUN = Run(
    id=3, started_at="2026-01-01T00:00:00+00:00", finished_at=None, status="complete",
    config={"dataset": {"name": "shapes"}}, config_hash="c", harness_version="0.1.0",
    git_revision=None, machine={"cpu": "x86", "cores": 2, "os": "Linux"}, machine_hash="m",
    timings={},
)  # fmt: skip


def test_onnx_io_names_shapes_dtypes_and_softmax(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(_classifier(softmax=True), str(path))
    io = model_io(path)
    assert io["inputs"] == [{"name": "image", "shape": [None, 1, 4, 4], "dtype": "float32"}]
    assert io["outputs"] == [
        {"name": "scores", "shape": [None, 3], "dtype": "float32", "softmax": True}
    ]


def test_tflite_io_from_the_interpreter(tmp_path: Path) -> None:
    path = tmp_path / "m.tflite"
    path.write_bytes(onnx_to_tflite(_classifier(softmax=False)))
    io = model_io(path)
    assert [(t["shape"], t["dtype"]) for t in io["inputs"]] == [([None, 1, 4, 4], "float32")]
    assert [(t["shape"], t["dtype"]) for t in io["outputs"]] == [([None, 3], "float32")]


def test_export_names_the_file_and_writes_a_card_to_deploy_from(tmp_path: Path) -> None:
    path = tmp_path / "0123abcd.onnx"
    onnx.save(_classifier(softmax=False), str(path))
    record = _record(path, "onnxruntime")
    model, card_json, card_md = export(record, RUN, tmp_path / "out", FACTS)
    assert model.name == "cnn-rand_aug_2-prune_50_int8-onnxruntime.onnx"
    assert model.read_bytes() == path.read_bytes()
    card = json.loads(card_json.read_text())
    assert card["file"] == model.name
    assert card["input"]["tensors"][0]["name"] == "image"
    assert card["input"]["preprocessing"] == [
        "start from a sample as the dataset stores it: HWC, float32 in [0, 1]",
        "x = (x - mean) / std, per channel: mean = [0.25], std = [0.5]",
        "move channels first: (H, W, C) -> (C, H, W), then add the batch axis",
    ]
    assert card["output"]["classes"] == ["cat", "dog", "owl"]
    assert "logits" in card["output"]["meaning"]
    assert card["runtime"] == {"name": "onnxruntime", "version": "9.9", "settings": {"threads": 1}}
    assert card["memory"] == {"model_rss_mb": 0.4, "process_peak_rss_mb": 61.5}
    text = card_md.read_text()
    assert "| `image` | (N, 1, 4, 4) | float32 | - |" in text
    assert "Classes, in output order: cat, dog, owl" in text
    assert "0.4 MB added by loading the model" in text
    assert text == model_card_markdown(card)


def test_identity_normalization_is_not_a_step(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(_classifier(softmax=False), str(path))
    facts = {**FACTS, "normalization": {"mean": [0.0], "std": [1.0]}}
    card = json.loads(
        export(_record(path, "onnxruntime"), RUN, tmp_path / "o", facts)[1].read_text()
    )
    assert not any("mean" in step for step in card["input"]["preprocessing"])


def test_export_name_is_short_and_safe() -> None:
    record = _record(Path("x.tflite"), "litert int8")
    long = CandidateRecord(**{**record.__dict__, "policy": "p" * 300})
    assert export_name(record, ".tflite") == "cnn-rand_aug_2-prune_50_int8-litert_int8.tflite"
    assert len(export_name(long, ".tflite")) == 120 + len(".tflite")
