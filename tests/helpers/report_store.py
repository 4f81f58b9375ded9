"""A results store with synthetic but realistic rows, written through the real Store API.

Three runs of 1 model x 3 policies x 6 compressions x 2 runtimes on a 10-class dataset, one
failed candidate per run, the second run on another machine, and the third run regressing
a few series. `hostile=True` names things the way an attacker would.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.hashing import hash_spec
from harness.store.results import CandidateRecord, Store

XSS = ("</script><script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
CLASSES = tuple(str(i) for i in range(10))
POLICIES = ("none", "geometric", "randaugment")
COMPRESSIONS = {  # name -> (file bytes, accuracy drop, latency factor)
    "fp32": (42_000, 0.0, 1.0),
    "int8": (12_500, 0.002, 0.8),
    "int4": (7_300, 0.02, 0.9),
    "prune 50%": (42_000, 0.006, 1.0),
    "svd 50%": (24_000, 0.015, 0.7),
    "ort int8": (13_900, 0.004, 1.6),
}
RUNTIMES = {"onnxruntime": 0.045, "litert": 0.031}  # p50 ms of the fp32 model
MACHINES = ("machine-a", "machine-b")
REGRESSED = {  # in run 3: (policy, compression, runtime) -> what got worse
    ("none", "int8", "onnxruntime"): "accuracy",
    ("geometric", "int4", "litert"): "file_bytes",
    ("randaugment", "svd 50%", "onnxruntime"): "latency_p50_ms",
}
FAILED = ("randaugment", "ort int8", "litert")


@dataclass(frozen=True)
class Fixture:
    store: Store
    run_ids: tuple[int, ...]
    model_dir: Path


def make_store(tmp_path: Path, runs: int = 3, hostile: bool = False) -> Fixture:
    """A store in tmp_path; artifacts (small files) for the latest run's candidates."""
    store = Store(tmp_path / "results.db")
    model_dir = tmp_path / "artifacts"
    model_dir.mkdir(exist_ok=True)
    run_ids = []
    for n in range(1, runs + 1):
        machine = MACHINES[1] if n == 2 else MACHINES[0]
        run_id = store.start_run(
            started_at=f"2026-01-0{n}T09:30:00+00:00",
            config={"name": "digits-default", "seed": 0, "latency": {"batch": 1}},
            config_hash="cfg", harness_version="0.1.0", git_revision=f"abc{n}",
            machine={"cpu": f"Test CPU {machine}", "cores": 2, "os": "Linux", "python": "3.11.9",
                     "versions": {"numpy": "2.4.6", "onnxruntime": "1.32.0"}},
            machine_hash=machine,
        )  # fmt: skip
        for record in _records(n, runs, hostile, model_dir if n == runs else None):
            store.add_candidate(run_id, record, f"2026-01-0{n}T10:00:00+00:00")
        store.finish_run(
            run_id, finished_at=f"2026-01-0{n}T10:05:00+00:00", status="complete",
            timings={"data": 0.4, "train": 41.0, "compress": 3.2, "convert": 2.1,
                     "measure": 30.5, "total": 77.2},
        )  # fmt: skip
        run_ids.append(run_id)
    return Fixture(store, tuple(run_ids), model_dir)


def _records(
    run: int, last_run: int, hostile: bool, model_dir: Path | None
) -> list[CandidateRecord]:
    rng = np.random.default_rng(run)
    model = f"cnn{XSS[0]}" if hostile else "cnn"
    out = []
    for p, policy in enumerate(POLICIES):
        policy_name = f"{policy}{XSS[1]}" if hostile and p == 0 else policy
        base_acc = 0.955 + 0.01 * p
        for compression, (size, drop, factor) in COMPRESSIONS.items():
            comp_name = (
                f"{compression}{XSS[1]}" if hostile and compression == "int4" else compression
            )
            for runtime, p50 in RUNTIMES.items():
                key = hash_spec(
                    {"model": model, "policy": policy_name, "c": comp_name, "r": runtime}
                )
                regressed = (
                    REGRESSED.get((policy, compression, runtime)) if run == last_run else None
                )
                if (policy, compression, runtime) == FAILED:
                    error = (
                        f"convert: unsupported on litert: QLinearConv{XSS[0] if hostile else ''}"
                    )
                    out.append(_failed(key, model, policy_name, comp_name, runtime, error))
                    continue
                acc = base_acc - drop - (0.02 if regressed == "accuracy" else 0.0)
                file_bytes = size + (800 if regressed == "file_bytes" else 0)
                latency = p50 * factor * (1.5 if regressed == "latency_p50_ms" else 1.0)
                latency *= 1.3 if run == 2 else 1.0  # run 2 is on a slower machine
                artifact = None
                if model_dir is not None:
                    suffix = "onnx" if runtime == "onnxruntime" else "tflite"
                    artifact = model_dir / f"{XSS[1] if hostile else ''}{key}.{suffix}"
                    artifact.write_bytes(b"model bytes " + key.encode())
                # A regressed candidate is a changed file; the others' files stay the same,
                # so their latency changes are the noise the regressions are judged against.
                sha = hash_spec({"file": key, "changed": regressed is not None}, length=64)
                out.append(
                    _ok(key, model, policy_name, comp_name, runtime, acc, file_bytes,
                        latency, rng, artifact, sha)
                )  # fmt: skip
    return out


def _failed(
    key: str, model: str, policy: str, comp: str, runtime: str, error: str
) -> CandidateRecord:
    return CandidateRecord(
        key=key, dataset="digits", model=model, policy=policy, compression=comp,
        runtime=runtime, status="failed", error=error, metrics={},
        details={"runtime_info": {"name": runtime, "version": None, "settings": {"threads": 1}}},
    )  # fmt: skip


def _ok(
    key: str, model: str, policy: str, comp: str, runtime: str, acc: float, file_bytes: int,
    p50: float, rng: np.random.Generator, artifact: Path | None, sha: str | None = None,
) -> CandidateRecord:  # fmt: skip
    n_test = 450
    correct = round(acc * n_test)
    confusion = np.zeros((10, 10), dtype=int)
    per_class_n = n_test // 10
    wrong = n_test - correct
    for i in range(10):
        confusion[i, i] = per_class_n
    for w in range(wrong):  # mistakes spread over classes, never on the diagonal
        i = w % 10
        confusion[i, i] -= 1
        confusion[i, (i + 1 + (w // 10) % 9) % 10] += 1
    samples = np.round(p50 * rng.lognormal(0.0, 0.12, 500), 6)
    metrics: dict[str, Any] = {
        "accuracy": correct / n_test, "accuracy_low": correct / n_test - 0.02,
        "accuracy_high": min(1.0, correct / n_test + 0.015), "robust_accuracy": acc - 0.06,
        "n_test": n_test, "file_bytes": file_bytes, "compressed_bytes": int(file_bytes * 0.8),
        "params": 9_834, "nonzeros": 4_917 if "prune" in comp else 9_834, "macs": 151_296,
        "latency_mean_ms": float(samples.mean()), "latency_std_ms": float(samples.std()),
        "latency_min_ms": float(samples.min()),
        "latency_p50_ms": float(np.percentile(samples, 50)),
        "latency_p90_ms": float(np.percentile(samples, 90)),
        "latency_p99_ms": float(np.percentile(samples, 99)),
        "throughput_per_s": 1000.0 / float(samples.mean()), "load_ms": 3.2, "peak_rss_mb": 61.5,
    }  # fmt: skip
    if runtime != "onnxruntime":
        metrics["parity_max_abs"] = 1.2e-6
        metrics["parity_agreement"] = 1.0
    support = confusion.sum(1)
    predicted = confusion.sum(0)
    per_class = [
        {
            "label": CLASSES[i],
            "precision": float(confusion[i, i] / predicted[i]) if predicted[i] else 0.0,
            "recall": float(confusion[i, i] / support[i]),
            "f1": 0.9,
            "support": int(support[i]),
        }
        for i in range(10)
    ]
    details = {
        "confusion": confusion.tolist(), "classes": list(CLASSES), "per_class": per_class,
        "latency": {"samples_ms": samples.tolist(), "runs": 1200, "warmup": 20, "threads": 1, "batch": 1},
        "training": {"epochs": 30, "best_epoch": 22, "best_val_accuracy": acc + 0.01,
                     "train_seconds": 12.5, "seed": 0},
        "policy_spec": {"preset": policy}, "policy_describe": f"{policy}: rotate, noise",
        "compression_spec": [{"pass": "quantize", "bits": 8}], "compression_notes": [{"pass": "quantize", "tensors": 4}],
        "runtime_info": {"name": runtime, "version": "1.0", "settings": {"threads": 1}},
        "model_spec": {"arch": "small_cnn", "width": 8, "depth": 2},
    }  # fmt: skip
    return CandidateRecord(
        key=key, dataset="digits", model=model, policy=policy, compression=comp,
        runtime=runtime, status="ok", metrics=metrics, details=details,
        artifact=str(artifact) if artifact else None, artifact_sha256=sha, runtime_version="1.0",
    )  # fmt: skip
