"""Training: real PyTorch, deterministic, exported ONNX checked against PyTorch."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

from harness.config.load import ModelSpec, TrainingSpec
from harness.train.augment import parse_policy
from harness.train.datasets import load, split
from harness.train.training import INPUT_NAME, train

FAST = TrainingSpec(
    epochs=8, batch_size=32, optimizer="adam", lr=0.003, weight_decay=0.0, patience=8, threads=1
)


def _accuracy(onnx_bytes: bytes, x: np.ndarray, y: np.ndarray) -> float:
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    return float((session.run(None, {INPUT_NAME: x})[0].argmax(1) == y).mean())


def test_same_seed_same_onnx_bytes_and_a_dynamic_batch_axis() -> None:
    splits = split(load("digits", {}), 0, 0.15, 0.25)
    model = ModelSpec("cnn", "small_cnn", 8, 1)
    policy = parse_policy("geometric", "geometric", "image")
    first = train(splits, model, policy, FAST, seed=1)
    second = train(splits, model, policy, FAST, seed=1)
    assert first.onnx_bytes == second.onnx_bytes
    assert first.metadata["best_val_accuracy"] == second.metadata["best_val_accuracy"]
    other = train(splits, model, policy, FAST, seed=2)
    assert other.onnx_bytes != first.onnx_bytes
    graph = onnx.load_from_string(first.onnx_bytes).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    x, y = splits.model_input(splits.test[0]), splits.test[1]
    assert _accuracy(first.onnx_bytes, x, y) > 0.8


def test_mlp_on_breast_cancer_with_tabular_noise_policy() -> None:
    splits = split(load("breast_cancer", {}), 0, 0.15, 0.25)
    policy = parse_policy("noise", "noise", "tabular")
    trained = train(splits, ModelSpec("mlp", "mlp", 16, 1), policy, FAST, seed=0)
    x, y = splits.model_input(splits.test[0]), splits.test[1]
    assert _accuracy(trained.onnx_bytes, x, y) > 0.9
    assert 1 <= trained.metadata["best_epoch"] <= trained.metadata["epochs"] <= FAST.epochs
