"""The `--executor` and `--address` options of `harness run` and `harness sweep`: where
training, compression and conversion run (measurement stays on this machine).

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


def _with_executor(callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def command(*args: Any, executor: str, address: str | None, **kwargs: Any) -> Any:
        jobs = make_executor(executor, address)
        click.get_current_context().meta[_KEY] = jobs
        try:
            return callback(*args, **kwargs)
        finally:
            jobs.close()

    return command


def attach(group: click.Group, names: tuple[str, ...] = ("run", "sweep")) -> None:
    """Give each named command the two options and an executor for its run."""
    for name in names:
        command = group.commands[name]
        command.params.extend([EXECUTOR, ADDRESS])
        assert command.callback is not None
        command.callback = _with_executor(command.callback)


def current_executor() -> Executor | None:
    """The executor the running command was given (None outside a command)."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(_KEY) if ctx is not None else None
