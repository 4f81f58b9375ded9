"""Time `build_site` on a large synthetic store: 10,000 candidates x 30 runs by default.

    python benchmarks/report_scale.py [--candidates N] [--runs R] [--keep DIR]

Every row carries full details (confusion matrix, per-class metrics, 500 latency samples),
as a real sweep stores them. Prints the seconds `build_site` takes (its candidate pages are
written by the page workers as they render, so rendering and writing overlap) and the CPU
seconds it used here and in its page workers (on a busy machine, the wall time says more
about the neighbours), the size of index.html and history.html, and the files written.
Targets: build_site under 15 s; index.html under 3 MB (plotly.js excluded).
With --keep DIR the synthesized store is kept and reused by the next call.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from harness.report.render import build_site
from harness.store.results import CandidateRecord, Store

RUNTIMES = ("onnxruntime", "litert")
CLASSES = [str(i) for i in range(10)]
START = datetime(2026, 1, 1)
RUNS_ON_OLD_MACHINE = 10  # the first runs measured on another machine
SKIPPED = ("plotly.min.js", ".harness-site")  # not counted in the files line


def grid(n: int) -> list[tuple[str, str, str, str]]:
    """n (model, policy, compression, runtime) combinations: 5 models x 25 policies x as many
    compressions as it takes x 2 runtimes; the first compression is the fp32 baseline."""
    per_model_policy = max(1, n // (5 * 25 * len(RUNTIMES)))
    families = ("int8", "int4", "prune", "svd")
    compressions = ["fp32"] + [f"{families[c % 4]} {c}" for c in range(1, per_model_policy)]
    combos = [
        (f"cnn-w{4 * (m + 1)}", f"policy-{p:02d}", compression, runtime)
        for m in range(5)
        for p in range(25)
        for compression in compressions
        for runtime in RUNTIMES
    ]
    return combos[:n]


def record(
    index: int, combo: tuple[str, str, str, str], run: int, rng: np.random.Generator
) -> CandidateRecord:
    """One candidate of one run: stable per series, with noise, slower on the older machine,
    and now and then a failure or a regression."""
    model, policy, compression, runtime = combo
    key = "|".join(combo)
    if rng.random() < 0.01:
        return CandidateRecord(
            key=key, dataset="digits", model=model, policy=policy, compression=compression,
            runtime=runtime, status="failed", error="measure: worker timed out after 600 s",
        )  # fmt: skip
    base = np.random.default_rng(index)  # the series' own, run-independent values
    acc = float(np.clip(base.normal(0.95, 0.02), 0.5, 1.0)) - (0.01 if rng.random() < 0.01 else 0)
    size = int(base.integers(4_000, 400_000) * (1.02 if rng.random() < 0.005 else 1))
    p50 = base.uniform(0.02, 3.0) * (1.3 if run <= RUNS_ON_OLD_MACHINE else 1.0)
    p50 *= rng.lognormal(0, 0.03) * (1.2 if rng.random() < 0.01 else 1)
    samples = np.round(rng.lognormal(np.log(p50), 0.15, 500), 6)
    confusion = rng.multinomial(45, [0.95] + [0.05 / 9] * 9, size=10)
    confusion = np.array([np.roll(row, i) for i, row in enumerate(confusion)])
    metrics = {
        "accuracy": acc, "accuracy_low": acc - 0.02, "accuracy_high": min(1.0, acc + 0.015),
        "robust_accuracy": acc - 0.05, "n_test": 450, "file_bytes": size,
        "compressed_bytes": int(size * 0.8), "params": size // 4, "nonzeros": size // 5,
        "macs": size * 12, "latency_mean_ms": float(samples.mean()),
        "latency_std_ms": float(samples.std()), "latency_min_ms": float(samples.min()),
        "latency_p50_ms": float(np.percentile(samples, 50)),
        "latency_p90_ms": float(np.percentile(samples, 90)),
        "latency_p99_ms": float(np.percentile(samples, 99)),
        "throughput_per_s": 1000 / float(samples.mean()), "load_ms": 3.0, "peak_rss_mb": 60.0,
    }  # fmt: skip
    details = {
        "confusion": confusion.tolist(), "classes": CLASSES,
        "per_class": [
            {"label": c, "precision": 0.95, "recall": 0.95, "f1": 0.95, "support": 45}
            for c in CLASSES
        ],
        "latency": {"samples_ms": samples.tolist(), "runs": 1000, "warmup": 20, "threads": 1, "batch": 1},
        "training": {"epochs": 30, "best_val_accuracy": acc, "train_seconds": 20.0, "seed": run},
        "policy_spec": {"preset": policy}, "policy_describe": f"{policy}: rotate p=0.5 m=4",
        "compression_spec": [{"pass": compression.split()[0], "bits": 8}],
        "compression_notes": [], "model_spec": {"arch": "small_cnn", "width": 8},
        "runtime_info": {"name": runtime, "version": "1.0", "settings": {"threads": 1}},
    }  # fmt: skip
    return CandidateRecord(
        key=key, dataset="digits", model=model, policy=policy, compression=compression,
        runtime=runtime, status="ok", metrics=metrics, details=details,
    )  # fmt: skip


def synthesize(db: Path, candidates: int, runs: int) -> Store:
    store = Store(db)
    if len(store.runs()) >= runs:
        return store
    # A throwaway store: skip the per-commit fsync that makes 300,000 inserts take minutes.
    store._db.execute("PRAGMA synchronous=OFF")
    combos = grid(candidates)
    for run in range(len(store.runs()) + 1, runs + 1):
        rng = np.random.default_rng(run)
        machine = "machine-b" if run <= RUNS_ON_OLD_MACHINE else "machine-a"
        run_id = store.start_run(
            started_at=f"{START + timedelta(days=run):%Y-%m-%dT%H:%M:%S+00:00}",
            config={"name": "scale", "run": run}, config_hash="scale", harness_version="0.1.0", git_revision=None,
            machine={"cpu": machine, "cores": 2, "os": "Linux", "python": "3.11", "versions": {}},
            machine_hash=machine,
        )  # fmt: skip
        for index, combo in enumerate(combos):
            store.add_candidate(run_id, record(index, combo, run, rng), "2026-01-01T00:00:00+00:00")
        store.finish_run(
            run_id,
            finished_at="2026-01-01T01:00:00+00:00",
            timings={"total": 1.0},
            status="complete",
        )
        print(f"  synthesized run {run}/{runs}", flush=True)
    return store


def _cpu() -> tuple[float, float]:
    """CPU seconds (user + system) of this process and of its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the store and site in DIR")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        store = synthesize(
            workdir / f"scale-{args.candidates}x{args.runs}.db", args.candidates, args.runs
        )
        print(
            f"store: {args.candidates} candidates x {args.runs} runs ({time.perf_counter() - started:.1f} s to prepare)"
        )
        started = time.perf_counter()
        before = _cpu()
        out = build_site(store, workdir / "site").parent
        done = time.perf_counter()
        here, workers = (after - start for after, start in zip(_cpu(), before, strict=True))
        store.close()
        mb = 1024 * 1024
        print(
            f"build_site: {done - started:.2f} s (cpu {here:.2f} s here, {workers:.2f} s in page workers)"
        )
        print(f"index.html: {(out / 'index.html').stat().st_size / mb:.2f} MB")
        print(f"history.html: {(out / 'history.html').stat().st_size / mb:.2f} MB")
        pages = len(list((out / "candidates").iterdir()))
        written = [p for p in out.rglob("*") if p.is_file() and p.name not in SKIPPED]
        total = sum(p.stat().st_size for p in written)
        print(
            f"files: {len(written) + 1} ({pages} candidate pages), {total / mb:.0f} MB without plotly.js"
        )


if __name__ == "__main__":
    main()
