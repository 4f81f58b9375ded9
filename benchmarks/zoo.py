"""Real architectures through the harness: convert, run, parity, and every default
compression setting, for torchvision's mobilenet_v2, mobilenet_v3_small and resnet18
exported by both of torch's ONNX exporters (TorchScript and dynamo).

    python benchmarks/zoo.py [--size 224] [--models resnet18,...]

The models are built at run time with random weights (benchmarks/zoo_models.py:
torchvision's own definitions where torchvision imports, and then --models takes any of its
classification models; else copies of the three), nothing is downloaded. Per model and runtime: convert ok or the reason, max |diff|
against ONNX Runtime (absolute and relative to the largest output; fp32 must be <= 1e-4
relative), p50 latency at batch 1. Per compression setting of the default sweep: ok with
what it did and the layers it left whole (with reasons), unchanged, or failed, and whether
the compressed graph converts to LiteRT.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).parent))

from zoo_models import ZOO, export  # noqa: E402

from harness.compress import PASSES, apply_chain  # noqa: E402
from harness.compress.base import PassContext  # noqa: E402
from harness.config.load import load_config  # noqa: E402
from harness.convert.tflite import onnx_to_tflite  # noqa: E402
from harness.errors import HarnessError  # noqa: E402
from harness.measure.runtimes import RUNTIMES  # noqa: E402
from harness.measure.size import file_size  # noqa: E402
from harness.specs import LatencySpec, RuntimeSpec  # noqa: E402
from harness.sweep.bench import BenchData, bench_file  # noqa: E402

RELATIVE_LIMIT = 1e-4
STRUCTURED = {"ratio": 0.5, "structured": True}


def _layers(notes: list[dict]) -> str:
    """'quantize: 53 layers, 2 left whole (reason; reason)' from a chain's notes."""
    parts = []
    for note in notes:
        if "quant_ops" in note:  # ort_int8 reports the quantized operators it wrote
            ops = ", ".join(f"{op} x{n}" for op, n in note["quant_ops"].items())
            parts.append(f"{note['pass']}: {ops}")
            continue
        done = next((note[k] for k in ("layers", "tensors", "zeros", "kept")
                     if k in note), None)  # fmt: skip
        count = len(done) if isinstance(done, list | dict) else done
        text = f"{note['pass']}: {count if count is not None else '?'} layers"
        if "sparsity" in note:
            text += f" ({note['sparsity']:.0%} zeros)"
        skipped = note.get("skipped") or {}
        if skipped:
            reasons = sorted({str(v) for v in skipped.values()}, key=len)[:2]
            text += f", {len(skipped)} left whole ({'; '.join(reasons)})"
        parts.append(text)
    return "; ".join(parts)


def _fp32(path: Path, x: np.ndarray) -> list[str]:
    runtimes = [RuntimeSpec(n, RUNTIMES.get(n).parse_settings({"threads": 1}), n)
                for n in ("onnxruntime", "litert")]  # fmt: skip
    latency = LatencySpec(1, 5, 20, 0.3, 2000, 600)
    records = bench_file(path, BenchData({"x": x}, None, "random images"), runtimes, latency)
    lines = []
    for r in records:
        if r.status != "ok":
            lines.append(f"  {r.runtime:<12} FAILED  {r.error}")
            continue
        parity = [p for p in r.details.get("parity", []) if "max_abs" in p]
        if parity:
            rel = max(p["max_rel"] for p in parity)
            verdict = "ok" if rel <= RELATIVE_LIMIT else "OVER 1e-4"
            text = f"max |diff| {max(p['max_abs'] for p in parity):.2e} ({rel:.2e} rel., {verdict})"
        else:
            text = "reference"
        p50 = r.metrics["latency_p50_ms"]
        lines.append(f"  {r.runtime:<12} ok      p50 {p50:8.3f} ms  {text}")
    return lines


def _compressions(model: onnx.ModelProto, calibration: np.ndarray) -> tuple[list[str], int]:
    settings = [(c.name, list(c.passes)) for c in load_config(None).compressions if c.passes]
    # Beyond the default sweep: channel pruning through residual and squeeze-excite blocks.
    settings.append(("prune 50% structured", [PASSES.get("prune").from_params(STRUCTURED)]))
    ctx = PassContext(calibration=calibration, input_name=model.graph.input[0].name)
    base, base_zlib = file_size(model.SerializeToString())
    lines, failed = [], 0
    for name, passes in settings:
        try:
            compressed, notes = apply_chain(model, passes, ctx)
        except HarnessError as exc:
            failed += 1
            lines.append(f"  {name:<10} FAILED  {str(exc).splitlines()[0]}")
            continue
        unchanged = [n["unchanged"] for n in notes if "unchanged" in n]
        if unchanged:
            failed += 1
            lines.append(f"  {name:<10} UNCHANGED  {'; '.join(unchanged)}")
            continue
        n_bytes, n_zlib = file_size(compressed.SerializeToString())
        size = f"{n_bytes / base:.2f}x size, {n_zlib / base_zlib:.2f}x zlib"
        try:
            onnx_to_tflite(compressed)
            litert = "litert converts"
        except HarnessError as exc:
            litert = f"litert: {str(exc).splitlines()[0]}"
        lines.append(f"  {name:<10} ok  {size}  {_layers(notes)}  [{litert}]")
    return lines, failed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--models", default=",".join(ZOO))
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3, args.size, args.size)).astype(np.float32)
    calibration = rng.normal(size=(8, 3, args.size, args.size)).astype(np.float32)
    total_failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            for dynamo in (False, True):
                started = time.perf_counter()
                exporter = "dynamo" if dynamo else "torchscript"
                data, source = export(name, dynamo, args.size)
                path = Path(tmp) / f"{name}_{exporter}.onnx"
                path.write_bytes(data)
                print(f"{name} ({source}, {exporter} exporter, {len(data) / 1e6:.1f} MB, "
                      f"{args.size}px)")  # fmt: skip
                for line in _fp32(path, x):
                    print(line)
                lines, failed = _compressions(onnx.load(str(path)), calibration)
                total_failed += failed
                for line in lines:
                    print(line)
                print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"compression settings failed or unchanged: {total_failed}")
    return 1 if total_failed else 0


if __name__ == "__main__":
    sys.exit(main())
