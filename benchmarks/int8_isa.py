"""Is ORT static int8 right on every CPU? The same trained models, quantized by ort_int8 for
each CPU it runs on, scored on ONNX Runtime's int8 kernels there.

    python benchmarks/int8_isa.py [--emulate EPYC-Milan --emulate Haswell ...]

Trains the default CNN and the mobile CNN on digits (natively), then on each CPU (this one,
and each `--emulate` CPU model run under QEMU user-mode emulation, `apt-get install
qemu-user`, whose CPUID ONNX Runtime and numpy both read) quantizes them with ort_int8 three
ways: `isa = "auto"` (what the sweep does), 8-bit weights forced, 7-bit weights forced.
Full-integer int8 QAT (`qat` bits 8, trained natively once per weight range) is scored the
same three ways: "qat auto" is the model a sweep on that CPU trains.
Prints test accuracy on the int8 kernels, on the same QDQ arithmetic run on float kernels
(graph optimizations off: identical on every CPU), and the drop against fp32.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx

MODELS = {
    "default cnn": None,  # the built-in default config's model
    "mobile cnn": {"arch": "mobile_cnn", "width": 16, "depth": 3},
}
CHOICES: dict[str, dict[str, Any]] = {
    "auto": {},
    "8-bit forced": {"reduce_range": False},
    "7-bit forced": {"reduce_range": True},
}
MAX_DROP_PT = 1.0
QAT_TARGETS = {8: "vnni", 7: "avx2"}  # weight bits -> a CPU family QAT trains them for
QAT_EPOCHS = 5


def prepare(folder: Path) -> None:
    """Train both models natively; save them with calibration and test data."""
    from harness.config.load import load_config, parse_config
    from harness.sweep.stages import calibration_data
    from harness.train.augment import parse_policy
    from harness.train.datasets import load, split
    from harness.train.training import train

    config = load_config(None)
    splits = split(load("digits", {}), config.seed, 0.15, 0.25)
    np.save(folder / "calibration.npy", calibration_data(splits, config.seed))
    np.save(folder / "x.npy", splits.model_input(splits.test[0]))
    np.save(folder / "y.npy", splits.test[1])
    policy = parse_policy("none", "none", "image")
    for name, arch in MODELS.items():
        spec, training = config.models[0], config.training
        if arch is not None:
            raw = {
                "dataset": {"name": "digits"}, "models": {"m": arch}, "policies": {"none": "none"},
                "training": {"epochs": 30, "threads": 2}, "compression": {"fp32": []},
                "runtimes": {"onnxruntime": {}},
            }  # fmt: skip
            mobile = parse_config(raw, "int8_isa", folder)
            spec, training = mobile.models[0], mobile.training
        trained = train(splits, spec, policy, training, config.seed)
        (folder / f"{name}.onnx").write_bytes(trained.onnx_bytes)
        for bits, family in QAT_TARGETS.items():
            done = _qat(spec, trained.state_dict, family, splits, policy, training, config.seed)
            (folder / f"{name}.qat{bits}.onnx").write_bytes(done.SerializeToString())


def _qat(spec, state, family, splits, policy, training, seed) -> onnx.ModelProto:  # noqa: ANN001
    """Full-integer int8 QAT of a trained model, for a CPU of `family`."""
    import io

    import torch
    from harness.models import ARCHITECTURES

    from harness.compress import PASSES
    from harness.train.qat import qat

    net = ARCHITECTURES.get(spec.arch)(
        splits.input_shape, splits.dataset.n_classes, spec.width, spec.depth
    )
    net.load_state_dict(torch.load(io.BytesIO(state), weights_only=True))
    step = PASSES.get("qat").from_params({"bits": 8, "epochs": QAT_EPOCHS, "isa": family})
    return qat(net.eval(), step, splits, policy, training, seed).model


def _accuracy(model: onnx.ModelProto, x: np.ndarray, y: np.ndarray, optimize: bool) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name
    return float((session.run(None, {name: x})[0].argmax(1) == y).mean())


def evaluate(folder: Path) -> None:
    """On this CPU: quantize each model each way, print one JSON line per result."""
    from harness.compress import PASSES, PassContext, apply_chain, for_cpu
    from harness.measure.machine import cpu_isa

    x, y = np.load(folder / "x.npy"), np.load(folder / "y.npy")
    calibration = np.load(folder / "calibration.npy")
    isa = cpu_isa()
    for name in MODELS:
        model = onnx.load(str(folder / f"{name}.onnx"))
        ctx = PassContext(calibration, model.graph.input[0].name)
        fp32 = _accuracy(model, x, y, optimize=True)
        for choice, params in CHOICES.items():
            passes = for_cpu([PASSES.get("ort_int8").from_params(params)], platform.machine(), isa)
            out, notes = apply_chain(model, passes, ctx)
            row = {
                "flags": isa, "model": name, "choice": choice, "isa": notes[0]["isa"],
                "bits": 7 if notes[0]["reduce_range"] else 8, "fp32": fp32,
                "kernels": _accuracy(out, x, y, optimize=True),
                "simulated": _accuracy(out, x, y, optimize=False),
            }  # fmt: skip
            print(json.dumps(row), flush=True)
        (qat,) = for_cpu([PASSES.get("qat").from_params({"bits": 8})], platform.machine(), isa)
        auto = qat.weight_bits()
        other = 7 if auto == 8 else 8
        for choice, bits in (("qat auto", auto), (f"qat {other}-bit", other)):
            out = onnx.load(str(folder / f"{name}.qat{bits}.onnx"))
            row = {
                "flags": isa, "model": name, "choice": choice, "isa": qat.isa, "bits": bits,
                "fp32": fp32, "kernels": _accuracy(out, x, y, optimize=True),
                "simulated": _accuracy(out, x, y, optimize=False),
            }  # fmt: skip
            print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--emulate", action="append", default=[], help="a QEMU CPU model")
    parser.add_argument("--evaluate", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.evaluate:
        evaluate(args.evaluate)
        return
    qemu = shutil.which("qemu-x86_64")
    if args.emulate and qemu is None:
        sys.exit("--emulate needs QEMU user-mode emulation: apt-get install qemu-user")
    with tempfile.TemporaryDirectory(prefix="int8-isa-") as tmp:
        print("training the default CNN and the mobile CNN ...", flush=True)
        prepare(Path(tmp))
        cpus = [("this machine", [])] + [(c, [str(qemu), "-cpu", c]) for c in args.emulate]
        print(
            f"{'cpu':<14}{'flags':<60}{'model':<13}{'choice':<14}{'isa':<8}{'bits':>4}"
            f"{'fp32':>8}{'kernels':>9}{'simul.':>8}{'drop pt':>9}"
        )
        for label, prefix in cpus:
            command = [*prefix, sys.executable, __file__, "--evaluate", tmp]
            proc = subprocess.run(command, capture_output=True, text=True, check=True)
            for line in proc.stdout.splitlines():
                r = json.loads(line)
                drop = (r["fp32"] - r["kernels"]) * 100
                verdict = "" if not r["choice"].endswith("auto") else (
                    "  meets" if drop <= MAX_DROP_PT else "  MISSES"
                ) + f" <= {MAX_DROP_PT:g} pt"  # fmt: skip
                print(
                    f"{label:<14}{' '.join(r['flags']):<60}{r['model']:<13}{r['choice']:<14}"
                    f"{r['isa']:<8}{r['bits']:>4}{r['fp32']:>8.4f}{r['kernels']:>9.4f}"
                    f"{r['simulated']:>8.4f}{drop:>9.2f}{verdict}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
