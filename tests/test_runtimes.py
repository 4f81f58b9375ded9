"""Runtimes and the measurement subprocess, on small models built in the test."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from harness.config.load import LatencySpec, RuntimeSpec
from harness.errors import MeasurementError, ParamError
from harness.measure.runner import run_worker
from harness.measure.runtimes import RUNTIMES, runtimes_for
from tests.helpers.graphs import gemm_model

ORT = RuntimeSpec("onnxruntime", {"threads": 1, "optimization": "all"})
LATENCY = LatencySpec(
    batch=1, warmup=2, min_runs=20, min_seconds=0.0, max_runs=1000, timeout_seconds=60
)


def test_onnxruntime_session_runs_and_binds(tmp_path: Path) -> None:
    model = gemm_model()
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    ort_cls = RUNTIMES.get("onnxruntime")
    session = ort_cls.load(str(path), ort_cls.parse_settings({}))
    x = np.random.default_rng(1).normal(size=(5, 6)).astype(np.float32)
    w = numpy_helper.to_array(model.graph.initializer[0])
    b = numpy_helper.to_array(model.graph.initializer[1])
    np.testing.assert_allclose(session.run(x), x @ w.T + b, rtol=1e-5, atol=1e-5)
    call = session.bind(x[:1])
    call()  # the bound call runs without arguments
    assert ort_cls.version().count(".") >= 1


def test_settings_are_validated_with_the_allowed_names() -> None:
    with pytest.raises(ParamError, match="unknown setting .did you mean 'threads'.*"):
        RUNTIMES.get("onnxruntime").parse_settings({"thread": 2})
    with pytest.raises(ParamError, match="xnnpack: must be true or false"):
        RUNTIMES.get("litert").parse_settings({"xnnpack": "yes"})
    assert runtimes_for("model.tflite") == ["litert"]
    assert runtimes_for("model.onnx") == ["onnxruntime"]


def test_worker_measures_outputs_latency_and_memory(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(gemm_model(), path)
    x = np.random.default_rng(2).normal(size=(300, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    result = run_worker(path, ORT, [tmp_path / "x.npy"], LATENCY)
    assert result.outputs[0].shape == (300, 3)
    assert len(result.samples_ns) >= LATENCY.min_runs
    assert result.samples_ns.min() > 0
    assert result.peak_rss_mb > 10
    assert result.load_ms > 0


def test_a_broken_model_becomes_a_measurement_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"not a model at all")
    np.save(tmp_path / "x.npy", np.zeros((2, 6), np.float32))
    with pytest.raises(MeasurementError, match=r"onnxruntime worker failed \(exit status 1\): .+"):
        run_worker(path, ORT, [tmp_path / "x.npy"], LATENCY)


def test_a_worker_that_hangs_is_stopped_at_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(gemm_model(), path)
    np.save(tmp_path / "x.npy", np.zeros((2, 6), np.float32))
    forever = LatencySpec(1, 0, 10**9, 3600.0, 10**9, timeout_seconds=3)
    with pytest.raises(MeasurementError, match="did not finish within 3 s"):
        run_worker(path, ORT, [tmp_path / "x.npy"], forever)


def _worker_pids() -> list[int]:
    """This process's children running harness.measure.worker (from /proc: Linux)."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # the process ended while we looked
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == me and b"harness.measure.worker" in argv:
            found.append(int(entry.name))
    return found


def test_a_worker_killed_by_a_signal_is_reported_with_the_signal(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(gemm_model(), path)
    np.save(tmp_path / "x.npy", np.zeros((2, 6), np.float32))
    long = LatencySpec(1, 0, 10**9, 3600.0, 10**9, timeout_seconds=120)

    def kill_the_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pids = _worker_pids()
            if pids:
                time.sleep(0.5)  # let it get into its timing loop
                os.kill(pids[0], signal.SIGKILL)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_the_worker)
    killer.start()
    try:
        with pytest.raises(
            MeasurementError, match=rf"worker failed \(killed by signal {int(signal.SIGKILL)}\)"
        ):
            run_worker(path, ORT, [tmp_path / "x.npy"], long)
    finally:
        killer.join()


def test_worker_times_each_extra_batch_size(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(gemm_model(), path)
    np.save(tmp_path / "x.npy", np.zeros((10, 6), np.float32))
    latency = LatencySpec(1, 2, 20, 0.0, 1000, 60, extra_batches=(32,))
    result = run_worker(path, ORT, [tmp_path / "x.npy"], latency)
    assert set(result.extra_samples) == {32}
    assert len(result.extra_samples[32]) >= 20
    assert result.extra_samples[32].min() > 0


def test_fold_dequantize_folds_weight_only_dequantization_at_load(tmp_path: Path) -> None:
    """ORT keeps weight-only models' DequantizeLinear in the graph it runs (a dequantization
    per call); fold_dequantize turns them into float weights at load, with the same outputs."""
    import onnxruntime as ort

    from harness.compress import PASSES, PassContext, apply_chain
    from harness.measure.runtimes.ort import session_options

    model, _ = apply_chain(
        gemm_model(n_in=16, n_out=8), [PASSES.get("quantize").from_params({"bits": 4})],
        PassContext(),
    )  # fmt: skip
    ort_cls = RUNTIMES.get("onnxruntime")
    assert "fold_dequantize" not in ort_cls.parse_settings({})  # older candidate keys hold
    x = np.random.default_rng(2).normal(size=(3, 16)).astype(np.float32)
    outputs, dequantize_ops = [], []
    for fold in (False, True):
        options = session_options(ort_cls.parse_settings({"fold_dequantize": fold}))
        options.optimized_model_filepath = str(tmp_path / f"optimized-{fold}.onnx")
        session = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        outputs.append(session.run(None, {"input": x})[0])
        ran = onnx.load(str(tmp_path / f"optimized-{fold}.onnx"))
        dequantize_ops.append(sum(n.op_type == "DequantizeLinear" for n in ran.graph.node))
    assert dequantize_ops == [1, 0]
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-6, atol=1e-6)
    with pytest.raises(ParamError, match="fold_dequantize: must be true or false"):
        ort_cls.parse_settings({"fold_dequantize": "yes"})
