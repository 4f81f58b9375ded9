"""The `harness` command: parse options, call one library function, print the result.

Errors the user can fix arrive as HarnessError and leave as one line and exit 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from harness import __version__
from harness.errors import HarnessError

DEFAULT_DB = Path(".harness/results.db")
DEFAULT_ARTIFACTS = Path(".harness/artifacts")
DEFAULT_SITE = Path("site")


class HarnessGroup(click.Group):
    """Turns HarnessError into `harness: error: ...` lines and exit status 2, in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HarnessError as exc:
            for line in str(exc).splitlines() or [type(exc).__name__]:
                click.echo(f"harness: error: {line}", err=True)
            ctx.exit(2)


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


class BarProgress:
    """The sweep's progress as a click progress bar on stderr."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.current = ""

    def begin(self, total: int) -> None:
        self.bar = click.progressbar(
            length=total, label="sweep", file=sys.stderr, show_pos=True,
            item_show_func=lambda _: self.current,
        )  # fmt: skip
        self.bar.__enter__()

    def advance(self, label: str) -> None:
        self.current = label
        self.bar.update(1)

    def note(self, message: str) -> None:
        self.current = message
        self.bar.update(0)

    def end(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@click.group(cls=HarnessGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
def cli() -> None:
    """Sweep augmentation policies and compression settings, measure every model on
    ONNX Runtime and LiteRT, and render a static leaderboard."""


def _sweep(config_path: Path | None, db: Path, artifacts: Path) -> tuple[Any, Any]:
    from harness.config import load_config
    from harness.store import Store
    from harness.sweep import run_sweep

    config = load_config(config_path)
    progress = BarProgress()
    with Store(db) as store:
        try:
            summary = run_sweep(config, store, artifacts, progress)
        finally:
            progress.end()
        records = store.candidates(summary.run_id)
    counts = summary.counts
    click.echo(
        f"run {summary.run_id}: {summary.ok} candidates measured, {summary.failed} failed"
        + (f", {summary.resumed} already done (resumed)" if summary.resumed else "")
    )
    click.echo(
        f"models: {counts['trained']} trained, {counts['reused_trained']} reused from cache; "
        f"{counts['compressed']} compressed, {counts['reused_compressed']} reused"
    )
    click.echo(f"results: {db}")
    return summary, records


@cli.command()
@config_argument
@db_option
@artifacts_option
@site_option
@click.option("--top", default=10, show_default=True, help="Rows of the text leaderboard.")
def run(config: Path | None, db: Path, artifacts: Path, site_dir: Path, top: int) -> None:
    """Sweep CONFIG (default: the built-in digits sweep), store results, render the site."""
    from harness.leaderboard import text_leaderboard
    from harness.report import build_site
    from harness.store import Store

    summary, records = _sweep(config, db, artifacts)
    with Store(db) as store:
        index = build_site(store, site_dir, summary.run_id)
    click.echo(text_leaderboard(records, top))
    click.echo(f"site: {index}")


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@db_option
@artifacts_option
def sweep(config: Path, db: Path, artifacts: Path) -> None:
    """Measure and store every candidate of CONFIG (no site)."""
    _sweep(config, db, artifacts)


@cli.command()
@db_option
@site_option
@click.option("--run", "run_id", type=int, default=None, help="Run to report (default: latest).")
def report(db: Path, site_dir: Path, run_id: int | None) -> None:
    """Render the static site from the results store."""
    from harness.report import build_site
    from harness.store import Store

    with Store.open_existing(db) as store:
        index = build_site(store, site_dir, run_id)
    click.echo(f"site: {index}")


@cli.command()
@db_option
def runs(db: Path) -> None:
    """List the stored runs."""
    from harness.leaderboard import runs_table
    from harness.store import Store

    with Store.open_existing(db) as store:
        click.echo(runs_table(store.runs(), store.candidate_counts()))


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--data", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help=".npz with model-ready inputs x and class ids y.",
)  # fmt: skip
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
    runtimes: tuple[str, ...],
    threads: int,
    batch: int,
    min_runs: int,
    min_seconds: float,
    to_store: bool,
    db: Path,
) -> None:
    """Measure accuracy, size and latency of a MODEL file (.onnx or .tflite) you bring."""
    from harness.bench import bench_file, check_model_file, load_bench_data, store_bench
    from harness.config import LatencySpec, RuntimeSpec
    from harness.leaderboard import bench_table
    from harness.runtimes import RUNTIMES
    from harness.store import Store

    names = check_model_file(model, runtimes)
    bench_data = load_bench_data(data)
    specs = [
        RuntimeSpec(name, RUNTIMES.get(name).parse_settings({"threads": threads})) for name in names
    ]
    latency = LatencySpec(batch, 20, min_runs, min_seconds, 100_000, 600)
    records = bench_file(model, bench_data, specs, latency)
    click.echo(bench_table(records))
    if to_store:
        spec = {"bench": {"model": str(model), "data": str(data), "runtimes": list(names)}}
        with Store(db) as store:
            run_id = store_bench(store, records, spec)
        click.echo(f"stored as run {run_id} in {db}")


@cli.command()
@click.argument(
    "path", required=False, default="harness.toml", type=click.Path(dir_okay=False, path_type=Path)
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: Path, force: bool) -> None:
    """Write a commented example config (the built-in default) to PATH."""
    from harness.config import default_config_text

    if path.exists() and not force:
        raise HarnessError(f"{path} already exists; pass --force to overwrite it")
    path.write_text(default_config_text())
    click.echo(f"wrote {path}; run it with: harness run {path}")


def main() -> None:
    cli(prog_name="harness")
