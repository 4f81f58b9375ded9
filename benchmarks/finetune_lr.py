"""Which learning rate recovers compressed models: fine-tuning at training.lr against a
third and a tenth of it, side by side in one run.

    python benchmarks/finetune_lr.py

Trains the default digits CNN (policy none), then for each structural setting fine-tunes
5 epochs (harness.train.finetune, best epoch by validation accuracy) at each rate and prints
the test accuracy (ONNX Runtime) of the result; "none" is the compressed model as is.
"""

from __future__ import annotations

import io

import onnx
import onnxruntime as ort
import torch
from harness.models import ARCHITECTURES

from harness.compress import PASSES, apply_chain
from harness.compress.base import PassContext
from harness.config.load import load_config
from harness.train.augment import parse_policy
from harness.train.datasets import load, split
from harness.train.finetune import finetune
from harness.train.training import INPUT_NAME, train

EPOCHS = 5
FACTORS = (0.1, 0.3, 1.0)
SETTINGS = {
    "prune 0.7": {"pass": "prune", "ratio": 0.7},
    "prune 0.9": {"pass": "prune", "ratio": 0.9},
    "prune 0.5 structured": {"pass": "prune", "ratio": 0.5, "structured": True},
    "svd rank 1/2": {"pass": "svd", "rank_ratio": 0.5},
    "svd rank 1/4": {"pass": "svd", "rank_ratio": 0.25},
}


def main() -> None:
    config = load_config(None)
    splits = split(load("digits", {}), config.seed, 0.15, 0.25)
    spec, policy = config.models[0], parse_policy("none", "none", "image")
    trained = train(splits, spec, policy, config.training, 0)
    x, y = splits.model_input(splits.test[0]), splits.test[1]

    def accuracy(model: onnx.ModelProto) -> float:
        session = ort.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        return float((session.run(None, {INPUT_NAME: x})[0].argmax(1) == y).mean())

    def net() -> torch.nn.Module:
        built = ARCHITECTURES.get(spec.arch)(
            splits.input_shape, splits.dataset.n_classes, spec.width, spec.depth
        )
        built.load_state_dict(torch.load(io.BytesIO(trained.state_dict), weights_only=True))
        return built.eval()

    lr = config.training.lr
    heads = "".join(f"{f'lr x{f:g}':>10}" for f in FACTORS)
    print(f"training lr {lr:g}, {EPOCHS} epochs; test accuracy, n_test = {len(y)}")
    print(f"{'setting':<22}{'none':>8}{heads}")
    base = onnx.load_from_string(trained.onnx_bytes)
    for name, step in SETTINGS.items():
        params = {k: v for k, v in step.items() if k != "pass"}
        passes = [PASSES.get(step["pass"]).from_params(params)]
        untuned, _ = apply_chain(base, passes, PassContext(input_name=INPUT_NAME))
        cells = []
        for factor in FACTORS:
            result = finetune(
                net(), passes, splits, policy, config.training, EPOCHS, config.seed, lr * factor
            )
            final, _ = apply_chain(result.model, list(result.remaining), PassContext())
            cells.append(f"{accuracy(final):>10.4f}")
        print(f"{name:<22}{accuracy(untuned):>8.4f}{''.join(cells)}")


if __name__ == "__main__":
    main()
