"""Test modules share builders through tests/helpers and tests/conftest.py, never by
importing each other: a test module imported elsewhere runs its tests' module-level code
twice and couples unrelated files."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def imports_of_test_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import of a tests.test_* module in the source, at any depth."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.ImportFrom):  # relative: from . import test_x / from .test_x
            names = [f"tests.{node.module or ''}", *(f"tests.{a.name}" for a in node.names)]
        hits = {n for n in names if any(p.startswith("test_") for p in n.split(".")[1:2])}
        found += [(node.lineno, n) for n in sorted(hits) if n.startswith("tests.")]
    return found


def test_the_check_finds_every_spelling_of_a_test_module_import() -> None:
    source = (
        "import tests.test_a\n"
        "from tests.test_b import helper\n"
        "from tests import test_c\n"
        "from .test_d import x\n"
        "def f():\n    from tests.test_e import y\n"
        "from tests.helpers.graphs import conv_net\n"
        "import numpy as test_np\n"
    )
    assert {m.split(".")[1] for _, m in imports_of_test_modules(source)} == {
        "test_a",
        "test_b",
        "test_c",
        "test_d",
        "test_e",
    }


def test_no_test_module_imports_another() -> None:
    offences = [
        f"{path.relative_to(TESTS.parent)}:{line}: imports {module}; move what it needs to tests/helpers/"
        for path in sorted(TESTS.rglob("*.py"))
        for line, module in imports_of_test_modules(path.read_text())
    ]
    assert offences == []
