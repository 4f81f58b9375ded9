"""What each compression setting buys on the default digits CNN, measured side by side.

    python benchmarks/compression.py

Trains the default CNN (policy none), applies each setting through the harness's passes,
and prints file bytes, zlib bytes, MACs and test accuracy (ONNX Runtime) as ratios to
fp32, with the issue's targets checked. Structural settings (prune, svd) are also
fine-tuned for FINETUNE_EPOCHS epochs (harness.train.finetune) and their test accuracy after
recovery is printed beside the one without.
"""

from __future__ import annotations

import io

import numpy as np
import onnx
import onnxruntime as ort
import torch
from harness.models import ARCHITECTURES

from harness.compress import PASSES, apply_chain
from harness.compress.base import PassContext
from harness.compress.int8_isa import isa_family
from harness.compress.layers import weight_layers
from harness.config.load import load_config
from harness.measure.machine import describe_machine
from harness.measure.size import onnx_size
from harness.sweep.stages import calibration_data, for_this_cpu
from harness.train.augment import parse_policy
from harness.train.datasets import load, split
from harness.train.finetune import STRUCTURAL, finetune
from harness.train.training import INPUT_NAME, train

SETTINGS = {
    "fp32": [],
    "int8 weight-only": [{"pass": "quantize", "bits": 8}],
    "int4 weight-only": [{"pass": "quantize", "bits": 4}],
    "int6 weight-only": [{"pass": "quantize", "bits": 6}],
    "int8 conv + int4 dense": [
        {"pass": "quantize", "bits": 8, "layers": "conv"},
        {"pass": "quantize", "bits": 4, "layers": "dense"},
    ],
    "float16": [{"pass": "float16"}],
    "ort int8 static": [{"pass": "ort_int8", "mode": "static", "calibrate": "minmax"}],
    "ort int8 entropy": [{"pass": "ort_int8", "mode": "static", "calibrate": "entropy"}],
    "ort int8 dynamic": [{"pass": "ort_int8", "mode": "dynamic"}],
    "prune 0.5": [{"pass": "prune", "ratio": 0.5}],
    "prune 0.5 structured": [{"pass": "prune", "ratio": 0.5, "structured": True}],
    "prune 0.7": [{"pass": "prune", "ratio": 0.7}],
    "svd rank 1/2": [{"pass": "svd", "rank_ratio": 0.5}],
    "svd rank 1/2 dense": [{"pass": "svd", "rank_ratio": 0.5, "layers": "dense"}],
    "svd 1/2 keep out": [{"pass": "svd", "rank_ratio": 0.5, "keep_output": True}],
    "svd 1/2 dense keep out": [
        {"pass": "svd", "rank_ratio": 0.5, "layers": "dense", "keep_output": True}
    ],
    "svd 1/4 dense keep out": [
        {"pass": "svd", "rank_ratio": 0.25, "layers": "dense", "keep_output": True}
    ],
    "svd rank 1/4": [{"pass": "svd", "rank_ratio": 0.25}],
    "svd energy 0.9": [{"pass": "svd", "energy": 0.9}],
    "prune 0.5 + int4": [{"pass": "prune", "ratio": 0.5}, {"pass": "quantize", "bits": 4}],
}
TARGETS = {
    "int8 weight-only": ("file", 0.35, 0.5),
    "int4 weight-only": ("file", 0.25, 2.0),
    "ort int8 static": (None, None, 1.0),
    "prune 0.5": ("zlib", 0.65, None),
    "prune 0.5 structured": ("file+macs", 0.6, None),
}
FINETUNE_EPOCHS = 5


def accuracy(model: onnx.ModelProto, x: np.ndarray, y: np.ndarray) -> float:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return float((session.run(None, {INPUT_NAME: x})[0].argmax(1) == y).mean())


def verdict(name: str, file_r: float, zlib_r: float, macs_r: float, drop: float) -> str:
    if name not in TARGETS:
        return ""
    kind, ratio, max_drop = TARGETS[name]
    checks = {"file": [file_r], "zlib": [zlib_r], "file+macs": [file_r, macs_r]}.get(kind, [])
    ok = all(r <= ratio for r in checks) and (max_drop is None or drop <= max_drop)
    return ("meets" if ok else "MISSES") + f" ({kind or 'acc'} <= {ratio}, drop <= {max_drop})"


def dense_verdict(model: onnx.ModelProto, notes: list[dict]) -> str:
    """The issue's SVD target: weights of all dense (Gemm/MatMul) layers <= 0.6x, a layer
    left whole counting at 1.0x."""
    layers, _ = weight_layers(model.graph)
    done = notes[0]["layers"]
    before = after = 0
    for layer in layers:
        if layer.op in ("Gemm", "MatMul"):
            size = int(np.prod(layer.shape))
            before += size
            after += done[layer.label]["params"][1] if layer.label in done else size
    ok = "meets" if after <= 0.6 * before else "MISSES"
    return f"dense-layer weights {after / before:.2f}x {ok} <= 0.6"


def main() -> None:
    machine = describe_machine()
    print(f"CPU: {machine['cpu']} ({machine['arch']}), flags: {' '.join(machine['isa'])}")
    print(f"ort_int8 resolves isa = auto to: {isa_family(machine['arch'], machine['isa'])}")
    config = load_config(None)
    splits = split(load("digits", {}), config.seed, 0.15, 0.25)
    model_spec = config.models[0]
    policy = parse_policy("none", "none", "image")
    trained = train(splits, model_spec, policy, config.training, 0)
    model = onnx.load_from_string(trained.onnx_bytes)
    net = ARCHITECTURES.get(model_spec.arch)(
        splits.input_shape, splits.dataset.n_classes, model_spec.width, model_spec.depth
    )
    net.load_state_dict(torch.load(io.BytesIO(trained.state_dict), weights_only=True))
    net.eval()
    ctx = PassContext(calibration=calibration_data(splits, config.seed), input_name=INPUT_NAME)
    x, y = splits.model_input(splits.test[0]), splits.test[1]
    base = None
    print(
        f"{'setting':<22}{'file':>8}{'zlib':>8}{'MACs':>7}{'acc':>8}{'drop pt':>9}"
        f"{f'ft{FINETUNE_EPOCHS} acc':>10}  target"
    )
    for name, steps in SETTINGS.items():
        passes = for_this_cpu(  # as the sweep does: ort_int8 made for this machine's CPU
            [
                PASSES.get(s["pass"]).from_params({k: v for k, v in s.items() if k != "pass"})
                for s in steps
            ]
        )
        out, notes = apply_chain(model, passes, ctx)
        size = onnx_size(out)
        acc = accuracy(out, x, y)
        if base is None:
            base = (size, acc)
        file_r = size.file_bytes / base[0].file_bytes
        zlib_r = size.compressed_bytes / base[0].compressed_bytes
        macs_r = size.macs / base[0].macs
        drop = (base[1] - acc) * 100
        tuned = ""
        if steps and all(s["pass"] in STRUCTURAL for s in steps):
            result = finetune(
                net, passes, splits, policy, config.training, FINETUNE_EPOCHS, config.seed
            )
            recovered, _ = apply_chain(result.model, list(result.remaining), ctx)
            tuned = f"{accuracy(recovered, x, y):.4f}"
        text = verdict(name, file_r, zlib_r, macs_r, drop)
        if name.startswith(("svd rank 1/2", "svd 1/2")):
            text = dense_verdict(model, notes)
        print(
            f"{name:<22}{file_r:>8.3f}{zlib_r:>8.3f}{macs_r:>7.2f}{acc:>8.4f}{drop:>9.2f}"
            f"{tuned:>10}  {text}"
        )
        if name == "ort int8 static":
            print(f"{'':<22}made for {notes[0]['isa']}: {notes[0]['why']}")
    print(
        f"fp32: {base[0].file_bytes} B file, {base[0].compressed_bytes} B zlib, "
        f"{base[0].macs} MACs, acc {base[1]:.4f}; n_test = {len(y)}"
    )


if __name__ == "__main__":
    main()
