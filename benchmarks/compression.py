"""What each compression setting buys on the default digits CNN, measured side by side.

    python benchmarks/compression.py

Trains the default CNN (policy none), applies each setting through the harness's passes,
and prints file bytes, zlib bytes, MACs and test accuracy (ONNX Runtime) as ratios to
fp32, with the issue's targets checked.
"""

from __future__ import annotations

import onnx
import onnxruntime as ort

from harness.augment import parse_policy
from harness.compress import PASSES, apply_chain
from harness.compress.base import PassContext
from harness.config import load_config
from harness.datasets import load, split
from harness.size import onnx_size
from harness.stages import calibration_data
from harness.train import INPUT_NAME, train

SETTINGS = {
    "fp32": [],
    "int8 weight-only": [{"pass": "quantize", "bits": 8}],
    "int4 weight-only": [{"pass": "quantize", "bits": 4}],
    "int6 weight-only": [{"pass": "quantize", "bits": 6}],
    "float16": [{"pass": "float16"}],
    "ort int8 static": [{"pass": "ort_int8", "mode": "static", "calibrate": "minmax"}],
    "ort int8 entropy": [{"pass": "ort_int8", "mode": "static", "calibrate": "entropy"}],
    "ort int8 dynamic": [{"pass": "ort_int8", "mode": "dynamic"}],
    "prune 0.5": [{"pass": "prune", "ratio": 0.5}],
    "prune 0.5 structured": [{"pass": "prune", "ratio": 0.5, "structured": True}],
    "svd rank 1/2": [{"pass": "svd", "rank_ratio": 0.5}],
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


def main() -> None:
    config = load_config(None)
    splits = split(load("digits", {}), config.seed, 0.15, 0.25)
    trained = train(
        splits, config.models[0], parse_policy("none", "none", "image"), config.training, 0
    )
    model = onnx.load_from_string(trained.onnx_bytes)
    ctx = PassContext(calibration=calibration_data(splits, config.seed), input_name=INPUT_NAME)
    x, y = splits.model_input(splits.test[0]), splits.test[1]
    base = None
    print(f"{'setting':<22}{'file':>8}{'zlib':>8}{'MACs':>7}{'acc':>8}{'drop pt':>9}  target")
    for name, steps in SETTINGS.items():
        passes = [
            PASSES.get(s["pass"]).from_params({k: v for k, v in s.items() if k != "pass"})
            for s in steps
        ]
        out, notes = apply_chain(model, passes, ctx)
        size = onnx_size(out)
        session = ort.InferenceSession(out.SerializeToString(), providers=["CPUExecutionProvider"])
        acc = float((session.run(None, {INPUT_NAME: x})[0].argmax(1) == y).mean())
        if base is None:
            base = (size, acc)
        file_r = size.file_bytes / base[0].file_bytes
        zlib_r = size.compressed_bytes / base[0].compressed_bytes
        macs_r = size.macs / base[0].macs
        drop = (base[1] - acc) * 100
        verdict = ""
        if name in TARGETS:
            kind, ratio, max_drop = TARGETS[name]
            checks = []
            if kind == "file":
                checks.append(file_r <= ratio)
            if kind == "zlib":
                checks.append(zlib_r <= ratio)
            if kind == "file+macs":
                checks += [file_r <= ratio, macs_r <= ratio]
            if max_drop is not None:
                checks.append(drop <= max_drop)
            verdict = (
                "meets" if all(checks) else "MISSES"
            ) + f" ({kind or ''} <= {ratio}, drop <= {max_drop})"
        if name.startswith("svd"):
            dense = {n.name for n in model.graph.node if n.op_type in ("Gemm", "MatMul")}
            layers = notes[0]["layers"]
            before = sum(v["params"][0] for k, v in layers.items() if k in dense)
            after = sum(v["params"][1] for k, v in layers.items() if k in dense)
            verdict = f"dense-layer params {after / before:.2f}x " + (
                "meets <= 0.6" if after <= 0.6 * before else "MISSES <= 0.6"
            )
        print(
            f"{name:<22}{file_r:>8.3f}{zlib_r:>8.3f}{macs_r:>7.2f}{acc:>8.4f}{drop:>9.2f}  {verdict}"
        )
    print(
        f"fp32: {base[0].file_bytes} B file, {base[0].compressed_bytes} B zlib, {base[0].macs} MACs, acc {base[1]:.4f}; n_test = {len(y)}"
    )


if __name__ == "__main__":
    main()
