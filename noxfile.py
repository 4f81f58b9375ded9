"""The developer's verbs: `nox -s tests`, `lint`, `typecheck`, `demo`, `e2e`, `screenshot`,
`bench`, `cpu` (the CPU-dependent tests on an emulated CPU), `mutants`.

CI (.ci/run) calls exactly the README's test command, which is `nox -s tests`.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "typecheck", "tests"]

CHROMIUM = "/usr/bin/chromium"


def _ensure_chromium(session: nox.Session) -> None:
    """The browser tests drive Debian's chromium; install it where we are root on Debian."""
    if os.path.exists(CHROMIUM):
        return
    if shutil.which("apt-get") and os.geteuid() == 0:
        session.run("apt-get", "update", "-qq", external=True)
        session.run("apt-get", "install", "-y", "-qq", "chromium", external=True)
        return
    session.error("the browser tests need Debian's chromium: sudo apt-get install chromium")


@nox.session
def tests(session: nox.Session) -> None:
    """The whole suite, browser tests and the Ray cluster tests included."""
    _ensure_chromium(session)
    session.install("-e", ".[dev,ray]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    paths = ("harness", "models", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over the package, with the real libraries installed for their types."""
    session.install("-e", ".[dev]", "mypy")
    session.run("mypy")


@nox.session
def demo(session: nox.Session) -> None:
    """The built-in default sweep, end to end: prints the leaderboard and site/index.html."""
    session.install("-e", ".[train]")
    session.run("harness", "run", *session.posargs)


@nox.session
def e2e(session: nox.Session) -> None:
    """Only the headless-browser tests of the rendered site."""
    _ensure_chromium(session)
    session.install("-e", ".[dev]")
    session.run("pytest", "-m", "browser", *session.posargs)


@nox.session
def screenshot(session: nox.Session) -> None:
    """Run the default sweep and save the leaderboard's picture for the README."""
    _ensure_chromium(session)
    session.install("-e", ".[dev]")
    session.run("harness", "run")
    session.run("python", "tests/helpers/browser.py", "site/index.html", "docs/leaderboard.png")


# The tests whose outcome depends on the CPU's int8 kernels (see docs/int8.md).
CPU_TESTS = (
    "tests/test_compress_ort_quant.py", "tests/test_compress_int8_isa.py",
    "tests/test_sweep_stages.py", "tests/test_machine.py",
)  # fmt: skip


@nox.session
def cpu(session: nox.Session) -> None:
    """The CPU-dependent tests on an emulated CPU (QEMU user mode; ORT and numpy read its
    CPUID): nox -s cpu -- EPYC-Milan (AVX2, no VNNI: the default) or Haswell, Skylake-Server."""
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        if shutil.which("apt-get") and os.geteuid() == 0:
            session.run("apt-get", "install", "-y", "-qq", "qemu-user", external=True)
            qemu = shutil.which("qemu-x86_64")
        if qemu is None:
            session.error("emulating a CPU needs QEMU user mode: sudo apt-get install qemu-user")
    session.install("-e", ".[dev]")
    model = session.posargs[0] if session.posargs else "EPYC-Milan"
    python = os.path.join(session.bin, "python")
    session.run(qemu, "-cpu", model, python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                *CPU_TESTS, external=True)  # fmt: skip


@nox.session
def bench(session: nox.Session) -> None:
    """Run one benchmark script: nox -s bench -- benchmarks/default_sweep.py"""
    session.install("-e", ".[dev]")
    session.run("python", *(session.posargs or ["benchmarks/default_sweep.py"]))


# mutmut's exit codes per mutant: the tests failed (or hung, or crashed) = the mutant is caught.
CAUGHT = {1, 3, 24, -24, 36, 37, 152, 255, -9, -11}
SURVIVED, NO_TESTS = {0}, {5, 33}
# Of those caught, the ones stopped at mutmut's time limit: on a loaded machine a slow test
# can be stopped while passing, so the table says how many (rerun them by name when quiet).
TIMED_OUT = {36, -24, 24, 152, 255}
MUTATION_TARGET = 85.0


@nox.session
def mutants(session: nox.Session) -> None:
    """Mutation testing of the core pure modules (slow: most of an hour on 2 cores).

    mutmut changes one operator, constant or call at a time in the modules listed in
    pyproject's [tool.mutmut] and runs the fast tests that reach the changed function; a
    mutant no test notices is a wrong number the suite would let through. Prints the score
    per module; docs/mutation.md lists the survivors and why each is accepted.
    `nox -s mutants -- NAME...` reruns only the named mutants of the last run.
    """
    session.install("-e", ".[dev]", "mutmut==3.8.1")
    if not session.posargs:  # a fresh run: every mutant judged by the tests as they are now
        shutil.rmtree("mutants", ignore_errors=True)
    session.run("mutmut", "run", *session.posargs)
    lines, scores = mutation_scores(Path("mutants"))
    for line in lines:
        session.log(line)
    low = [f"{name} {score:.1f}%" for name, score in scores.items() if score < MUTATION_TARGET]
    if low:
        session.error(f"mutation score below {MUTATION_TARGET:.0f}%: {', '.join(low)}")


def mutation_scores(root: Path) -> tuple[list[str], dict[str, float]]:
    """A table of caught / judged mutants per module from mutmut's results, and the score of
    each module and of the total (each must reach the target).

    A mutant no selected test reaches counts as survived: nothing would catch it."""
    counts: dict[str, Counter[str]] = {}
    for meta in sorted(root.rglob("*.py.meta")):
        module = meta.relative_to(root).as_posix().removesuffix(".meta")
        c = counts.setdefault(module, Counter())
        for code in json.loads(meta.read_text())["exit_code_by_key"].values():
            if code in CAUGHT:
                c["caught"] += 1
                c["timed out"] += code in TIMED_OUT
            elif code in SURVIVED:
                c["survived"] += 1
            elif code in NO_TESTS:
                c["no tests"] += 1
            elif code is None:
                c["not run"] += 1
            else:
                c["other"] += 1
    header = f"{'module':<36} {'caught':>7} {'survived':>9} {'no tests':>9} {'score':>7}"
    lines, total = [header], Counter[str]()
    for module, c in counts.items():
        total.update(c)
        lines.append(_score_line(module, c))
    counts["total"] = total
    lines.append(_score_line("total", total))
    return lines, {name: _score(c) for name, c in counts.items()}


def _score(c: Counter[str]) -> float:
    judged = c["caught"] + c["survived"] + c["no tests"]
    return 100.0 * c["caught"] / judged if judged else 0.0


def _score_line(name: str, c: Counter[str]) -> str:
    judged = c["caught"] + c["survived"] + c["no tests"]
    score = f"{100.0 * c['caught'] / judged:.1f}%" if judged else "–"
    notes = [f"{c[k]} {k}" for k in ("timed out", "not run") if c[k]]
    extra = f"  ({', '.join(notes)})" if notes else ""
    return f"{name:<36} {c['caught']:>7} {c['survived']:>9} {c['no tests']:>9} {score:>7}{extra}"
