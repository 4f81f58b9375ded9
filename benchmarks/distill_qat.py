"""What distillation and quantization-aware training buy, and what they cost in training
seconds, measured side by side in one run: on the default digits CNN, or on tiny-vision's
ResNet-8 (`--example tiny-vision`).

    python benchmarks/distill_qat.py [--example default|tiny-vision] [--seeds N]
        [--workers N] [--epochs N] [--student-epochs N] [--student-patience N]
        [--soft T:alpha[:mixup] ...]
        [--cache DIR] [--distill-only] [--no-harder]

Distillation, per augmentation policy of the example's config: its first model is trained
(the teacher), then a student with <= 0.25x its parameters (`STUDENTS`) is trained from
scratch and by distillation (`distill`, one student per `--soft` setting, default T = 4,
alpha = 0.9; `T:alpha:mixup` adds distill's mixup) with the same epochs, policy and seed.
Test accuracy (ONNX Runtime) with 95% Wilson intervals; the paired test is McNemar's exact
test on the test samples (pooled over seeds); "recovered" is (distilled - scratch) /
(teacher - scratch), the share of the gap distillation closes (target: >= 0.5 on some
policy), with a paired bootstrap interval. Each policy's setting is picked by validation
accuracy, and the target is judged on that pick, so no setting is chosen on the test set.
`--policies` adds augmentation presets beside the config's; `--cache DIR` keeps every
trained and distilled model's results, so a rerun with more settings trains only those.

QAT: on every trained model (the teachers and, for the default example, the sweep's other
architectures), post-training `quantize` at 4 bits against `qat` at 4 bits (weight-only,
both), and ONNX Runtime's static int8 quantizer (full-integer PTQ) against `qat` int8 with
int8 activations; drops in points against fp32 (target: QAT 4-bit drop <= half of PTQ's,
or <= 0.5 pt). "fp32 ft" is the control: the fp32 model trained the same QAT epochs at the
same rate without fake quantization (what the extra epochs alone buy). The QAT exports
are also converted to .tflite and run by LiteRT.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import pickle
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

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
from harness.hashing import hash_bytes, hash_spec
from harness.measure.metrics import wilson_interval
from harness.sweep.stages import calibration_data, for_this_cpu
from harness.train.datasets import load, split
from harness.train.distill import distill
from harness.train.qat import LR_FACTOR, qat
from harness.train.training import INPUT_NAME, export_onnx, fit, train

STUDENTS = {  # the student per example: <= 0.25x the teacher's parameters
    "default": {"arch": "small_cnn", "width": 4, "depth": 2},  # 0.067x of small_cnn w16
    "tiny-vision": {"arch": "resnet8", "width": 7, "depth": 3},  # 0.196x of ResNet-8 w16
}
QAT_EPOCHS = 5
HARDER = {  # weight-only settings where PTQ loses more than at 4 bits per channel
    "int4 per tensor": {"bits": 4, "per_channel": False},
    "int3 per channel": {"bits": 3},
}
EXTRA_MODELS = {  # the default sweep's other architectures, for the QAT tables
    "default": (ModelSpec("mobile", "mobile_cnn", 16, 2), ModelSpec("mlp", "mlp", 64, 2)),
}
BOOTSTRAP = 2000  # resamples of the paired test predictions for the interval of "recovered"


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


def _setup(example: str, epochs: int | None = None, patience: int | None = None) -> tuple:  # noqa: ANN202
    """A built-in example config (its training epochs and patience replaced by `epochs` and
    `patience` where given) and its splits."""
    config = load_config(None, example)
    if epochs:
        config = replace(config, training=replace(config.training, epochs=epochs))
    if patience:
        config = replace(config, training=replace(config.training, patience=patience))
    ds = config.dataset
    splits = split(load(ds.name, ds.params), config.seed, ds.val_fraction, ds.test_fraction)
    return config, splits


def _policy(config, name: str):  # noqa: ANN001, ANN202
    """The config's policy of that name, or else the preset of that name (`--policies`)."""
    from harness.train.augment import parse_policy

    found = [p for p in config.policies if p.name == name]
    return found[0] if found else parse_policy(name, name, "image")


def _cached(cache: str | None, kind: str, key_spec: list, compute):  # noqa: ANN001, ANN202
    """compute(), or its result from an earlier run kept in the `cache` folder."""
    name = f"{kind}-{hash_spec([*key_spec, torch.__version__])}.pkl"
    path = Path(cache) / name if cache else None
    if path is not None and path.exists():
        return pickle.loads(path.read_bytes())
    out = compute()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(out))
    return out


def train_task(  # noqa: ANN201
    example: str, spec: ModelSpec, policy_name: str, seed: int, epochs: int | None,
    cache: str | None = None, patience: int | None = None,
):  # fmt: skip
    """Train one model (teacher, scratch student or an extra model) in a worker; with
    `cache`, a folder, reuse the result of the same training from an earlier run."""
    config, splits = _setup(example, epochs, patience)

    def compute() -> dict:
        t0 = time.perf_counter()
        model = train(splits, spec, _policy(config, policy_name), config.training, seed)
        seconds = time.perf_counter() - t0
        x, y = splits.model_input(splits.test[0]), splits.test[1]
        params = sum(p.numel() for p in net_of(spec, model.state_dict, splits).parameters())
        return {
            "spec": spec,
            "onnx": model.onnx_bytes,
            "state": model.state_dict,
            "secs": seconds,
            "hits": predict(model.onnx_bytes, x) == y,
            "val": model.metadata["best_val_accuracy"],
            "best_epoch": model.metadata["best_epoch"],
            "params": params,
        }

    key = [example, spec, policy_name, seed, config.training, config.dataset]
    return _cached(cache, "train", key, compute)


def distill_task(
    example: str, teacher_onnx: bytes, student: dict, soft: dict, policy_name: str, seed: int,
    epochs: int | None, cache: str | None = None, patience: int | None = None,
) -> dict:  # fmt: skip
    """Distil one student from a trained teacher, same policy, seed and epochs as scratch."""
    config, splits = _setup(example, epochs, patience)
    step = PASSES.get("distill").from_params({"student": student, **soft})

    def compute() -> dict:
        t0 = time.perf_counter()
        policy = _policy(config, policy_name)
        taught = distill(teacher_onnx, step, splits, policy, config.training, seed)
        seconds = time.perf_counter() - t0
        x, y = splits.model_input(splits.test[0]), splits.test[1]
        return {
            "secs": seconds,
            "hits": predict(export_onnx(taught.student, splits), x) == y,
            "val": taught.notes["val_accuracy"],
            "best_epoch": taught.notes["best_epoch"],
        }

    teacher = hash_bytes(teacher_onnx)
    key = [example, teacher, step.spec(), policy_name, seed, config.training, config.dataset]
    return _cached(cache, "distill", key, compute)


def _soft(text: str) -> dict:
    """'4:0.9' -> {"temperature": 4.0, "alpha": 0.9}; '4:0.9:0.5' adds mixup 0.5."""
    t, a, *mix = text.split(":")
    return {"temperature": float(t), "alpha": float(a), **({"mixup": float(mix[0])} if mix else {})}


def _label(soft: dict) -> str:
    mix = f":{soft['mixup']:g}" if soft.get("mixup") else ""
    return f"{soft['temperature']:g}:{soft['alpha']:g}{mix}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--example", default="default", help="default | tiny-vision")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="processes (one model each)")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the config's)")
    parser.add_argument(
        "--student-epochs", type=int,
        help="epochs of both students, scratch and distilled (default: the teacher's)",
    )  # fmt: skip
    parser.add_argument(
        "--student-patience", type=int,
        help="early-stopping patience of both students (default: the config's); set it to "
        "the students' epochs so both run every epoch of their cosine schedule",
    )  # fmt: skip
    parser.add_argument(
        "--soft", nargs="+", type=_soft, default=[_soft("4:0.9")],
        help="distillation settings T:alpha[:mixup], one distilled student each (default 4:0.9)",
    )  # fmt: skip
    parser.add_argument("--cache", help="folder keeping trained and distilled models' results")
    parser.add_argument(
        "--policies", nargs="+", help="augmentation presets (default: the config's policies)"
    )
    parser.add_argument("--distill-only", action="store_true", help="skip the QAT tables")
    parser.add_argument("--no-harder", action="store_true", help="skip int4 per tensor, int3")
    args = parser.parse_args()
    ex, seeds, epochs = args.example, range(args.seeds), args.epochs
    student_epochs = args.student_epochs or epochs
    patience = args.student_patience
    config, splits = _setup(ex, epochs)
    if args.policies:
        config = replace(config, policies=tuple(_policy(config, p) for p in args.policies))
    training, teacher_spec, student = config.training, config.models[0], STUDENTS[ex]
    student_spec = ModelSpec("student", **student)
    print(
        f"{config.dataset.name}, n_test = {len(splits.test[1])}; teacher {teacher_spec.arch} "
        f"w{teacher_spec.width} d{teacher_spec.depth}, student {student}, soft {args.soft}; "
        f"{training.epochs} epochs, patience {training.patience} (students "
        f"{student_epochs or training.epochs}, patience {patience or training.patience}), seeds {list(seeds)}, "
        f"{args.workers} workers",
        flush=True,
    )
    pool = ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn"))
    with pool:
        runs = [(p.name, seed) for seed in seeds for p in config.policies]  # seed 0 first
        teachers = {
            r: pool.submit(train_task, ex, teacher_spec, *r, epochs, args.cache) for r in runs
        }
        scratch = {
            r: pool.submit(train_task, ex, student_spec, *r, student_epochs, args.cache, patience)
            for r in runs
        }
        extras = () if args.distill_only else EXTRA_MODELS.get(ex, ())
        policy0 = config.policies[0].name
        extra = {s.name: pool.submit(train_task, ex, s, policy0, 0, epochs) for s in extras}
        taught = {
            (r, i): pool.submit(
                distill_task,
                ex,
                teachers[r].result()["onnx"],
                student,
                soft,
                *r,
                student_epochs,
                args.cache,
                patience,
            )
            for r in runs
            for i, soft in enumerate(args.soft)
        }
        # QAT starts as soon as its model is trained, while the students still distil.
        trained = {} if args.distill_only else {
            f"{teacher_spec.name} / {p.name}": (teachers[(p.name, 0)], p.name)
            for p in config.policies
        }  # fmt: skip
        trained.update({f"{n} / {policy0}": (f, policy0) for n, f in extra.items()})
        jobs = {
            name: pool.submit(
                qat_task, ex, t.result()["spec"], t.result()["onnx"], t.result()["state"], p,
                t.result()["secs"], epochs, not args.no_harder,
            )
            for name, (t, p) in trained.items()
        }  # fmt: skip
        results = {
            r: {
                "teacher": teachers[r].result(),
                "scratch": scratch[r].result(),
                **{f"distilled {i}": taught[(r, i)].result() for i in range(len(args.soft))},
            }
            for r in runs
        }
        distill_table(config, args.soft, results)
        if args.distill_only:
            return
        qat_table({name: job.result() for name, job in jobs.items()})


def recovered_interval(
    teacher: np.ndarray, scratch: np.ndarray, taught: np.ndarray, rng: np.random.Generator
) -> tuple[float, float]:
    """95% percentile interval of the recovered share, resampling test samples (paired)."""
    n = len(teacher)
    idx = rng.integers(0, n, size=(BOOTSTRAP, n))
    t, s, d = (a[idx].mean(axis=1) for a in (teacher, scratch, taught))
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(t - s > 0, (d - s) / (t - s), np.nan)
    share = share[np.isfinite(share)]
    return float(np.percentile(share, 2.5)), float(np.percentile(share, 97.5))


def distill_table(config, softs: list[dict], results: dict) -> None:  # noqa: ANN001
    first = next(iter(results.values()))
    ratio = first["scratch"]["params"] / first["teacher"]["params"]
    print(f"\nstudent/teacher parameters: {ratio:.3f}x (target <= 0.25x)")
    print("Distillation: test accuracy [95% Wilson CI], pooled over seeds; 'recovered' is")
    print("(distilled - scratch) / (teacher - scratch) with a paired bootstrap 95% interval;")
    print("'val s/d': validation accuracy of scratch / distilled (mean over seeds), which picks")
    print("each policy's setting (*): the target is judged on that pick, never on test")
    print(
        f"{'policy':<13}{'T:alpha:mix':>12}{'teacher':>24}{'scratch student':>24}"
        f"{'distilled student':>24}{'d-s pt':>8}{'recovered [95%]':>22}{'McNemar d/s, p':>18}"
        f"{'val s/d':>14}{'train s t/s/d':>17}"
    )
    rng, picked = np.random.default_rng(0), []
    for policy in config.policies:
        mine = [v for (p, _), v in results.items() if p == policy.name]
        pooled = {k: np.concatenate([m[k]["hits"] for m in mine]) for k in mine[0]}
        secs = {k: sum(m[k]["secs"] for m in mine) for k in mine[0]}
        val = {k: float(np.mean([m[k]["val"] for m in mine])) for k in mine[0]}
        pick = max(range(len(softs)), key=lambda i: val[f"distilled {i}"])
        for i, soft in enumerate(softs):
            t, s, d = pooled["teacher"], pooled["scratch"], pooled[f"distilled {i}"]
            gap = t.mean() - s.mean()
            recovered = (d.mean() - s.mean()) / gap if gap > 0 else float("nan")
            lo, hi = recovered_interval(t, s, d, rng)
            if i == pick:
                picked.append((policy.name, recovered, lo))
            only_d, only_s, p = mcnemar(d, s)
            timing = f"{secs['teacher']:.0f}/{secs['scratch']:.0f}/{secs[f'distilled {i}']:.0f}"
            vals = f"{val['scratch']:.3f}/{val[f'distilled {i}']:.3f}"
            label = _label(soft) + ("*" if i == pick else " ")
            print(
                f"{policy.name:<13}{label:>12}{acc_ci(t):>24}{acc_ci(s):>24}{acc_ci(d):>24}"
                f"{(d.mean() - s.mean()) * 100:>+8.2f}"
                f"{f'{recovered:.2f} [{lo:.2f}, {hi:.2f}]':>22}"
                f"{f'{only_d}/{only_s}, {p:.3g}':>18}"
                f"{vals:>14}{timing:>17}"
            )
    met = [name for name, recovered, _ in picked if recovered >= 0.5]
    sure = [name for name, _, lo in picked if lo >= 0.5]
    print(
        "target (recovered >= 0.5 on some policy, setting picked on validation): "
        + (f"met on {', '.join(met)}" if met else "NOT met")
        + (f"; its interval's lower end >= 0.5 on {', '.join(sure)}" if sure else ""),
        flush=True,
    )


def qat_task(
    example: str,
    spec: ModelSpec,
    onnx_bytes: bytes,
    state: bytes,
    policy_name: str,
    seconds: float,
    epochs: int | None,
    harder: bool,
) -> dict:
    """PTQ and QAT at 4 bits (weight-only) and int8 full-integer, on one trained model."""
    config, splits = _setup(example, epochs)
    policy = _policy(config, policy_name)
    x, y = splits.model_input(splits.test[0]), splits.test[1]
    ctx = PassContext(calibration=calibration_data(splits, 0), input_name=INPUT_NAME)
    base = onnx.load_from_string(onnx_bytes)
    ptq4, _ = apply_chain(base, [PASSES.get("quantize").from_params({"bits": 4})], ctx)
    # int8 for this machine's CPU (7-bit weights where its int8 kernels would saturate)
    ort8, _ = apply_chain(base, for_this_cpu([PASSES.get("ort_int8").from_params({})]), ctx)
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
        (q,) = for_this_cpu([PASSES.get("qat").from_params({"bits": bits, "epochs": QAT_EPOCHS})])
        done = qat(net_of(spec, state, splits), q, splits, policy, config.training, 0)
        out[f"qat{bits}"] = float((predict(done.model, x) == y).mean())
        out[f"lite{bits}"] = float((litert_predict(done.model, x) == y).mean())
        out[f"qat{bits}_s"] = done.notes["train_seconds"]
    for name, params in HARDER.items() if harder else ():
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
    if not all(k in r for r in results.values() for k in HARDER):
        return
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
