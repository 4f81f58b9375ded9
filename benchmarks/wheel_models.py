"""`harness bench` on model files nobody on the project wrote: the .onnx/.tflite files that
public wheels ship inside their package data (mediapipe's face/hand/pose/selfie models,
RapidOCR's PP-OCR det/rec/cls, silero-vad, ...).

    python benchmarks/wheel_models.py FOLDER [--timeout 300] [--out table.md]

FOLDER holds one subfolder per wheel (its name is the "source wheel" column) with the model
files copied out of it (docs/bring-your-model.md says how the table there was made). Each
model is run as a user would: `harness bench MODEL --data D` in its own process, D an .npz
of random inputs made from the model's declared inputs (a dynamic axis gets a small size;
a few inputs whose value the model checks, such as an audio sample rate, get a valid one).
Per model and runtime: ok with p50 latency, or the runtime's one-line reason. A run must
end with a table or a one-line reason and a non-zero exit: a traceback or a hang is a
failure of the harness and is marked so.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from harness.measure.formats import read_io
from harness.measure.inputs import TensorInfo
from harness.store.results import Store

RUNTIMES = ("onnxruntime", "litert")
# Inputs whose values the model checks, by name: a silero-vad model takes 8000 or 16000 Hz.
VALUES = {"sr": np.array(16000, np.int64)}
# Shapes a model's own package feeds where its file leaves them open and other sizes fail
# inside the model: PP-OCR's recogniser reads text lines 48 pixels high.
SHAPES = {("ch_PP-OCRv4_rec_infer.onnx", "x"): (4, 3, 48, 320)}
SIDE = 320  # a dynamic image side: a multiple of 32, as detectors and recognisers need
SEQUENCE = 512  # a dynamic sequence axis: one 32 ms frame of 16 kHz audio
SAMPLES = 4


def _size(info: TensorInfo, axis: int, main: bool, samples: int) -> int:
    """A size for a dynamic axis: the batch (any open axis of an extra input, such as a
    recurrent state's batch), an image side, else a sequence."""
    if axis == 0 or not main:
        return samples
    return SIDE if info.dims is not None and len(info.dims) == 4 else SEQUENCE


def _has_open_state(inputs: tuple[TensorInfo, ...]) -> bool:
    """An extra input with an open axis (a recurrent state whose batch is not named as the
    main input's): such models run one frame at a time, and are fed so."""
    return any(d is not None and any(not isinstance(x, int) for x in d)
               for d in (i.dims for i in inputs[1:]))  # fmt: skip


def random_inputs(path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """One array per model input (the first named x), from the declared shapes and dtypes."""
    rng = np.random.default_rng(seed)
    io = read_io(path)
    samples = 1 if _has_open_state(io.inputs) else SAMPLES
    arrays: dict[str, np.ndarray] = {}
    for k, info in enumerate(io.inputs):
        dims = info.dims if info.dims is not None else (samples,)
        shape = SHAPES.get((path.name, info.name)) or tuple(
            d if isinstance(d, int) else _size(info, axis, k == 0, samples)
            for axis, d in enumerate(dims)
        )
        if info.name in VALUES:
            array = VALUES[info.name].astype(info.dtype)
        elif info.dtype.kind == "f" or info.quantized:
            array = rng.standard_normal(shape).astype(np.float32)
        elif info.dtype.kind == "b":
            array = np.zeros(shape, bool)
        else:
            array = rng.integers(0, 2, shape).astype(info.dtype)
        arrays["x" if k == 0 else info.name] = array
    return arrays


def bench_one(model: Path, tmp: Path, timeout: float) -> dict[str, str]:
    """Per runtime: 'ok, p50 X ms' or the reason; '*' keys the whole run's outcome."""
    data, db = tmp / f"{model.stem}.npz", tmp / f"{model.stem}.db"
    try:
        np.savez(data, **random_inputs(model))  # type: ignore[arg-type]
    except Exception as exc:  # the harness's own reader failed: that is the finding
        return {"*": f"cannot read inputs: {str(exc).splitlines()[0]}"}
    command = [str(Path(sys.executable).parent / "harness"), "bench", str(model), "--data", str(data),
               "--min-runs", "20", "--min-seconds", "0.2", "--store", "--db", str(db)]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"*": f"HANG: no result within {timeout:.0f} s"}
    err = done.stderr.strip()
    if "Traceback" in err:
        return {"*": "TRACEBACK: " + err.splitlines()[-1]}
    outcome = {"*": f"exit {done.returncode}"}
    if not db.exists():
        outcome["*"] += ": " + (err.splitlines() or ["no output"])[-1]
        return outcome
    with Store(db) as store:
        run = store.latest_run_id(kind="bench")
        records = store.candidates(run) if run is not None else []
    for r in records:
        if r.status == "ok":
            outcome[r.runtime] = f"ok, p50 {r.metric('latency_p50_ms') or 0:.3f} ms"
        else:
            outcome[r.runtime] = (r.error or r.status).replace("|", "/")
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--out", type=Path, help="also write the table (markdown) here")
    args = parser.parse_args()
    models = sorted(p for p in args.folder.rglob("*") if p.suffix in (".onnx", ".tflite"))
    lines = [
        "| model | source wheel | onnxruntime | litert | exit |",
        "|---|---|---|---|---|",
    ]
    bad = 0
    with tempfile.TemporaryDirectory(prefix="wheel-models-") as tmp:
        for i, model in enumerate(models, 1):
            print(f"[{i}/{len(models)}] {model.parent.name}/{model.name}", file=sys.stderr)
            outcome = bench_one(model, Path(tmp), args.timeout)
            cells = [outcome.get(r, "-" if model.suffix == ".tflite" and r == "onnxruntime"
                                 else "") for r in RUNTIMES]  # fmt: skip
            ok = any(c.startswith("ok") for c in cells)
            reasoned = outcome["*"].startswith("exit") and outcome["*"] != "exit 0"
            bad += not ok and not reasoned
            row = [model.name, model.parent.name, *cells, outcome["*"]]
            lines.append("| " + " | ".join(row) + " |")
            print(lines[-1], flush=True)
    table = "\n".join(lines)
    print("\n" + table)
    print(f"\n{len(models)} models; {bad} without a result or a clean reason")
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
