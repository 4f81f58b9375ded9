"""Is full-integer int8 faster than fp32? The mobile CNN on both runtimes, batch 1 and 32.

    python benchmarks/int8_speed.py

Runs a small sweep through the harness itself (mobile CNN on digits; fp32 and ONNX
Runtime's static int8 QDQ; LiteRT float and LiteRT full-integer through ai-edge-quantizer)
at each batch size, and prints p50 per target with int8/fp32 ratios side by side.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from timing import int8_sweep

from harness.compress.int8_isa import isa_family
from harness.config.load import parse_config
from harness.measure.machine import describe_machine
from harness.report.arithmetic import cpu_choice, of_details
from harness.store.results import Store
from harness.sweep.driver import run_sweep

CONFIG = int8_sweep(
    "int8-speed", {"mobile": {"arch": "mobile_cnn", "width": 16, "depth": 3}}, epochs=30
)


MAX_DROP_PT = 1.0  # ORT static int8 must stay within 1 point of fp32 on any CPU


def main() -> None:
    machine = describe_machine()
    print(f"CPU: {machine['cpu']} ({machine['arch']}), flags: {' '.join(machine['isa'])}")
    print(f"ort_int8 resolves isa = auto to: {isa_family(machine['arch'], machine['isa'])}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for batch in (1, 32):
            raw = {**CONFIG, "latency": {"batch": batch, "min_runs": 300, "min_seconds": 1.0}}
            config = parse_config(raw, "int8_speed", Path(tmp))
            with Store(Path(tmp) / "r.db") as store:
                summary = run_sweep(config, store, Path(tmp) / "art")
                got = {(r.compression, r.runtime): r for r in store.candidates(summary.run_id)}
            for (comp, rt), r in sorted(got.items()):
                rows.append((batch, comp, rt, r))
    print(
        f"{'batch':>5}  {'compression':<12}{'target':<13}{'acc':>7}{'KB':>8}{'p50 ms':>10}"
        "  arithmetic"
    )
    for batch, comp, rt, r in rows:
        if r.status != "ok":
            print(f"{batch:>5}  {comp:<12}{rt:<13} failed: {r.error}")
            continue
        print(
            f"{batch:>5}  {comp:<12}{rt:<13}{r.metric('accuracy'):>7.3f}"
            f"{(r.metric('file_bytes') or 0) / 1024:>8.1f}{r.metric('latency_p50_ms'):>10.4f}"
            f"  {of_details(r.details).kind}"
        )
    acc = {(b, c, t): r.metric("accuracy") for b, c, t, r in rows if r.status == "ok"}
    for b, c, t, r in rows:
        if (b, c, t) == (1, "ort int8", "onnxruntime"):
            print(f"ort int8 {cpu_choice(r.details.get('compression_notes') or [])}")
    for batch in (1, 32):
        fp32, int8 = (
            acc.get((batch, "fp32", "onnxruntime")),
            acc.get((batch, "ort int8", "onnxruntime")),
        )
        if fp32 is not None and int8 is not None:
            drop = (fp32 - int8) * 100
            verdict = "meets" if drop <= MAX_DROP_PT else "MISSES"
            print(
                f"ORT static int8 accuracy drop vs fp32, batch {batch}: {drop:.2f} pt "
                f"({int8:.4f} vs {fp32:.4f}) {verdict} <= {MAX_DROP_PT:g} pt"
            )
    p50 = {(b, c, t): r.metric("latency_p50_ms") for b, c, t, r in rows if r.status == "ok"}
    print("int8/fp32 p50 ratios (below 1 = int8 faster):")
    for batch in (1, 32):
        pairs = {
            "onnxruntime (ORT static QDQ)": (
                (batch, "ort int8", "onnxruntime"),
                (batch, "fp32", "onnxruntime"),
            ),
            "litert (ai-edge-quantizer int8)": (
                (batch, "fp32", "litert int8"),
                (batch, "fp32", "litert"),
            ),
        }
        for label, (num, den) in pairs.items():
            if num in p50 and den in p50:
                print(f"  batch {batch:>2} {label:<34}{p50[num] / p50[den]:.2f}")


if __name__ == "__main__":
    main()
