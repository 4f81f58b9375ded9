"""Does the harness add overhead to latency? Its p50 against a bare tight loop.

    python benchmarks/latency_overhead.py

Trains the default digits CNN (and the mobile CNN), converts it to LiteRT, then for
each runtime and batch size measures, in the same run and on the same machine:
  harness: the measurement subprocess (harness.measure.worker) as a sweep runs it;
  bare:    a tight loop in this process around the same runtime call the harness times
           (ORT run_with_iobinding with inputs bound; LiteRT invoke with the input set),
           timed with perf_counter_ns after the same warm-up.
Prints both p50s and harness/bare (target: within 10% of 1), and for context the p50 of
the plain API call (session.run with a feed dict; set_tensor + invoke + get_tensor),
whose extra cost is input/output copying that the harness keeps out of the figure.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from timing import loop_p50_ms

from harness.config.load import LatencySpec, ModelSpec, RuntimeSpec, TrainingSpec
from harness.convert.tflite import onnx_to_tflite
from harness.measure.runner import run_worker
from harness.measure.runtimes import RUNTIMES
from harness.train.augment import parse_policy
from harness.train.datasets import load, split
from harness.train.training import train

RUNS = 2000
LATENCY = LatencySpec(
    batch=1, warmup=200, min_runs=RUNS, min_seconds=1.0, max_runs=RUNS, timeout_seconds=600
)
TRAINING = TrainingSpec(
    epochs=3, batch_size=32, optimizer="adam", lr=0.003, weight_decay=0.0, patience=3, threads=1
)


def _p50(call: Callable[[], object]) -> float:
    return loop_p50_ms(call, RUNS, LATENCY.warmup)


def bare_loops(runtime: str, path: Path, x: np.ndarray) -> tuple[float, float]:
    """p50s in ms, in this process: (the same call the harness times, the plain API call)."""
    if runtime == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        binding = session.io_binding()
        binding.bind_cpu_input(name, x)
        binding.bind_output(session.get_outputs()[0].name, "cpu")
        same = _p50(lambda: session.run_with_iobinding(binding))
        plain = _p50(lambda: session.run(None, {name: x}))
        return same, plain
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=1)
    interp.allocate_tensors()
    index = interp.get_input_details()[0]["index"]
    out = interp.get_output_details()[0]["index"]
    interp.set_tensor(index, x)
    same = _p50(interp.invoke)

    def plain_call() -> None:
        interp.set_tensor(index, x)
        interp.invoke()
        interp.get_tensor(out)

    return same, _p50(plain_call)


def main() -> None:
    splits = split(load("digits", {}), 0, 0.15, 0.25)
    policy = parse_policy("none", "none", "image")
    print(
        f"{'model':<12}{'runtime':<13}{'harness p50 ms':>16}{'bare p50 ms':>14}"
        f"{'harness/bare':>14}{'plain-call p50':>16}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        x_all = splits.model_input(splits.test[0])
        np.save(Path(tmp) / "x.npy", x_all)
        for arch in ("small_cnn", "mobile_cnn"):
            trained = train(splits, ModelSpec(arch, arch, 16, 2), policy, TRAINING, 0)
            onnx_path = Path(tmp) / f"{arch}.onnx"
            onnx_path.write_bytes(trained.onnx_bytes)
            tflite_path = Path(tmp) / f"{arch}.tflite"
            tflite_path.write_bytes(onnx_to_tflite(onnx.load_from_string(trained.onnx_bytes)))
            for runtime, path in (("onnxruntime", onnx_path), ("litert", tflite_path)):
                settings = RUNTIMES.get(runtime).parse_settings({"threads": 1})
                result = run_worker(
                    path, RuntimeSpec(runtime, settings), [Path(tmp) / "x.npy"], LATENCY
                )
                harness_p50 = float(np.median(result.samples_ns)) / 1e6
                bare_p50, plain_p50 = bare_loops(runtime, path, np.ascontiguousarray(x_all[:1]))
                print(
                    f"{arch:<12}{runtime:<13}{harness_p50:>16.4f}{bare_p50:>13.4f}"
                    f"{harness_p50 / bare_p50:>14.3f}{plain_p50:>16.4f}"
                )


if __name__ == "__main__":
    main()
