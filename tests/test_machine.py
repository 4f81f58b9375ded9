"""The machine description records the instruction sets that decide ORT's int8 kernels."""

from __future__ import annotations

from harness.measure.machine import (
    CPUINFO_ONLY_ISA,
    NUMPY_ISA,
    combine_isa,
    cpu_isa,
    describe_machine,
    machine_hash,
)


def test_isa_is_recorded_sorted_with_cpuinfo_names() -> None:
    isa = cpu_isa()
    assert isa == sorted(set(isa))
    assert set(isa) <= {*NUMPY_ISA.values(), *CPUINFO_ONLY_ISA}
    assert describe_machine()["isa"] == isa


def test_isa_does_not_change_the_machine_identity() -> None:
    machine = describe_machine()
    assert machine_hash(machine) == machine_hash({**machine, "isa": ["avx2"]})


HOST = {"avx2", "fma", "sse4_1", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "sse2"}
HOST_CPUID = {"SSE41": True, "AVX2": True, "FMA3": True, "AVX512F": True, "AVX512BW": True,
              "AVX512VNNI": True, "ASIMD": False}  # fmt: skip


def test_cpuinfo_adds_what_numpy_cannot_see_when_both_describe_this_cpu() -> None:
    isa = combine_isa(HOST_CPUID, HOST)
    assert isa == ["avx2", "avx512_vnni", "avx512bw", "avx512f", "avx_vnni", "fma", "sse4_1"]
    alder_lake = {"SSE41": True, "AVX2": True, "FMA3": True}  # AVX-VNNI without AVX-512
    assert "avx_vnni" in combine_isa(alder_lake, {"sse4_1", "avx2", "fma", "avx_vnni"})


def test_under_an_emulator_the_hosts_flags_do_not_leak_in() -> None:
    """QEMU user mode: numpy reads the emulated CPU (an AVX2 EPYC-Milan), /proc/cpuinfo is
    the host's (with VNNI). The host's avx_vnni would make the int8 choice 8-bit weights,
    which the emulated CPU's kernels saturate."""
    milan = {"SSE41": True, "AVX2": True, "FMA3": True, "AVX512F": False, "AVX512VNNI": False}
    assert combine_isa(milan, HOST) == ["avx2", "fma", "sse4_1"]


def test_without_numpy_detection_cpuinfo_is_all_there_is() -> None:
    assert combine_isa({}, {"avx2", "avx_vnni", "sse2"}) == ["avx2", "avx_vnni"]
    assert combine_isa({}, None) == []
    assert combine_isa({"AVX2": True}, None) == ["avx2"]
