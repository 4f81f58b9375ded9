"""The click commands: parse options, call one library function, print the result.

The only layer that may import every other one; bad input becomes one line and exit 2 here.
"""

from harness.cli import housekeeping as _housekeeping  # noqa: F401  (attaches runs, gc)
from harness.cli import init_command as _init_command  # noqa: F401  (attaches init)
from harness.cli import ops as _ops  # noqa: F401  (attaches `harness ops`)
from harness.cli import select_command as _select  # noqa: F401  (attaches `harness select`)
from harness.cli.commands import cli, main
from harness.cli.executor_options import attach

attach(cli)

__all__ = ["cli", "main"]
