"""`import harness` and `harness --help` stay light: no torch, runtimes or plotly."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "onnxruntime", "ai_edge_litert", "plotly", "tensorflow")


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_and_help_load_no_heavy_module() -> None:
    loaded = _loaded_after(
        "import harness, harness.cli.commands\n"
        "from click.testing import CliRunner\n"
        "r = CliRunner().invoke(harness.cli.commands.cli, ['--help'])\n"
        "assert r.exit_code == 0, r.output"
    )
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


def test_parsing_the_default_config_loads_no_runtime_or_torch() -> None:
    loaded = _loaded_after("from harness.config.load import load_config\nload_config(None)")
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}
