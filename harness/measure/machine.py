"""What machine and software a run measured on: latency is only comparable within one."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import import_module
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


# numpy's runtime CPU detection (CPUID on x86, HWCAP on ARM) names -> /proc/cpuinfo names:
# the instruction sets that decide which int8 kernels ONNX Runtime runs.
NUMPY_ISA = {
    "SSE41": "sse4_1", "AVX2": "avx2", "FMA3": "fma", "AVX512F": "avx512f",
    "AVX512BW": "avx512bw", "AVX512VNNI": "avx512_vnni", "ASIMD": "asimd", "ASIMDDP": "asimddp",
}  # fmt: skip
CPUINFO_ONLY_ISA = ("avx_vnni", "amx_int8", "i8mm")  # numpy does not detect these


def cpu_isa() -> list[str]:
    """The int8-relevant instruction sets this process can use, as /proc/cpuinfo spells them.

    numpy asks the CPU itself (CPUID / HWCAP), so the answer is what the code will see, on any
    OS and under an emulator; /proc/cpuinfo adds what numpy does not detect."""
    features: dict[str, bool] = {}
    for module in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):  # 2.x, 1.x
        try:
            features = dict(getattr(import_module(module), "__cpu_features__", {}))
            break
        except ImportError:
            continue
    return combine_isa(features, _cpuinfo_flags())


def _cpuinfo_flags() -> set[str] | None:
    """The flags line of /proc/cpuinfo, or None where there is none."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.lower().startswith(("flags", "features")):
            return set(line.split(":", 1)[1].split())
    return None


def combine_isa(features: dict[str, bool], cpuinfo: set[str] | None) -> list[str]:
    """The instruction sets from numpy's CPU detection (`features`, its names) and the
    /proc/cpuinfo flags (pure).

    /proc/cpuinfo describes the host's CPU. Under an emulator (QEMU user mode) the process
    runs on another, whose CPUID numpy and ONNX Runtime both read: the host's flags would
    make an emulated AVX2 CPU look like a VNNI one. So the flags only /proc/cpuinfo knows
    (avx_vnni, ...) count only when it agrees with numpy on every flag both know; without
    numpy's detection, /proc/cpuinfo is all there is."""
    flags = cpuinfo or set()
    if not features:
        return sorted(f for f in (*NUMPY_ISA.values(), *CPUINFO_ONLY_ISA) if f in flags)
    found = {name for key, name in NUMPY_ISA.items() if features.get(key)}
    same_cpu = all(bool(features.get(key)) == (name in flags) for key, name in NUMPY_ISA.items())
    if cpuinfo is not None and same_cpu:
        found.update(f for f in CPUINFO_ONLY_ISA if f in flags)
    return sorted(found)


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
        "isa": cpu_isa(),
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
