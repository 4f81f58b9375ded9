"""`harness runs` and `harness gc`: what is stored, how much disk it takes, and freeing
the disk a nightly's leftovers take (see harness.store.cleanup)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from harness.cli.commands import artifacts_option, cli, db_option, site_option
from harness.errors import StoreError


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


@cli.command()
@db_option
@artifacts_option
@site_option
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
def gc(db: Path, artifacts: Path, site_dir: Path, dry_run: bool) -> None:
    """Remove cached models no run in the store refers to, temporary folders of harness
    processes that are gone, and unfinished site builds; print what and how many bytes."""
    from harness.store.cleanup import artifact_garbage, remove, site_garbage, temp_garbage
    from harness.store.liveness import is_live
    from harness.store.results import Store

    with Store.open_existing(db) as store:
        runs = store.runs()
        live = [r.id for r in runs if r.status == "running" and is_live(db, r.config_hash)]
        if live:
            raise StoreError(
                f"run {live[0]} is still running on {db}; run gc when it has finished "
                "(its models are not in the store yet)"
            )
        referenced = [c.artifact for c in store.all_candidates() if c.artifact]
    garbage = (
        artifact_garbage(artifacts, referenced)
        + temp_garbage(Path(tempfile.gettempdir()))
        + site_garbage(site_dir)
    )
    for item in garbage:
        click.echo(f"{human(item.size):>9}  {item.path}  ({item.why})")
    total = sum(item.size for item in garbage)
    if dry_run:
        click.echo(f"would remove {len(garbage)} item(s), {human(total)} ({total} bytes)")
        return
    freed = remove(garbage)
    click.echo(f"removed {len(garbage)} item(s), {human(freed)} ({freed} bytes)")


@cli.command()
@db_option
@artifacts_option
def runs(db: Path, artifacts: Path) -> None:
    """List the stored runs (a killed one shows as interrupted), and the disk they take."""
    from dataclasses import replace

    from harness.report.leaderboard import runs_table
    from harness.store.cleanup import store_size, tree_size
    from harness.store.liveness import shown_status
    from harness.store.results import Store

    with Store.open_existing(db) as store:
        stored = [
            replace(r, status=shown_status(db, r.status, r.config_hash)) for r in store.runs()
        ]
        click.echo(runs_table(stored, store.candidate_counts()))
    cache = tree_size(artifacts) if artifacts.is_dir() else 0
    click.echo(f"store: {db} {human(store_size(db))}; model cache: {artifacts} {human(cache)}")
    click.echo("'harness gc' removes cached models and leftovers no stored run refers to")
