"""The folders are the pipeline's layers, and imports only run downhill between them.

A module may import its own layer and the layers below it in LAYERS; the base modules
(`harness`, errors, registry, hashing, specs) import only each other. Imports inside
functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Top to bottom. `models` is the models/ folder, installed as harness.models.
LAYERS = ["cli", "report", "sweep", "config", "train", "measure", "convert", "compress", "store"]
LAYERS += ["models", "base"]
BASE = {"errors", "registry", "hashing", "specs", "units"}


def layer_of(module: str) -> str:
    """The layer of a dotted module name inside harness."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in BASE or parts[1] == "__version__":
        return "base"
    if parts[1] not in LAYERS:
        raise AssertionError(f"{module}: not in any layer; add its folder to LAYERS")
    return parts[1]


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) for every harness import in the source, at any depth."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "harness"
            ]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "harness":
                found += [(node.lineno, f"harness.{a.name}") for a in node.names]
            elif node.module.startswith("harness."):
                found.append((node.lineno, node.module))
    return found


def package_modules() -> list[tuple[str, Path]]:
    """(dotted name, path) of every module in the package and models/."""
    mods = []
    for path in sorted((ROOT / "harness").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        mods.append((".".join(rel.parts).removesuffix(".__init__"), path))
    for path in sorted((ROOT / "models").glob("*.py")):
        mods.append((f"harness.models.{path.stem}".removesuffix(".__init__"), path))
    return mods


def violations(module: str, source: str) -> list[str]:
    """Imports of `module` that go uphill."""
    own = LAYERS.index(layer_of(module))
    return [
        f"{module}:{line} imports {target} ({layer_of(module)} may not import {layer_of(target)})"
        for line, target in imported_modules(source)
        if LAYERS.index(layer_of(target)) < own
    ]


def test_every_import_runs_downhill() -> None:
    bad = [v for name, path in package_modules() for v in violations(name, path.read_text())]
    assert not bad, "\n".join(bad)


def test_every_stage_folder_is_a_layer_with_a_docstring() -> None:
    folders = {p.parent.name for p in (ROOT / "harness").glob("*/__init__.py")}
    assert folders == set(LAYERS) - {"models", "base"}
    for folder in folders:
        doc = ast.get_docstring(ast.parse((ROOT / "harness" / folder / "__init__.py").read_text()))
        assert doc and "import" in doc.lower(), (
            f"harness/{folder}/__init__.py must say what it may import"
        )


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("harness.store.results", "from harness.report.data import rank", 1),
        ("harness.train.training", "def f():\n    import harness.sweep.driver\n", 1),
        ("harness.compress.prune", "from harness import errors", 0),
        ("harness.specs", "from harness.config import load", 1),
        ("harness.report.render", "from harness.store.results import Store", 0),
    ],
)
def test_the_rule_catches_uphill_imports(module: str, source: str, expected: int) -> None:
    assert len(violations(module, source)) == expected


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / "harness").rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert not long, long
