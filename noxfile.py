"""The developer's verbs: `nox -s tests`, `lint`, `typecheck`, `demo`, `e2e`, `screenshot`, `bench`,
`cpu` (the CPU-dependent tests on an emulated CPU).

CI (.ci/run) calls exactly the README's test command, which is `nox -s tests`.
"""

from __future__ import annotations

import os
import shutil

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
    """The whole suite, browser tests included."""
    _ensure_chromium(session)
    session.install("-e", ".[dev]")
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
    session.run("python", "tests/browser.py", "site/index.html", "docs/leaderboard.png")


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
