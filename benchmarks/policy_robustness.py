"""Does augmentation buy robustness? Digits, the default CNN, one model per policy.

    python benchmarks/policy_robustness.py [--seeds 0 1 2]

For each policy: clean test accuracy and robust accuracy (the fixed perturbed copy of
the test set, harness.train.robust) with 95% Wilson intervals, and whether the policy's
robust accuracy beats `none`'s by more than the intervals (non-overlapping).
"""

from __future__ import annotations

import argparse

import numpy as np
import onnxruntime as ort

from harness.config.load import load_config
from harness.measure.metrics import wilson_interval
from harness.train.augment import parse_policy
from harness.train.datasets import load, split
from harness.train.robust import describe, perturb
from harness.train.training import INPUT_NAME, train

POLICIES = {
    "none": "none",
    "geometric": "geometric",
    "photometric": "photometric",
    "randaugment": {"preset": "randaugment", "n": 2, "m": 5},
    "trivialaugment": "trivialaugment",
    "autoaugment": "autoaugment",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    config = load_config(None)
    model = config.models[0]
    print(
        f"model {model.arch} width {model.width} depth {model.depth}; robust set: {describe('image')}"
    )
    print(
        f"{'policy':<15}{'seed':>5}{'clean':>8}{'robust':>8}  {'robust 95% CI':<16}{'vs none':>9}"
    )
    for seed in args.seeds:
        splits = split(load("digits", {}), seed, 0.15, 0.25)
        x_test, y = splits.test
        clean_x = splits.model_input(x_test)
        robust_x = splits.model_input(perturb(x_test, seed, "image"))
        baseline_high = None
        for name, spec in POLICIES.items():
            policy = parse_policy(name, spec, "image")
            trained = train(splits, model, policy, config.training, seed)
            session = ort.InferenceSession(trained.onnx_bytes, providers=["CPUExecutionProvider"])
            clean = int((session.run(None, {INPUT_NAME: clean_x})[0].argmax(1) == y).sum())
            robust = int((session.run(None, {INPUT_NAME: robust_x})[0].argmax(1) == y).sum())
            low, high = wilson_interval(robust, len(y))
            if name == "none":
                baseline_high, verdict = high, "-"
            else:
                verdict = "BEATS" if low > baseline_high else "overlaps"
            print(
                f"{name:<15}{seed:>5}{clean / len(y):>8.3f}{robust / len(y):>8.3f}"
                f"  [{low:.3f}, {high:.3f}]  {verdict:>9}"
            )
    print(f"n_test = {len(y)}; 'BEATS' = robust CI entirely above none's robust CI")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
