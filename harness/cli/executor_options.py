"""The `--executor`, `--address` and `--measure-parallel` options of `harness run` and
`harness sweep`: where training, compression and conversion run, and how many lanes
measure at once on this machine (a target with device resources measures on its device).

Attached to the commands from here, so `commands.py` only asks for the executor."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from harness.sweep.executors import EXECUTORS, Executor, make_executor

__all__ = ["attach", "current_executor"]

_KEY = "harness.executor"

EXECUTOR = click.Option(
    ["--executor"],
    default="local",
    show_default=True,
    type=click.Choice(EXECUTORS.names()),
    help="Where jobs run: serial (this process), local (a process pool), ray.",
)
ADDRESS = click.Option(
    ["--address"],
    default=None,
    help="Ray cluster to join, host:port (with --executor ray; default: start Ray here).",
)

MEASURE_PARALLEL = click.Option(
    ["--measure-parallel"],
    default=1,
    show_default=True,
    type=int,
    metavar="N",
    help="Measure N candidates at once here, each lane pinned to its own cores (default: serial).",
)


def _with_executor(callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def command(
        *args: Any, executor: str, address: str | None, measure_parallel: int, **kwargs: Any
    ) -> Any:
        jobs = make_executor(executor, address, measure_parallel)
        click.get_current_context().meta[_KEY] = jobs
        try:
            return callback(*args, **kwargs)
        finally:
            jobs.close()

    return command


def attach(group: click.Group, names: tuple[str, ...] = ("run", "sweep")) -> None:
    """Give each named command the three options and an executor for its run."""
    for name in names:
        command = group.commands[name]
        command.params.extend([EXECUTOR, ADDRESS, MEASURE_PARALLEL])
        assert command.callback is not None
        command.callback = _with_executor(command.callback)


def current_executor() -> Executor | None:
    """The executor the running command was given (None outside a command)."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(_KEY) if ctx is not None else None
