"""A model trained briefly on scikit-learn's digits, for the tests of the training steps
(distill, qat, qat after prune): one training per model spec per test process."""

from __future__ import annotations

from functools import cache
from typing import Any

from harness.config.load import ModelSpec, TrainingSpec
from harness.train.augment import parse_policy
from harness.train.datasets import Splits, load, split
from harness.train.training import train

FAST = TrainingSpec(
    epochs=3, batch_size=64, optimizer="adam", lr=0.01, weight_decay=0.0, patience=3, threads=1
)


@cache
def digits_trained(model: ModelSpec) -> tuple[Splits, Any, Any]:
    """(splits, the `none` policy, the TrainResult of `model` trained FAST from seed 0)."""
    splits = split(load("digits", {}), 0, 0.15, 0.25)
    policy = parse_policy("none", "none", "image")
    return splits, policy, train(splits, model, policy, FAST, seed=0)
