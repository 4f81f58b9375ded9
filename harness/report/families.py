"""Which compression family a candidate belongs to: its leaderboard marker and legend entry."""

from __future__ import annotations

from harness.report.data import compression_family
from harness.store.results import CandidateRecord

__all__ = ["TRAINING_FAMILIES", "candidate_family"]

# Chains with a training step form their own family, whatever the setting is called (their
# markers are fixed in harness.report.axes).
TRAINING_FAMILIES = ("distill", "qat")


def candidate_family(r: CandidateRecord) -> str:
    """'distill' or 'qat' when the candidate's chain has that step, else the first word of
    its compression label."""
    spec = r.details.get("compression_spec")
    steps = spec.get("steps", []) if isinstance(spec, dict) else spec
    for step in steps if isinstance(steps, list) else []:
        if isinstance(step, dict) and step.get("pass") in TRAINING_FAMILIES:
            return str(step["pass"])
    return compression_family(r.compression)
