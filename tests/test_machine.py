"""The machine description records the instruction sets that decide ORT's int8 kernels."""

from __future__ import annotations

from harness.measure.machine import (
    CPUINFO_ONLY_ISA,
    NUMPY_ISA,
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
