"""`harness bench` on architectures nobody on the project wrote: timm and torchvision
classifiers, segmenters and detectors, and recurrent and control-flow modules, each
exported by both of torch's ONNX exporters (benchmarks/timm_export.py), with random weights.

    python benchmarks/timm_models.py [--export-python PY] [--models DIR] [--out table.md]

timm and torchvision need a torch newer than the one this project pins, so the exports run
in another interpreter (PY, default this one: a scratch venv, docs/bring-your-model.md);
when torch, torchvision, timm or onnxscript do not import there the check is skipped with
a message (exit 0). Nothing is downloaded: the weights are random. Each exported file is
then run as a user would (benchmarks/wheel_models.py: `harness bench MODEL --data D` in its
own process, D random inputs of the declared shapes). Per model and exporter: ok with p50
per runtime, or the reason; LiteRT's max |diff| against ONNX Runtime relative to the
largest output. A model must give a result on a runtime, or a one-line reason and a
non-zero exit; a traceback, a hang or an export that fails is marked so.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from wheel_models import RUNTIMES, bench_one  # noqa: E402

from harness.store.results import Store  # noqa: E402

NEEDS = "import torch, torchvision, timm, onnx, onnxscript"
HERE = Path(__file__).parent


def _can_export(python: str) -> str:
    """'' when `python` has what the exports need, else why not."""
    try:
        done = subprocess.run([python, "-c", NEEDS], capture_output=True, text=True, timeout=300)
    except OSError as exc:
        return f"{python}: {exc.strerror}"
    if done.returncode:
        return (done.stderr.strip().splitlines() or ["import failed"])[-1]
    return ""


def _parity(db: Path) -> str:
    """LiteRT's largest relative difference from ONNX Runtime over the outputs, if measured."""
    if not db.exists():
        return ""
    with Store(db) as store:
        run = store.latest_run_id(kind="bench")
        records = store.candidates(run) if run is not None else []
    rel = [p["max_rel"] for r in records if r.runtime == "litert" and r.status == "ok"
           for p in r.details.get("parity", []) if "max_rel" in p]  # fmt: skip
    return f"{max(rel):.1e}" if rel else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export-python", default=sys.executable)
    parser.add_argument("--models", type=Path, help="folder of exports (default: a temporary one)")
    parser.add_argument("--only", default="", help="comma-separated model names")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--out", type=Path, help="also write the table (markdown) here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="timm-models-") as tmp:
        folder = args.models or Path(tmp) / "models"
        why = _can_export(args.export_python)
        if why:
            print(f"skipped: the exports need torch, torchvision, timm and onnxscript in "
                  f"{args.export_python} ({why}); see docs/bring-your-model.md")  # fmt: skip
            return 0
        command = [args.export_python, "-W", "ignore", str(HERE / "timm_export.py"), str(folder)]
        subprocess.run([*command, *(["--only", args.only] if args.only else [])], check=False)
        failed = json.loads((folder / "exports.json").read_text())
        wanted = set(args.only.split(",")) - {""}
        names = sorted({p.name.split(".")[0] for p in folder.glob("*.onnx")}
                       | {k.split(".")[0] for k in failed})  # fmt: skip
        lines = ["| model | exporter | onnxruntime | litert | litert rel. diff | exit |",
                 "|---|---|---|---|---|---|"]  # fmt: skip
        bad = 0
        for name in (n for n in names if not wanted or n in wanted):
            for exporter in ("torchscript", "dynamo"):
                model = folder / f"{name}.{exporter}.onnx"
                if not model.exists():
                    why = failed.get(f"{name}.{exporter}", "not exported")
                    lines.append(f"| {name} | {exporter} | export failed: {why} | | | |")
                    continue
                print(f"{name} ({exporter})", file=sys.stderr, flush=True)
                outcome = bench_one(model, Path(tmp), args.timeout)
                cells = [outcome.get(r, "") for r in RUNTIMES]
                ok = any(c.startswith("ok") for c in cells)
                reasoned = outcome["*"].startswith("exit") and outcome["*"] != "exit 0"
                bad += not ok and not reasoned
                parity = _parity(Path(tmp) / f"{model.stem}.db")
                lines.append(f"| {name} | {exporter} | {' | '.join(cells)} | {parity} | "
                             f"{outcome['*']} |")  # fmt: skip
                print(lines[-1], flush=True)
    table = "\n".join(lines)
    print("\n" + table)
    print(f"\n{len(lines) - 2} rows; {bad} without a result or a clean reason")
    if args.out:
        args.out.write_text(table + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
