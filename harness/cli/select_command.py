"""`harness select`: the Pareto-optimal candidates of a run that meet a budget, best first.

A budget on the score names its task's metric: --min-accuracy for classifiers, --max-mae
for regression models; one that no candidate of the run is scored by is refused."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.cli.commands import cli, db_option
from harness.errors import HarnessError


@cli.command()
@click.option("--max-size", help="Largest model file, e.g. 64KB.")
@click.option("--max-p50", help="Slowest median latency, e.g. 1ms or 250us.")
@click.option("--min-accuracy", help="Lowest test accuracy, e.g. 0.97 or 97% (classifiers).")
@click.option(
    "--max-mae", help="Largest mean absolute error on the test targets, e.g. 0.05 "
    "(regression models).",
)  # fmt: skip
@click.option(
    "--runtime", "--target", "runtime",
    help="Only candidates on this target (as the config names it, e.g. 'litert int8') "
    "or on every target of this runtime (e.g. litert).",
)  # fmt: skip
@click.option("--run", "run_id", type=int, help="Run to choose from (default: latest).")
@click.option(
    "--export", "export_dir", type=click.Path(file_okay=False, path_type=Path),
    help="Copy the best pick's model file and model card here.",
)  # fmt: skip
@db_option
def select(
    max_size: str | None,
    max_p50: str | None,
    min_accuracy: str | None,
    max_mae: str | None,
    runtime: str | None,
    run_id: int | None,
    export_dir: Path | None,
    db: Path,
) -> None:
    """The Pareto-optimal candidates that meet a budget, best first."""
    from harness.report.leaderboard import select_table, select_ties
    from harness.report.modelcard import export
    from harness.report.select import (
        Budget,
        decides,
        explain_none,
        parse_accuracy,
        parse_duration,
        parse_error,
        parse_size,
        score_budget_problem,
        select_picks,
        unknown_target,
    )
    from harness.report.ties import RULE_TEXT
    from harness.store.results import Store

    budget = Budget(
        max_size=parse_size(max_size) if max_size else None,
        max_p50=parse_duration(max_p50) if max_p50 else None,
        min_accuracy=parse_accuracy(min_accuracy) if min_accuracy else None,
        max_mae=parse_error(max_mae) if max_mae else None,
        runtime=runtime,
    )
    with Store.open_existing(db) as store:
        run_id = run_id if run_id is not None else store.latest_run_id()
        if run_id is None:
            raise HarnessError(f"no runs in {db}; run 'harness run' first")
        run_record = store.run(run_id)
        records = store.candidates(run_id)
        facts = store.extra(run_id, "data")
    if runtime is not None and (problem := unknown_target(records, runtime)):
        raise HarnessError(f"--runtime: {problem}")
    if problem := score_budget_problem(records, budget):
        raise HarnessError(problem)
    tied_picks = select_picks(records, budget)
    picks = [p.record for p in tied_picks]
    if not picks:
        click.echo(f"no candidate of run {run_id} meets the budget:")
        for line in explain_none(records, budget):
            click.echo(f"  {line}")
        sys.exit(1)
    click.echo(f"run {run_id}: {len(picks)} Pareto-optimal candidate(s) within the budget")
    for line in decides(records, budget):
        click.echo(line)
    click.echo(select_table(picks))
    if select_ties(tied_picks):
        click.echo(select_ties(tied_picks))
        click.echo(RULE_TEXT)
    if export_dir is not None:
        written = export(picks[0], run_record, export_dir, facts)
        click.echo(f"exported: {', '.join(str(p) for p in written)}")
