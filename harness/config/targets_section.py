"""The [targets] section: the devices that measure. Each `[targets.NAME]` names the Ray
custom resources a measurement asks for (`resources = { "device:rpi5" = 1 }`) and the
[runtimes] tables it runs (`runtimes = ["onnxruntime", "litert"]`, default: all of them).
A target without resources is this machine. No [targets] at all: every runtime is
measured here, as before targets existed (and the candidates keep their keys).
"""

from __future__ import annotations

from typing import Any

from harness.registry import nearest
from harness.specs import RuntimeSpec, TargetSpec

# Ray's own resources: a target asks for a device, the cores come with the task.
RESERVED = ("CPU", "GPU", "memory", "object_store_memory")
EXAMPLE = '{ "device:rpi5" = 1 }'


def _resource_problem(name: Any, amount: Any) -> str | None:
    if not isinstance(name, str) or not name.strip() or not name.isprintable():
        return f"resource name {name!r} must be printable text, e.g. {EXAMPLE}"
    if name in RESERVED:
        return f"{name!r} is Ray's own resource; name a device instead, e.g. {EXAMPLE}"
    if isinstance(amount, bool) or not isinstance(amount, int | float) or not amount > 0:
        return f"{name!r} must ask for a number > 0 of it, got {amount!r}"
    if amount > 1 and amount != int(amount):
        return f"{name!r}: Ray takes fractions only below 1; ask for a whole number, got {amount}"
    return None


def targets(
    value: Any,
    errors: list[tuple[str, str]],
    runtimes: list[RuntimeSpec],
    left_out: list[str],
    notes: list[str],
) -> list[TargetSpec]:
    """The targets, each problem recorded as (key, message); `left_out` are [runtimes]
    tables not installed here (a target listing one runs the rest, with a note)."""
    if value is None:
        return []
    if not isinstance(value, dict) or not value:
        errors.append(
            ("targets", f"must be tables of targets, e.g. [targets.rpi5] resources = {EXAMPLE}")
        )
        return []
    known = [r.name for r in runtimes]
    out = []
    for name, table in value.items():
        key = f"targets.{name}"
        if not isinstance(table, dict):
            errors.append((key, f"must be a table, e.g. resources = {EXAMPLE}"))
            continue
        unknown = sorted(set(table) - {"resources", "runtimes"})
        if unknown:
            errors.append(
                (
                    f"{key}.{unknown[0]}",
                    f"unknown key{nearest(unknown[0], ['resources', 'runtimes'])}; allowed keys: resources, runtimes",
                )
            )
            continue
        resources = table.get("resources", {})
        if not isinstance(resources, dict):
            errors.append(
                (f"{key}.resources", f"must be a table of resource = amount, e.g. {EXAMPLE}")
            )
            continue
        problems = [p for p in (_resource_problem(n, a) for n, a in resources.items()) if p]
        if problems:
            errors.append((f"{key}.resources", problems[0]))
            continue
        wanted = table.get("runtimes", known)
        if (
            not isinstance(wanted, list)
            or not wanted
            or not all(isinstance(r, str) for r in wanted)
        ):
            errors.append(
                (f"{key}.runtimes", f"must be a list of [runtimes] table names, e.g. {known[:2]}")
            )
            continue
        missing = [r for r in wanted if r not in known and r not in left_out]
        if missing:
            errors.append(
                (
                    f"{key}.runtimes",
                    f"no [runtimes.{missing[0]}] table{nearest(missing[0], known)}; declared: {', '.join(known) or 'none'}",
                )
            )
            continue
        if len(set(wanted)) != len(wanted):
            errors.append((f"{key}.runtimes", f"lists a runtime twice: {wanted}"))
            continue
        runs = tuple(r for r in wanted if r in known)
        if len(runs) < len(wanted):
            notes.append(
                f"{key}: runs {', '.join(runs) or 'nothing'}; the rest are not installed here"
            )
        if runs:
            amounts = {n: float(a) for n, a in sorted(resources.items())}
            out.append(TargetSpec(name=name, resources=amounts, runtimes=runs))
    return out
