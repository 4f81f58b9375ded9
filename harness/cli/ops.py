"""`harness ops MODEL...`: per model, every operator and what blocks its conversion."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.cli.commands import cli
from harness.errors import ConfigError


@cli.command()
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path))
def ops(models: tuple[Path, ...]) -> None:
    """List each ONNX MODEL's operators and whether it converts to LiteRT (exit 1 if one does not)."""
    from harness.convert.explain import check_conversion
    from harness.report.leaderboard import ops_table
    from harness.train.imported import load_onnx

    blocked = 0
    for path in models:
        if path.suffix.lower() != ".onnx":
            raise ConfigError(
                f"{path}: harness ops reads .onnx files; a .tflite runs on litert as it is"
            )
        check = check_conversion(load_onnx(path))
        click.echo(f"{path.name}: litert: {check.outcome}")
        click.echo(ops_table(check.ops))
        blocked += not check.converted
    if blocked:
        click.echo(f"{blocked} of {len(models)} model(s) do not convert to litert", err=True)
        sys.exit(1)
