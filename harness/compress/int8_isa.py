"""Which int8 quantizer settings ONNX Runtime's int8 kernels compute exactly, per CPU (pure).

ORT's CPU int8 matrix kernels (MLAS) multiply uint8 activations by int8 weights. On x86
without VNNI they use `vpmaddubsw`, which adds two u8 x s8 products into a *16-bit*
register with saturation: 255 x 127 x 2 = 64770 > 32767, so large activations meeting
large weights are clipped and the model's outputs drift (the "u8s8 saturation" ORT's
documentation describes). 7-bit weights (`reduce_range`, |w| <= 64) keep every pair sum
under 32767 (255 x 64 x 2 = 32640). VNNI (`vpdpbusd`, AVX-512 VNNI or AVX-VNNI) and ARM
(`sdot`/`udot`, or NEON widening multiplies) accumulate in 32 bits and need no such care;
full 8-bit weights are then strictly more accurate.

The family of a CPU is read from its instruction-set flags (as /proc/cpuinfo spells them);
each family is one registry entry, so a new kernel family is one line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "FAMILIES",
    "ISAS",
    "Int8Choice",
    "int8_choice",
    "isa_family",
    "resolve_isa",
    "target_choice",
]

X86 = ("x86_64", "amd64", "i386", "i686", "x86")
ARM = ("aarch64", "arm64", "armv8l", "armv8b")


@dataclass(frozen=True)
class Family:
    """One group of CPUs on which ORT's int8 kernels behave alike."""

    reduce_range: bool
    why: str


FAMILIES: dict[str, Family] = {
    "vnni": Family(
        False,
        "VNNI (vpdpbusd) accumulates u8 x s8 products in 32 bits: no saturation, "
        "full 8-bit weights",
    ),
    "avx512": Family(
        True,
        "AVX-512 without VNNI: ORT's u8s8 kernel (vpmaddubsw) saturates 16-bit pair sums; "
        "7-bit weights (reduce_range) keep them exact",
    ),
    "avx2": Family(
        True,
        "AVX2 without VNNI: ORT's u8s8 kernel (vpmaddubsw) saturates 16-bit pair sums; "
        "7-bit weights (reduce_range) keep them exact",
    ),
    "sse": Family(
        True,
        "x86 without AVX2: ORT's SSE4.1 u8s8 kernel (pmaddubsw, Windows builds) saturates "
        "16-bit pair sums; 7-bit weights (reduce_range) keep every build exact",
    ),
    "arm64": Family(
        False,
        "ARM64: ORT's int8 kernels (sdot/udot, or NEON widening multiplies) accumulate in "
        "32 bits: no saturation, full 8-bit weights",
    ),
    "any": Family(
        True,
        "any CPU (not one known family): 7-bit weights (reduce_range) are exact on every "
        "ORT int8 kernel",
    ),
}


@dataclass(frozen=True)
class Int8Choice:
    """The quantizer settings for one target and why (stored in the candidate's notes)."""

    isa: str
    reduce_range: bool
    reason: str


def isa_family(arch: str, flags: Iterable[str]) -> str:
    """The kernel family of a CPU: `arch` as platform.machine() names it, `flags` as
    /proc/cpuinfo spells them (avx2, avx512f, avx512_vnni, avx_vnni, asimddp, ...)."""
    have = {f.lower() for f in flags}
    machine = arch.lower()
    if machine in ARM:
        return "arm64"
    if machine not in X86:
        return "any"
    if have & {"avx512_vnni", "avx_vnni"}:
        return "vnni"
    if "avx512f" in have and "avx512bw" in have:
        return "avx512"
    if "avx2" in have:
        return "avx2"
    return "sse"


def int8_choice(family: str, reduce_range: bool | None = None) -> Int8Choice:
    """The settings that make ORT's int8 kernels exact on `family`; `reduce_range` forces
    the weights' range (the reason then says what the family would have chosen)."""
    entry = FAMILIES[family]
    if reduce_range is None or reduce_range == entry.reduce_range:
        chosen = "7-bit weights" if entry.reduce_range else "8-bit weights"
        return Int8Choice(family, entry.reduce_range, f"{chosen} for {family}: {entry.why}")
    if reduce_range:
        reason = (
            f"7-bit weights forced by reduce_range = true (exact everywhere, coarser); "
            f"{family} would use 8-bit weights: {entry.why}"
        )
    else:
        reason = (
            f"8-bit weights forced by reduce_range = false: ORT's int8 kernels may saturate "
            f"on {family}: {entry.why}"
        )
    return Int8Choice(family, reduce_range, reason)


ISAS = ("auto", *FAMILIES)  # a pass's `isa` setting: "auto" is the machine of the sweep


def resolve_isa(isa: str, arch: str, flags: Iterable[str]) -> str:
    """A pass's `isa` setting for the CPU that will run the model: "auto" becomes its family."""
    return isa_family(arch, flags) if isa == "auto" else isa


def target_choice(isa: str, reduce_range: bool | None = None) -> Int8Choice:
    """The choice for a pass's `isa` setting; an unresolved "auto" takes the one exact on
    any CPU."""
    return int8_choice("any" if isa == "auto" else isa, reduce_range)
