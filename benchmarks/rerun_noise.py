"""Do decisions follow noise? Identical reruns, quiet and under load, and a real slowdown.

    python benchmarks/rerun_noise.py [--artifacts DIR] [--keep DIR]

Runs the default sweep (reusing the models cached in --artifacts, copied, when given),
then reruns it on the same cached models while two busy-loop processes load the 2 cores,
then once more quiet. Prints:
- false regressions between the identical reruns: FAIL rows and exit status of
  `harness compare --fail-on "p50>+10%"`, and regressions on the history page (target 0);
  and, to show the noise test itself, what it says about the same pairs when each file is
  judged as if it had changed (leaving that file out of the noise estimate);
- whether the star set, the budget picks and `select --max-p50 10us`'s first answer are
  identical across the three runs (and, for contrast, the star set by the plain rules);
- detection: one series' model file is replaced by a heavier graph with the same outputs
  (a zero-weighted wide MatMul branch; its bare-loop slowdown is printed), measured quiet
  and loaded, and compared with the quiet identical run;
- the cost: the default sweep on cached models with [latency] rounds = 3 against 1,
  alternated twice.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import multiprocessing
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
from click.testing import CliRunner
from onnx import helper, numpy_helper
from timing import loop_p50_ms

from harness.cli.commands import cli
from harness.config.load import load_config
from harness.report import noise, ties
from harness.report.data import budget_picks, pareto_front
from harness.report.history import history_series
from harness.report.render import history_points, noise_inputs
from harness.report.select import Budget, select_picks
from harness.store.results import CandidateRecord, Store
from harness.sweep.driver import run_sweep

RULE = "p50>+10%"
HIDDEN = 256  # width of the zero-weighted branch: about 1.7x the default CNN in a bare loop


def _spin() -> None:
    while True:
        pass


@contextmanager
def busy(n: int = 2) -> Iterator[None]:
    """n busy-loop processes for the duration of the block."""
    procs = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(n)]
    for p in procs:
        p.start()
    try:
        yield
    finally:
        for p in procs:
            p.terminate()
            p.join()


def sweep(config: object, db: Path, artifacts: Path) -> tuple[int, float]:
    started = time.perf_counter()
    with Store(db) as store:
        summary = run_sweep(config, store, artifacts)  # type: ignore[arg-type]
    return summary.run_id, time.perf_counter() - started


def compare_cli(db: Path, base: int, head: int) -> tuple[int, int, int, str]:
    """(exit status, FAIL rows, inconclusive rows, output) of harness compare."""
    result = CliRunner().invoke(
        cli, ["compare", str(base), str(head), "--fail-on", RULE, "--db", str(db)]
    )
    out = result.output
    fails = sum("FAIL" in line for line in out.splitlines())
    return result.exit_code, fails, out.count("inconclusive: noise"), out


def history_regressions(db: Path, run_id: int) -> tuple[int, int]:
    """(series regressed, series inconclusive) in run `run_id` on the history page."""
    with Store(db) as store:
        machines = {r.id: r.machine_hash for r in store.runs()}
        series = history_series(history_points(store, machines, run_id), machines[run_id])
    latest = [s for s in series if s.points[-1].run_id == run_id]
    return sum(bool(s.latest_regressions()) for s in latest), sum(
        bool(s.latest_inconclusive()) for s in latest
    )


def test_alone(db: Path, base: int, head: int) -> tuple[int, int]:
    """The noise test without the same-file rule: each file judged as if it had changed,
    against the noise of the other unchanged files (leave one out). (regressions, unsure)"""
    with Store(db) as store:
        b_rows, h_rows = store.candidates(base), store.candidates(head)
        inputs = noise_inputs(store, base, head)
    before = {r.key: r for r in b_rows}
    within = (
        noise.pooled_by_runtime(inputs.base_rounds, {r.key: r.runtime for r in b_rows}),
        noise.pooled_by_runtime(inputs.head_rounds, {r.key: r.runtime for r in h_rows}),
    )
    logs = {
        r.key: math.log(r.metric("latency_p50_ms") / before[r.key].metric("latency_p50_ms"))  # type: ignore[operator]
        for r in h_rows
        if r.key in before and r.status == "ok"
    }
    found = unsure = 0
    for r in h_rows:
        if r.key not in logs:
            continue
        others = [v for k, v in logs.items() if k != r.key and _runtime(h_rows, k) == r.runtime]
        sd = noise.band_sd(
            noise.same_file_noise(others),
            within[0].get(r.runtime), len(inputs.base_rounds.get(r.key, ())) or 1,
            within[1].get(r.runtime), len(inputs.head_rounds.get(r.key, ())) or 1,
        )  # fmt: skip
        verdict = noise.judge(
            before[r.key].metric("latency_p50_ms") or 0, r.metric("latency_p50_ms") or 0, 0.10, sd
        )
        found += verdict.kind == noise.REGRESSION
        unsure += verdict.kind == noise.INCONCLUSIVE
    return found, unsure


def p50_ratios(db: Path, base: int, head: int) -> list[float]:
    with Store(db) as store:
        before = {r.key: r.metric("latency_p50_ms") for r in store.candidates(base)}
        return [
            (r.metric("latency_p50_ms") or 0) / b
            for r in store.candidates(head)
            if (b := before.get(r.key))
        ]


def _runtime(rows: list[CandidateRecord], key: str) -> str:
    return next(r.runtime for r in rows if r.key == key)


def decisions(db: Path, run_id: int) -> dict[str, object]:
    with Store(db) as store:
        rows = store.candidates(run_id)
    picks = select_picks(rows, Budget(max_p50=0.01))
    names = {r.id: f"{r.policy}/{r.compression}/{r.runtime}" for r in rows}
    return {
        "stars": sorted(names[r.id] for r in ties.front(rows)),
        "budget picks": [
            (p.budget.label, names[p.pick.id] if p.pick else None) for p in budget_picks(rows)
        ],
        "select --max-p50 10us #1": names[picks[0].record.id] if picks else None,
        "plain stars (no ties)": sorted(names[r.id] for r in pareto_front(rows)),
    }


def heavier(path: Path, hidden: int = HIDDEN) -> bytes:
    """The same model plus a wide MatMul branch on its input, added to the output times 0:
    identical outputs, a measurably heavier graph."""
    model = onnx.load(str(path))
    graph = model.graph
    x, y = graph.input[0].name, graph.output[0].name
    features = int(np.prod([d.dim_value for d in graph.input[0].type.tensor_type.shape.dim[1:]]))
    classes = graph.output[0].type.tensor_type.shape.dim[1].dim_value
    rng = np.random.default_rng(0)
    inits = {
        "inj_shape": np.array([-1, features], dtype=np.int64),
        "inj_w1": rng.standard_normal((features, hidden)).astype(np.float32),
        "inj_w2": rng.standard_normal((hidden, hidden)).astype(np.float32),
        "inj_w3": rng.standard_normal((hidden, classes)).astype(np.float32),
        "inj_zero": np.zeros((1,), dtype=np.float32),
    }
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in inits.items())
    for node in graph.node:  # the old output becomes an inner value
        node.output[:] = [f"{o}_inner" if o == y else o for o in node.output]
    graph.node.extend([
        helper.make_node("Reshape", [x, "inj_shape"], ["inj_flat"]),
        helper.make_node("MatMul", ["inj_flat", "inj_w1"], ["inj_h1"]),
        helper.make_node("Relu", ["inj_h1"], ["inj_r1"]),
        helper.make_node("MatMul", ["inj_r1", "inj_w2"], ["inj_h2"]),
        helper.make_node("MatMul", ["inj_h2", "inj_w3"], ["inj_h3"]),
        helper.make_node("Mul", ["inj_h3", "inj_zero"], ["inj_nothing"]),
        helper.make_node("Add", [f"{y}_inner", "inj_nothing"], [y]),
    ])  # fmt: skip
    onnx.checker.check_model(model)
    return model.SerializeToString()


def bare_p50(model: bytes, x: np.ndarray, runs: int = 3000) -> float:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x}
    return loop_p50_ms(lambda: session.run(None, feed), runs, warmup=200)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--artifacts", type=Path, help="a model cache to start from (copied)")
    parser.add_argument("--keep", type=Path, help="keep the stores and artifacts here")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="rerun-noise-"))
    work.mkdir(parents=True, exist_ok=True)
    artifacts, db = work / "artifacts", work / "results.db"
    if args.artifacts and not artifacts.exists():
        shutil.copytree(args.artifacts, artifacts)
    config = load_config(None)
    print(f"default sweep, [latency] rounds = {config.latency.rounds}; work folder {work}")

    runs: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for name, loaded in (("quiet 1", False), ("loaded", True), ("quiet 2", False)):
        if loaded:
            with busy():
                runs[name], seconds[name] = sweep(config, db, artifacts)
        else:
            runs[name], seconds[name] = sweep(config, db, artifacts)
        print(f"  run {runs[name]} ({name}): {seconds[name]:.1f} s")
    # The cost, alternated twice so a change of the shared machine's load hits both; the
    # faster of each pair is the least disturbed.
    one = dataclasses.replace(config, latency=dataclasses.replace(config.latency, rounds=1))
    cost: dict[str, list[float]] = {"rounds=1": [], "rounds=3": []}
    for i in range(2):
        cost["rounds=1"].append(sweep(one, work / f"one_round{i}.db", artifacts)[1])
        cost["rounds=3"].append(sweep(config, work / f"three_rounds{i}.db", artifacts)[1])

    q1, ld, q2 = runs["quiet 1"], runs["loaded"], runs["quiet 2"]
    for base, head in ((q1, ld), (q1, q2)):
        ratios = p50_ratios(db, base, head)
        print(f"  p50 run {head} / run {base} over the same files: median {np.median(ratios):.3f},"
              f" range {min(ratios):.3f} - {max(ratios):.3f}")  # fmt: skip
    print("\nfalse regressions between identical reruns (same cached files):")
    for base, head in ((q1, ld), (ld, q2), (q1, q2)):
        code, fails, unsure, _ = compare_cli(db, base, head)
        alone = test_alone(db, base, head)
        print(
            f"  compare {base} -> {head}: exit {code}, {fails} FAIL, {unsure} inconclusive;"
            f" the noise test alone (files judged as changed): {alone[0]} regressions,"
            f" {alone[1]} inconclusive"
        )
    for run_id in (ld, q2):
        reg, unsure = history_regressions(db, run_id)
        print(f"  history page at run {run_id}: {reg} regressed, {unsure} inconclusive")

    print("\ndecisions across the three runs:")
    made = {name: decisions(db, run_id) for name, run_id in runs.items()}
    for what in made["quiet 1"]:
        values = [made[name][what] for name in runs]
        same = all(v == values[0] for v in values)
        count = f" ({len(values[0])} stars)" if "stars" in what else ""  # type: ignore[arg-type]
        print(f"  {what}: {'identical' if same else 'DIFFERENT'}{count}")
        if not same or "stars" not in what:
            for name, v in zip(runs, values, strict=True):
                print(f"    {name}: {v}")

    print("\ndetection of an injected slowdown:")
    with Store(db) as store:
        target = next(
            r for r in store.candidates(q2)
            if r.runtime == "onnxruntime" and r.compression == "fp32" and r.policy == "none"
        )  # fmt: skip
    path = Path(target.artifact or "")
    original = path.read_bytes()
    slow = heavier(path)
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    x = np.random.default_rng(0).standard_normal([1, *(d.dim_value for d in dims[1:])])
    x = x.astype(np.float32)
    ratio = bare_p50(slow, x) / bare_p50(original, x)
    print(f"  {target.policy}/{target.compression}/{target.runtime}: heavier graph, bare loop "
          f"{ratio:.2f}x slower")  # fmt: skip
    try:
        path.write_bytes(slow)
        quiet_id, _ = sweep(config, db, artifacts)
        with busy():
            loaded_id, _ = sweep(config, db, artifacts)
    finally:
        path.write_bytes(original)
    label = f"/ {target.compression} / {target.runtime}"
    for name, head in (("quiet", quiet_id), ("loaded", loaded_id)):
        code, fails, unsure, out = compare_cli(db, q2, head)
        row = next((line for line in out.splitlines()
                    if f"{target.policy} {label}" in line and "latency_p50_ms" in line), "")  # fmt: skip
        verdict = (
            "FLAGGED"
            if "FAIL" in row
            else ("inconclusive" if "inconclusive" in row else "not flagged")
        )
        print(f"  {name} (run {q2} -> {head}): exit {code}, {fails} FAIL, {unsure} inconclusive;"
              f" the slowed series: {verdict}")  # fmt: skip
        print(f"    {' '.join(row.split())}")
    reg, unsure = history_regressions(db, quiet_id)
    print(
        f"  history page at run {quiet_id} (quiet, slowed): {reg} regressed, {unsure} inconclusive"
    )

    print("\ncost of rounds (default sweep, cached models, quiet, same machine):")
    for name, values in cost.items():
        print(f"  {name}: {', '.join(f'{v:.1f} s' for v in values)}")
    ratio = min(cost["rounds=3"]) / min(cost["rounds=1"])
    print(f"  ratio of the fastest of each: {ratio:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
