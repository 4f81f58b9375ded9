"""The `--executor` and `--address` options of `harness run` and `harness sweep`: where
training, compression and conversion run (measurement stays on this machine)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from harness.sweep.executors import EXECUTORS

__all__ = ["executor_options"]


def executor_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--address",
        default=None,
        help="Ray cluster to join, host:port (with --executor ray; default: start Ray here).",
    )(command)
    return click.option(
        "--executor",
        default="local",
        show_default=True,
        type=click.Choice(EXECUTORS.names()),
        help="Where jobs run: serial (this process), local (a process pool), ray.",
    )(command)
