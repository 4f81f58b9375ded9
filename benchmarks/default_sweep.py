"""Time the built-in default sweep stage by stage, cold (empty cache) then warm.

    python benchmarks/default_sweep.py [--keep DIR]

Prints seconds per stage for both runs side by side, and the candidate counts.
Target: the cold sweep in under 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from harness.config.load import load_config
from harness.report.render import build_site
from harness.store.results import Store
from harness.sweep.driver import run_sweep

STAGES = ("data", "train", "compress", "convert", "measure", "report", "total")


def parity_report(workdir: Path) -> list[str]:
    """LiteRT against ONNX Runtime on the same compressed graph, per candidate."""
    with Store(workdir / "results.db") as store:
        rows = store.candidates(store.latest_run_id() or 0)
    lines = [f"{'policy':<13}{'compression':<12}{'max |diff|':>12}{'top-1 agree':>13}"]
    for r in rows:
        if r.runtime == "litert" and r.status == "ok":
            lines.append(
                f"{r.policy:<13}{r.compression:<12}{r.metric('parity_max_abs'):>12.2e}"
                f"{r.metric('parity_agreement'):>13.4f}"
            )
    return lines


def one_run(workdir: Path) -> tuple[dict[str, float], dict[str, int]]:
    config = load_config(None)
    with Store(workdir / "results.db") as store:
        summary = run_sweep(config, store, workdir / "artifacts")
        started = time.perf_counter()
        build_site(store, workdir / "site", summary.run_id)
        timings = dict(summary.timings)
        timings["report"] = time.perf_counter() - started
        timings["total"] += timings["report"]
    counts = {"ok": summary.ok, "failed": summary.failed, **summary.counts}
    return timings, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work in DIR instead of a temp folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        cwd = os.getcwd()
        os.chdir(workdir)
        try:
            cold, cold_counts = one_run(workdir)
            warm, warm_counts = one_run(workdir)
            parity = parity_report(workdir)
        finally:
            os.chdir(cwd)
    print(f"{'stage':<10}{'cold s':>10}{'warm s':>10}{'warm/cold':>11}")
    for stage in STAGES:
        c, w = cold.get(stage, 0.0), warm.get(stage, 0.0)
        ratio = f"{w / c:.2f}" if c > 0 else "-"
        print(f"{stage:<10}{c:>10.1f}{w:>10.1f}{ratio:>11}")
    print(f"cold: {cold_counts}")
    print(f"warm: {warm_counts}")
    print("\n".join(parity))
    verdict = "meets" if cold["total"] < 300 else "MISSES"
    print(
        f"cold sweep {cold['total']:.0f} s on {os.cpu_count()} cores: {verdict} the 5-minute target"
    )


if __name__ == "__main__":
    main()
