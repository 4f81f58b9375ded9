"""What distillation and quantization-aware training buy on the default digits CNN, and
what they cost in training seconds, measured side by side in one run.

    python benchmarks/distill_qat.py [--seeds N] [--workers N] [--epochs N]

Distillation, per augmentation policy of the default config: the default CNN is trained
(the teacher), then a student with <= 0.25x its parameters is trained from scratch and by
distillation (`distill`, T = 4, alpha = 0.9) with the same epochs, policy and seed. Test
accuracy (ONNX Runtime) with 95% Wilson intervals; the paired test is McNemar's exact test
on the test samples (pooled over seeds); "recovered" is (distilled - scratch) / (teacher -
scratch), the share of the gap distillation closes (target: >= 0.5 on some policy).

QAT: on every trained model (the teachers and the default sweep's other architectures),
post-training `quantize` at 4 bits against `qat` at 4 bits (weight-only, both), and ONNX
Runtime's static int8 quantizer (full-integer PTQ) against `qat` int8 with int8
activations; drops in points against fp32 (target: QAT 4-bit drop <= half of PTQ's, or
<= 0.5 pt). "fp32 ft" is the control: the fp32 model trained the same QAT epochs at the
same rate without fake quantization (what the extra epochs alone buy). The QAT exports
are also converted to .tflite and run by LiteRT.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import numpy as np
import onnx
import onnxruntime as ort
import torch
from ai_edge_litert.interpreter import Interpreter
from harness.models import ARCHITECTURES
from scipy.stats import binomtest

from harness.compress import PASSES, apply_chain
from harness.compress.base import PassContext
from harness.config.load import ModelSpec, load_config
from harness.convert.tflite import onnx_to_tflite
from harness.measure.metrics import wilson_interval
from harness.sweep.stages import calibration_data
from harness.train.datasets import load, split
from harness.train.distill import distill
from harness.train.qat import LR_FACTOR, qat
from harness.train.training import INPUT_NAME, export_onnx, fit, train

STUDENT = {"arch": "small_cnn", "width": 4, "depth": 2}
QAT_EPOCHS = 5
HARDER = {  # weight-only settings where PTQ loses more than at 4 bits per channel
    "int4 per tensor": {"bits": 4, "per_channel": False},
    "int3 per channel": {"bits": 3},
}
EXTRA_MODELS = (ModelSpec("mobile", "mobile_cnn", 16, 2), ModelSpec("mlp", "mlp", 64, 2))


def predict(model: bytes | onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    data = model if isinstance(model, bytes) else model.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, {INPUT_NAME: x})[0].argmax(1)


def litert_predict(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    interpreter = Interpreter(model_content=onnx_to_tflite(model))
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(inp["index"], list(x.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(out["index"]).argmax(1)


def acc_ci(correct: np.ndarray) -> str:
    lo, hi = wilson_interval(int(correct.sum()), len(correct))
    return f"{correct.mean():.4f} [{lo:.3f}, {hi:.3f}]"


def mcnemar(a: np.ndarray, b: np.ndarray) -> tuple[int, int, float]:
    """(only a right, only b right, exact two-sided p) over paired samples."""
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(b & ~a))
    p = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    return only_a, only_b, float(p)


def net_of(spec: ModelSpec, state: bytes, splits) -> torch.nn.Module:  # noqa: ANN001
    built = ARCHITECTURES.get(spec.arch)(
        splits.input_shape, splits.dataset.n_classes, spec.width, spec.depth
    )
    built.load_state_dict(torch.load(io.BytesIO(state), weights_only=True))
    return built.eval()


def _setup(epochs: int | None = None) -> tuple:  # noqa: ANN202
    """The default config (its training epochs replaced by `epochs`) and its splits."""
    config = load_config(None)
    if epochs:
        config = replace(config, training=replace(config.training, epochs=epochs))
    splits = split(load("digits", {}), config.seed, 0.15, 0.25)
    return config, splits


def policy_task(policy_name: str, seed: int, epochs: int | None, soft: dict) -> dict:
    """Teacher, scratch student and distilled student under one policy and seed (a worker)."""
    config, splits = _setup(epochs)
    training, teacher_spec = config.training, config.models[0]
    policy = next(p for p in config.policies if p.name == policy_name)
    x, y = splits.model_input(splits.test[0]), splits.test[1]
    step = PASSES.get("distill").from_params({"student": STUDENT, **soft})
    student_spec = ModelSpec("student", **STUDENT)
    t0 = time.perf_counter()
    teacher = train(splits, teacher_spec, policy, training, seed)
    t1 = time.perf_counter()
    scratch = train(splits, student_spec, policy, training, seed)
    t2 = time.perf_counter()
    taught = distill(teacher.onnx_bytes, step, splits, policy, training, seed)
    t3 = time.perf_counter()
    params = [
        sum(p.numel() for p in net_of(s, t.state_dict, splits).parameters())
        for s, t in ((teacher_spec, teacher), (student_spec, scratch))
    ]
    return {
        "policy": policy_name,
        "hits": {
            "teacher": predict(teacher.onnx_bytes, x) == y,
            "scratch": predict(scratch.onnx_bytes, x) == y,
            "distilled": predict(export_onnx(taught.student, splits), x) == y,
        },
        "secs": {"teacher": t1 - t0, "scratch": t2 - t1, "distilled": t3 - t2},
        "ratio": params[1] / params[0],
        "teacher": (teacher_spec, teacher.onnx_bytes, teacher.state_dict),
    }


def model_task(spec: ModelSpec, epochs: int | None) -> dict:
    config, splits = _setup(epochs)
    t0 = time.perf_counter()
    model = train(splits, spec, config.policies[0], config.training, 0)
    seconds = time.perf_counter() - t0
    return {"spec": spec, "onnx": model.onnx_bytes, "state": model.state_dict, "secs": seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="processes (one model each)")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the config's)")
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--alpha", type=float, default=0.9)
    parser.add_argument("--distill-only", action="store_true", help="skip the QAT tables")
    args = parser.parse_args()
    seeds = range(args.seeds)
    soft = {"temperature": args.temperature, "alpha": args.alpha}
    config, splits = _setup(args.epochs)
    training, teacher_spec = config.training, config.models[0]
    print(
        f"digits, n_test = {len(splits.test[1])}; teacher {teacher_spec.arch} "
        f"w{teacher_spec.width} d{teacher_spec.depth}, student {STUDENT}, {soft}; {training.epochs} "
        f"epochs (patience {training.patience}), seeds {list(seeds)}, {args.workers} workers",
        flush=True,
    )
    pool = ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn"))
    with pool:
        runs = [
            pool.submit(policy_task, p.name, seed, args.epochs, soft)
            for p in config.policies
            for seed in seeds
        ]
        models = () if args.distill_only else EXTRA_MODELS
        extra = [pool.submit(model_task, spec, args.epochs) for spec in models]
        done = [r.result() for r in runs]
        trained = {}
        for r in done:
            if r["policy"] not in {k.split(" / ")[1] for k in trained}:
                spec, onnx_bytes, state = r["teacher"]
                trained[f"{spec.name} / {r['policy']}"] = (
                    spec,
                    onnx_bytes,
                    state,
                    r["policy"],
                    r["secs"]["teacher"],
                )
        distill_table(config, done)
        if args.distill_only:
            return
        for e in (f.result() for f in extra):
            spec = e["spec"]
            trained[f"{spec.name} / {config.policies[0].name}"] = (
                spec, e["onnx"], e["state"], config.policies[0].name, e["secs"]
            )  # fmt: skip
        jobs = {name: pool.submit(qat_task, *item, args.epochs) for name, item in trained.items()}
        qat_table({name: job.result() for name, job in jobs.items()})


def distill_table(config, done: list[dict]) -> None:  # noqa: ANN001
    rows = []
    for policy in config.policies:
        mine = [r for r in done if r["policy"] == policy.name]
        pooled = {k: np.concatenate([r["hits"][k] for r in mine]) for k in mine[0]["hits"]}
        secs = {k: sum(r["secs"][k] for r in mine) for k in mine[0]["secs"]}
        acc = {k: float(v.mean()) for k, v in pooled.items()}
        gap = acc["teacher"] - acc["scratch"]
        recovered = (acc["distilled"] - acc["scratch"]) / gap if gap > 0 else float("nan")
        rows.append(
            (policy.name, pooled, recovered, mcnemar(pooled["distilled"], pooled["scratch"]), secs)
        )
    print(f"\nstudent/teacher parameters: {done[0]['ratio']:.3f}x (target <= 0.25x)")
    print("\nDistillation: test accuracy [95% CI], pooled over seeds")
    print(
        f"{'policy':<13}{'teacher':>24}{'scratch student':>24}{'distilled student':>24}"
        f"{'d-s pt':>8}{'recovered':>10}{'McNemar d/s, p':>18}{'train s t/s/d':>17}"
    )
    for name, pooled, recovered, (only_d, only_s, p), secs in rows:
        delta = (pooled["distilled"].mean() - pooled["scratch"].mean()) * 100
        timing = f"{secs['teacher']:.0f}/{secs['scratch']:.0f}/{secs['distilled']:.0f}"
        print(
            f"{name:<13}{acc_ci(pooled['teacher']):>24}{acc_ci(pooled['scratch']):>24}"
            f"{acc_ci(pooled['distilled']):>24}{delta:>+8.2f}{recovered:>10.2f}"
            f"{f'{only_d}/{only_s}, {p:.3g}':>18}{timing:>17}"
        )
    best = max((r[2] for r in rows if r[2] == r[2]), default=None)
    print(
        f"target (recovered >= 0.5 on some policy): {'met' if best and best >= 0.5 else 'NOT met'}",
        flush=True,
    )


def qat_task(
    spec: ModelSpec,
    onnx_bytes: bytes,
    state: bytes,
    policy_name: str,
    seconds: float,
    epochs: int | None,
) -> dict:
    """PTQ and QAT at 4 bits (weight-only) and int8 full-integer, on one trained model."""
    config, splits = _setup(epochs)
    policy = next(p for p in config.policies if p.name == policy_name)
    x, y = splits.model_input(splits.test[0]), splits.test[1]
    ctx = PassContext(calibration=calibration_data(splits, 0), input_name=INPUT_NAME)
    base = onnx.load_from_string(onnx_bytes)
    ptq4, _ = apply_chain(base, [PASSES.get("quantize").from_params({"bits": 4})], ctx)
    ort8, _ = apply_chain(base, [PASSES.get("ort_int8").from_params({})], ctx)
    out = {
        "fp32": float((predict(onnx_bytes, x) == y).mean()),
        "ptq4": float((predict(ptq4, x) == y).mean()),
        "ort8": float((predict(ort8, x) == y).mean()),
        "train_s": seconds,
    }
    # The control: the same epochs at the same rate without fake quantization, so the
    # table separates what quantization-awareness buys from what more training buys.
    tuned = net_of(spec, state, splits)
    rate = config.training.lr * LR_FACTOR
    fit(
        tuned, splits, policy, config.training, np.random.default_rng(0), epochs=QAT_EPOCHS, lr=rate
    )
    out["fp32_ft"] = float((predict(export_onnx(tuned, splits), x) == y).mean())
    for bits in (4, 8):
        q = PASSES.get("qat").from_params({"bits": bits, "epochs": QAT_EPOCHS})
        done = qat(net_of(spec, state, splits), q, splits, policy, config.training, 0)
        out[f"qat{bits}"] = float((predict(done.model, x) == y).mean())
        out[f"lite{bits}"] = float((litert_predict(done.model, x) == y).mean())
        out[f"qat{bits}_s"] = done.notes["train_seconds"]
    for name, params in HARDER.items():
        ptq, _ = apply_chain(base, [PASSES.get("quantize").from_params(params)], ctx)
        q = PASSES.get("qat").from_params({**params, "epochs": QAT_EPOCHS})
        done = qat(net_of(spec, state, splits), q, splits, policy, config.training, 0)
        out[name] = (
            float((predict(ptq, x) == y).mean()),
            float((predict(done.model, x) == y).mean()),
        )
    return out


def qat_table(results: dict[str, dict]) -> None:
    print(
        f"\nQAT ({QAT_EPOCHS} epochs at a tenth of the training lr): test accuracy, drop vs fp32 in points"
    )
    print(
        f"{'model':<22}{'fp32':>8}{'fp32 ft':>9}{'PTQ int4':>10}{'QAT int4':>10}{'drop P/Q':>13}"
        f"{'ORT int8':>10}{'QAT int8':>10}{'drop P/Q':>13}{'LiteRT Q4/Q8':>14}"
        f"{'train s / qat s 4, 8':>22}"
    )
    worst, met = ("", -1.0), []
    for name, r in results.items():
        d = [(r["fp32"] - r[k]) * 100 for k in ("ptq4", "qat4", "ort8", "qat8")]
        met.append(d[1] <= max(d[0] / 2, 0.5))
        if d[2] > worst[1]:
            worst = (name, d[2])
        lite = f"{r['lite4']:.4f}/{r['lite8']:.4f}"
        cost = f"{r['train_s']:.0f} / {r['qat4_s']:.0f}, {r['qat8_s']:.0f}"
        print(
            f"{name:<22}{r['fp32']:>8.4f}{r['fp32_ft']:>9.4f}{r['ptq4']:>10.4f}{r['qat4']:>10.4f}"
            f"{f'{d[0]:+.2f}/{d[1]:+.2f}':>13}{r['ort8']:>10.4f}{r['qat8']:>10.4f}"
            f"{f'{d[2]:+.2f}/{d[3]:+.2f}':>13}{lite:>14}{cost:>22}"
        )
    print(f"target (QAT int4 drop <= max(PTQ drop / 2, 0.5 pt)): met on {sum(met)} of {len(met)}")
    print(f"PTQ int8 (ORT static) loses most on: {worst[0]} ({worst[1]:+.2f} pt)")
    print("\nWhere post-training quantization loses more: drop vs fp32 in points, PTQ / QAT")
    print(f"{'model':<22}" + "".join(f"{name:>24}" for name in HARDER))
    for name, r in results.items():
        cells = [
            f"{(r['fp32'] - r[k][0]) * 100:+.2f} / {(r['fp32'] - r[k][1]) * 100:+.2f}"
            for k in HARDER
        ]
        print(f"{name:<22}" + "".join(f"{c:>24}" for c in cells))


if __name__ == "__main__":
    main()
