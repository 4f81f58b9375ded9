"""The CPU -> int8 settings table: every family, flag set and forced range, by hand."""

from __future__ import annotations

import pytest

from harness.compress.int8_isa import FAMILIES, ISAS, int8_choice, isa_family


@pytest.mark.parametrize(
    ("arch", "flags", "family"),
    [
        ("x86_64", ["sse4_1", "avx2", "fma"], "avx2"),  # AMD Zen 2/3, Intel Haswell..Comet Lake
        ("AMD64", ["avx2", "fma"], "avx2"),  # Windows spells the architecture so
        ("x86_64", ["avx2", "fma", "avx512f", "avx512bw"], "avx512"),  # Skylake-SP
        ("x86_64", ["avx2", "avx512f", "avx512bw", "avx512_vnni"], "vnni"),  # Cascade Lake, Zen 4
        ("x86_64", ["avx2", "fma", "avx_vnni"], "vnni"),  # Alder Lake: VNNI without AVX-512
        ("x86_64", ["AVX2", "AVX512_VNNI"], "vnni"),  # case does not matter
        ("x86_64", ["avx2", "avx512f"], "avx2"),  # Knights Landing: AVX-512 without BW
        ("x86_64", ["sse4_1"], "sse"),
        ("x86_64", [], "sse"),
        ("aarch64", ["asimd", "asimddp", "i8mm"], "arm64"),
        ("arm64", [], "arm64"),  # macOS
        ("riscv64", ["avx2"], "any"),  # flags of another architecture mean nothing
        ("", [], "any"),
    ],
)
def test_isa_family(arch: str, flags: list[str], family: str) -> None:
    assert isa_family(arch, flags) == family


@pytest.mark.parametrize(
    ("family", "reduce_range", "says"),
    [
        ("vnni", False, "8-bit weights for vnni: VNNI (vpdpbusd) accumulates"),
        ("avx512", True, "7-bit weights for avx512: AVX-512 without VNNI"),
        ("avx2", True, "7-bit weights for avx2: AVX2 without VNNI: ORT's u8s8 kernel (vpmaddubsw)"),
        ("sse", True, "7-bit weights for sse: x86 without AVX2"),
        ("arm64", False, "8-bit weights for arm64: ARM64"),
        ("any", True, "7-bit weights for any: any CPU"),
    ],
)
def test_each_family_gets_the_range_its_kernels_compute_exactly(
    family: str, reduce_range: bool, says: str
) -> None:
    choice = int8_choice(family)
    assert (choice.isa, choice.reduce_range) == (family, reduce_range)
    assert choice.reason.startswith(says)
    assert int8_choice(family, reduce_range) == choice  # forcing the same range changes nothing


def test_a_forced_range_says_so_and_what_the_family_needs() -> None:
    coarser = int8_choice("vnni", reduce_range=True)
    assert coarser.reduce_range is True
    assert coarser.reason.startswith("7-bit weights forced by reduce_range = true")
    assert "vnni would use 8-bit weights" in coarser.reason
    risky = int8_choice("avx2", reduce_range=False)
    assert risky.reduce_range is False
    assert risky.reason.startswith(
        "8-bit weights forced by reduce_range = false: ORT's int8 kernels may saturate on avx2"
    )


def test_the_pass_offers_every_family_and_auto() -> None:
    assert ISAS == ("auto", *FAMILIES)
    assert {f.reduce_range for f in FAMILIES.values()} == {True, False}
