"""What machine and software a run measured on: latency is only comparable within one."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from harness.hashing import hash_spec
from harness.measure.peak import peak_macs_per_second

PACKAGES = ("numpy", "onnx", "onnxruntime", "ai-edge-litert", "torch", "scikit-learn", "scipy")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _governor() -> str | None:
    path = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    try:
        return path.read_text().strip()
    except OSError:
        return None


def package_versions() -> dict[str, str]:
    """Installed versions, read from metadata so nothing heavy is imported."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def describe_machine() -> dict[str, Any]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "usable_cores": affinity,
        "governor": _governor(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": package_versions(),
        # float32 MACs/s one core reaches: how close to compute-bound a latency is
        "peak_macs_per_s": round(peak_macs_per_second()),
    }


def machine_hash(machine: dict[str, Any]) -> str:
    """Hardware identity only: a package upgrade is a change to track, not a different machine."""
    return hash_spec({k: machine.get(k) for k in ("cpu", "arch", "cores", "os")}, length=12)


def git_revision(cwd: Path | None = None) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=cwd, capture_output=True, text=True, timeout=5, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None
