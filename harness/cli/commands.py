"""The `harness` command: parse options, call one library function, print the result.

Errors the user can fix arrive as HarnessError and leave as one line and exit 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from harness import __version__
from harness.cli.outcome import (
    EXIT_BAD_INPUT,
    as_user_error,
    error_lines,
    failed_summary,
    report_interrupt,
    resume_hint,
)
from harness.cli.paths import check_site_target, check_writable
from harness.cli.progress import make_progress
from harness.cli.signals import Interrupted, stop_on_signals
from harness.errors import HarnessError

DEFAULT_DB = Path(".harness/results.db")
DEFAULT_ARTIFACTS = Path(".harness/artifacts")
DEFAULT_SITE = Path("site")
INCONCLUSIVE_EXIT = 4  # compare: 2 is bad input, 3 a sweep with failed candidates


class HarnessGroup(click.Group):
    """Turns HarnessError into `harness: error: ...` lines and exit status 2, in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with stop_on_signals():
                return super().invoke(ctx)
        except Interrupted as exc:
            if not exc.reported:
                click.echo(f"harness: interrupted by {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("harness: interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:
            error = as_user_error(exc)
            if error is None:
                raise  # a bug: keep its traceback
            for line in error_lines(str(error) or type(exc).__name__):
                click.echo(f"harness: error: {line}", err=True)
            ctx.exit(EXIT_BAD_INPUT)


db_option = click.option(
    "--db", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_DB,
    show_default=True, help="SQLite results store.",
)  # fmt: skip
site_option = click.option(
    "--site", "site_dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_SITE,
    show_default=True, help="Folder the static report is written to.",
)  # fmt: skip
artifacts_option = click.option(
    "--artifacts", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_ARTIFACTS,
    show_default=True, help="Content-addressed cache of trained, compressed and converted models.",
)  # fmt: skip
config_argument = click.argument(
    "config", required=False, type=click.Path(dir_okay=False, path_type=Path)
)
example_option = click.option(
    "--example", metavar="NAME", help="A built-in example sweep: default | tiny-vision."
)


@click.group(cls=HarnessGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
def cli() -> None:
    """Sweep augmentation policies and compression settings, measure every model on
    ONNX Runtime and LiteRT, and render a static leaderboard.

    \b
    Exit status:
      0    done; every candidate measured
      1    compare/select: a threshold crossed, or no candidate meets the budget
      2    bad input (config, data, model file, store, path): one line says what
      3    the sweep completed but some candidates failed (count and first reasons shown)
      130  stopped by SIGINT (Ctrl-C), 143 by SIGTERM: the run is marked interrupted;
           the same command resumes it
    """


def _sweep(
    config_path: Path | None, db: Path, artifacts: Path, example: str | None = None
) -> tuple[Any, Any]:
    from harness.cli.executor_options import current_executor
    from harness.config.load import load_config
    from harness.store.results import Store
    from harness.sweep.driver import run_sweep

    config = load_config(config_path, example)
    check_writable(artifacts, "--artifacts")
    for note in config.notes:
        click.echo(note)
    progress = make_progress()
    with Store(db) as store:
        try:
            summary = run_sweep(config, store, artifacts.resolve(), progress, current_executor())
        except Interrupted as exc:
            progress.end()
            _explain_interrupt(exc, config, store)
            raise
        finally:
            progress.end()
        records = store.candidates(summary.run_id)
    counts = summary.counts
    click.echo(
        f"run {summary.run_id}: {summary.ok} candidates measured, {summary.failed} failed"
        + (f", {counts['unsupported']} unsupported" if counts["unsupported"] else "")
        + (f", {summary.resumed} already done (resumed)" if summary.resumed else "")
    )
    imported = f", {counts['imported']} imported" if counts["imported"] else ""
    click.echo(
        f"models: {counts['trained']} trained{imported}, {counts['reused_trained']} reused "
        f"from cache; {counts['compressed']} compressed, {counts['reused_compressed']} reused"
    )
    from harness.report.leaderboard import timings_text

    click.echo(timings_text(dict(summary.timings)))
    click.echo(f"results: {db}")
    return summary, records


def _explain_interrupt(exc: Interrupted, config: Any, store: Any) -> None:
    """Which run was stopped, how far it got, and the command that resumes it."""
    from harness.hashing import hash_spec
    from harness.measure.machine import describe_machine, machine_hash
    from harness.sweep.plan import make_plan

    run_id = store.resumable_run(hash_spec(config.spec()), machine_hash(describe_machine()))
    stored = len(store.done_keys(run_id)) if run_id is not None else 0
    ctx = click.get_current_context()
    defaults = {p.name: p.default for p in ctx.command.params if p.name}
    hint = resume_hint(ctx.info_name or "run", dict(ctx.params), defaults)
    report_interrupt(str(exc), run_id, stored, len(make_plan(config).candidates), hint)
    exc.reported = True


@cli.command()
@config_argument
@example_option
@db_option
@artifacts_option
@site_option
@click.option("--top", default=10, show_default=True, help="Rows of the text leaderboard.")
def run(
    config: Path | None, example: str | None, db: Path, artifacts: Path, site_dir: Path, top: int
) -> None:
    """Sweep CONFIG (default: the built-in digits sweep, or --example NAME), store results,
    render the site.

    Exit status 3 when the sweep completed but some candidates failed; see `harness -h`."""
    from harness.report.leaderboard import text_leaderboard
    from harness.report.render import build_site
    from harness.store.results import Store

    check_site_target(site_dir)
    summary, records = _sweep(config, db, artifacts, example)
    with Store(db) as store:
        index = build_site(store, site_dir, summary.run_id)
    click.echo(text_leaderboard(records, top))
    click.echo(f"site: {index.resolve()}")
    sys.exit(failed_summary(records, site_dir))


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@db_option
@artifacts_option
def sweep(config: Path, db: Path, artifacts: Path) -> None:
    """Measure and store every candidate of CONFIG (no site).

    Exit status 3 when the sweep completed but some candidates failed; see `harness -h`."""
    _, records = _sweep(config, db, artifacts)
    sys.exit(failed_summary(records))


@cli.command()
@db_option
@site_option
@click.option("--run", "run_id", type=int, default=None, help="Run to report (default: latest).")
def report(db: Path, site_dir: Path, run_id: int | None) -> None:
    """Render the static site from the results store."""
    from harness.report.render import build_site
    from harness.store.results import Store

    check_site_target(site_dir)
    with Store.open_existing(db) as store:
        index = build_site(store, site_dir, run_id)
    click.echo(f"site: {index.resolve()}")


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--data", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help=".npz with model-ready inputs (x, or arrays named as the model's inputs) and labels y.",
)  # fmt: skip
@click.option("--task", type=click.Choice(["classify", "regress", "none"]),
              help="What y is scored as (default: inferred from y and the outputs).")  # fmt: skip
@click.option("--layout", type=click.Choice(["nchw", "nhwc"]),
              help="How 4-D x is stored; transposed when the model takes the other.")  # fmt: skip
@click.option(
    "--runtime", "runtimes", multiple=True, help="Runtime(s) to use (default: all that can)."
)
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--batch", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--min-runs", default=100, show_default=True, type=click.IntRange(min=1))
@click.option("--min-seconds", default=0.5, show_default=True, type=click.FloatRange(min=0))
@click.option("--store", "to_store", is_flag=True, help="Also add the results to the store.")
@db_option
def bench(
    model: Path,
    data: Path,
    task: str | None,
    layout: str | None,
    runtimes: tuple[str, ...],
    threads: int,
    batch: int,
    min_runs: int,
    min_seconds: float,
    to_store: bool,
    db: Path,
) -> None:
    """Measure size, latency, memory, parity and the task's score (accuracy, MAE) of a MODEL
    file (.onnx or .tflite) you bring; exit 1 when no runtime could run it."""
    from harness.config.load import LatencySpec, RuntimeSpec
    from harness.measure.runtimes import RUNTIMES
    from harness.report.leaderboard import bench_table
    from harness.store.results import Store
    from harness.sweep.bench import bench_file, check_model_file, load_bench_data, store_bench

    names = check_model_file(model, runtimes)
    bench_data = load_bench_data(data)
    if to_store:  # a store that cannot take the results is refused before measuring
        Store(db).close()
    specs = [
        RuntimeSpec(name, RUNTIMES.get(name).parse_settings({"threads": threads})) for name in names
    ]
    latency = LatencySpec(batch, 20, min_runs, min_seconds, 100_000, 600)
    records = bench_file(model, bench_data, specs, latency, task, layout)
    click.echo(bench_table(records))
    if to_store:
        spec = {"bench": {"model": str(model), "data": str(data), "runtimes": list(names)}}
        with Store(db) as store:
            run_id = store_bench(store, records, spec)
        click.echo(f"stored as run {run_id} in {db}")
    if not any(r.status == "ok" for r in records):
        click.echo(f"harness: no runtime produced a result for {model.name}", err=True)
        sys.exit(1)


def _pick_runs(store: Any, base: int | None, head: int | None) -> tuple[int, int]:
    """HEAD defaults to the latest sweep, BASE to the sweep of the same config before it."""
    if head is None:
        head = store.latest_run_id()
    if base is None and head is not None:
        base = store.previous_run_id(head)
    if base is None or head is None:
        sweeps = sum(r.kind == "sweep" for r in store.runs())
        raise HarnessError(
            f"compare needs two runs; the store has {sweeps} sweep(s). Run the sweep again"
        )
    return base, head


@cli.command()
@click.argument("base", required=False, type=int)
@click.argument("head", required=False, type=int)
@click.option(
    "--fail-on", default="", metavar="RULES",
    help="Exit 1 when a change crosses a rule, e.g. 'accuracy<-0.5pt,p50>+10%,size>+0%' "
    "(regression models: 'mae>+5%'); "
    "exit 4 when a latency change crosses one but stays inside the measured noise.",
)  # fmt: skip
@db_option
def compare(base: int | None, head: int | None, fail_on: str, db: Path) -> None:
    """Changes per candidate from run BASE to run HEAD (default: the last two runs).

    Exit status: 0 no threshold crossed, 1 a threshold crossed (latency: beyond the noise
    too), 4 inconclusive (a latency change crossed a threshold inside the noise), 2 bad input.
    """
    from harness.report.compare import compare_runs, parse_thresholds, threshold_problem
    from harness.report.history_rows import noise_inputs
    from harness.report.leaderboard import compare_table
    from harness.store.results import Store

    thresholds = parse_thresholds(fail_on)
    with Store.open_existing(db) as store:
        base, head = _pick_runs(store, base, head)
        base_run, head_run = store.run(base), store.run(head)
        base_rows, head_rows = store.candidates(base), store.candidates(head)
        if problem := threshold_problem(thresholds, [*base_rows, *head_rows]):
            raise HarnessError(problem)
        changes = compare_runs(
            base_run, head_run, base_rows, head_rows, thresholds, noise_inputs(store, base, head)
        )
    click.echo(f"run {base} -> run {head}")
    if base_run.machine_hash != head_run.machine_hash:
        click.echo("latency not compared: the runs were measured on different machines")
    click.echo(compare_table(changes))
    crossed = [c for c in changes if c.crossed]
    if crossed:
        click.echo(f"{len(crossed)} change(s) cross --fail-on thresholds", err=True)
        sys.exit(1)
    unsure = [c for c in changes if c.inconclusive]
    if unsure:
        click.echo(
            f"{len(unsure)} latency change(s) cross --fail-on thresholds but not the noise: "
            "inconclusive; rerun on a quieter machine or with more [latency] rounds",
            err=True,
        )
        sys.exit(INCONCLUSIVE_EXIT)


def main() -> None:
    cli(prog_name="harness")
