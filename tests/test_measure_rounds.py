"""Rounds on the measurement side: the idlest CPUs from /proc/stat, a round's share of the
timing budget, and a candidate's latency from its rounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.measure.cpus import idlest, read_cpu_times, was_busy
from harness.measure.latency import combine_rounds, round_summary
from harness.measure.runner import round_latency
from harness.specs import LatencySpec, RuntimeSpec
from harness.sweep.rounds import round_robin

STAT_BEFORE = """cpu  300 0 300 800 0 0 0 0 0 0
cpu0 100 0 100 400 0 0 0 0 0 0
cpu1 200 0 200 400 0 0 0 0 0 0
intr 12345
"""
# Over the window cpu0 was busy (idle +10 of +100 ticks) and cpu1 idle (+95 of +100).
STAT_AFTER = """cpu  380 0 15 905 0 0 0 0 0 0
cpu0 180 0 110 410 0 0 0 0 0 0
cpu1 200 0 205 495 0 0 0 0 0 0
"""


def test_the_worker_goes_to_the_idlest_cpu_not_the_last_one() -> None:
    before, after = read_cpu_times(STAT_BEFORE), read_cpu_times(STAT_AFTER)
    assert before == {0: (400, 600), 1: (400, 800)}
    assert idlest(before, after, [0, 1], 1) == [1]
    busy_last = {0: after[1], 1: after[0]}  # the same readings with the CPUs swapped
    assert idlest({0: before[1], 1: before[0]}, busy_last, [0, 1], 1) == [0]
    assert idlest(before, after, [0], 1) == [0]  # only what the affinity allows
    assert idlest(before, after, [0, 1], 2) == [0, 1]
    assert was_busy(2.5, 2) and not was_busy(1.5, 2) and not was_busy(None, 2)


def test_rounds_share_the_timing_budget() -> None:
    spec = LatencySpec(1, 20, 100, 0.3, 100_000, 300, (), rounds=3)
    share = round_latency(spec)
    assert (share["min_runs"], share["max_runs"]) == (34, 33_334)  # ceil(100 / 3), ceil(1e5 / 3)
    assert share["min_seconds"] == pytest.approx(0.1)
    assert share["warmup"] == 20  # every fresh process warms up again


def test_a_candidates_p50_is_the_median_of_its_rounds() -> None:
    rounds_ns = [np.array([1, 2, 3, 4, 100]) * 1_000_000, np.array([5, 6, 7]) * 1_000_000,
                 np.array([2, 2, 2, 2]) * 1_000_000]  # fmt: skip
    rounds = [round_summary(s) for s in rounds_ns]
    assert [r["p50_ms"] for r in rounds] == [3.0, 6.0, 2.0]
    assert rounds[0]["runs"] == 5 and rounds[0]["mean_ms"] == 22.0 and rounds[0]["min_ms"] == 1.0
    metrics, spread = combine_rounds(rounds, rounds_ns, batch=1)
    assert metrics["latency_p50_ms"] == 3.0  # median of 3, 6, 2; the pooled calls' is 3 too
    assert metrics["latency_mean_ms"] == pytest.approx(
        136 / 12
    )  # every call counts: (110 + 18 + 8) / 12
    assert spread == {
        "round_p50_ms": [3.0, 6.0, 2.0], "p50_low_ms": 2.0, "p50_high_ms": 6.0,
        "spread": pytest.approx(4 / 3),
    }  # fmt: skip


def test_rounds_interleave_round_robin_over_the_plan() -> None:
    assert round_robin(["a", "b", "c"], 2) == [
        (0, "a"), (0, "b"), (0, "c"), (1, "a"), (1, "b"), (1, "c"),
    ]  # fmt: skip


def _tiny_model(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])], [w],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_forked_rounds_measure_fail_and_time_out_like_spawned_workers(tmp_path: Path) -> None:
    from harness.errors import MeasurementError
    from harness.measure.runner import run_round
    from harness.measure.zygote import Zygotes

    model = _tiny_model(tmp_path / "tiny.onnx")
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.save(tmp_path / "x.npy", x)
    runtime = RuntimeSpec("onnxruntime", {"threads": 1, "optimization": "all"})
    quick = LatencySpec(1, 2, 9, 0.0, 1000, 60, (2,), rounds=3)
    with Zygotes() as zygotes:
        zygote = zygotes.get("onnxruntime")
        first = run_round(model, runtime, [tmp_path / "x.npy"], quick, True, zygote)
        later = run_round(model, runtime, [tmp_path / "x.npy"], quick, False, zygote)
        # x @ w for the rows [0..3] and [4..7]
        expected = x @ np.arange(12, dtype=np.float32).reshape(4, 3)
        assert np.array_equal(first.outputs[0], expected)
        assert len(first.samples_ns) == 3 and set(first.extra_samples) == {2}  # ceil(9 / 3)
        assert later.outputs == [] and later.extra_samples == {}  # only timing
        assert {"load1_before", "load1_after", "rule"} <= set(later.placement)
        (tmp_path / "bad.onnx").write_bytes(b"not a model")
        with pytest.raises(MeasurementError, match=r"onnxruntime worker failed \(exit status 1\)"):
            run_round(tmp_path / "bad.onnx", runtime, [tmp_path / "x.npy"], quick, True, zygote)
        slow = LatencySpec(1, 0, 10**9, 30.0, 10**9, 0.5, (), rounds=1)
        with pytest.raises(MeasurementError, match="did not finish within 0.5 s"):
            run_round(model, runtime, [tmp_path / "x.npy"], slow, True, zygote)
        # The zygote outlives its children's failures.
        assert run_round(model, runtime, [tmp_path / "x.npy"], quick, False, zygote).samples_ns.size


def test_run_conditions_summarise_rounds_and_count_busy_ones() -> None:
    from harness.report.conditions import run_conditions

    def rnd(p50: float, load: float) -> dict[str, object]:
        machine = {"load1_before": load, "load1_after": load, "cpu_mhz_before": 2000.0,
                   "cpu_mhz_after": 2400.0, "rule": "idlest over 20 ms"}  # fmt: skip
        return {"p50_ms": p50, "runtime": "ort", "machine": machine}

    rounds = {"a": [rnd(1.0, 0.5), rnd(1.0, 3.0)], "b": [rnd(2.0, 0.7), rnd(2.0, 1.9)]}
    out = run_conditions(rounds, usable_cores=2)
    assert out["busy"] == 1 and out["rounds"] == 4 and out["max_load"] == 3.0
    assert dict(out["facts"]) == {
        "rounds per candidate": "2",
        "load average (1 min)": "0.50 – 3.00",
        "CPU frequency": "2,000 – 2,400 MHz",
        "worker placement": "idlest over 20 ms",
        "round-to-round noise, ort": "±0.0% (Z band; 2 dof)",
    }
