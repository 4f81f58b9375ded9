"""`harness init`: write an example config to edit."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.commands import cli, example_option
from harness.errors import HarnessError


@cli.command()
@click.argument(
    "path", required=False, default="harness.toml", type=click.Path(dir_okay=False, path_type=Path)
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@example_option
def init(path: Path, force: bool, example: str | None) -> None:
    """Write a commented example config (the built-in default, or --example NAME) to PATH."""
    from harness.config.examples import DEFAULT_EXAMPLE, example_text

    text = example_text(example or DEFAULT_EXAMPLE)
    if path.exists() and not force:
        raise HarnessError(f"{path} already exists; pass --force to overwrite it")
    path.write_text(text)
    click.echo(f"wrote {path}; run it with: harness run {path}")
