"""How much latency moves by itself, and whether a change stands out of it (pure).

Latency is compared on a log scale (a ratio), with two sources of noise:
- within a run: the round-to-round spread of a candidate's round p50s (each round a fresh
  process), pooled per runtime over the run's candidates;
- across runs: how much the p50 of the *same file* (same sha256, same runtime version,
  same machine) moved between runs. Nothing about such a pair changed but the machine's
  state, so every such change is noise by construction and is never called a regression:
  it is a sample of the noise other candidates are judged against.

A latency change is a regression only when it exceeds both the user's threshold and the
noise band (Z standard deviations of the difference); a change beyond the threshold but
inside the band is "inconclusive: noise ±N%", neither pass nor fail.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# Half-width of the noise band in standard deviations of a log-ratio: under normal noise
# an unchanged candidate exceeds it once in about 700 comparisons.
Z = 3.0
REGRESSION, OK, INCONCLUSIVE, SAME_FILE = "regression", "ok", "inconclusive", "same file"
# Same-file pairs between the two runs compared that make their own noise estimate; with
# fewer, the runtime's same-file changes over the whole history are used.
MIN_PAIRS = 3


def log_sd(values: Sequence[float]) -> float | None:
    """Sample standard deviation of log(values); None below two positive values."""
    logs = [math.log(v) for v in values if v > 0]
    if len(logs) < 2:
        return None
    mean = sum(logs) / len(logs)
    return math.sqrt(sum((x - mean) ** 2 for x in logs) / (len(logs) - 1))


@dataclass(frozen=True)
class Noise:
    """A standard deviation of log latency and how many degrees of freedom back it."""

    sd: float
    dof: int

    @property
    def percent(self) -> float:
        """The Z-sigma band as a percentage: 'noise ±N%'."""
        return (math.exp(Z * self.sd) - 1) * 100


def pooled(groups: Iterable[Sequence[float]]) -> Noise | None:
    """Round-to-round noise pooled over candidates: sqrt(sum((n-1) s^2) / sum(n-1)) of each
    candidate's log round p50s; None when no candidate has two rounds."""
    total, dof = 0.0, 0
    for values in groups:
        sd = log_sd(values)
        if sd is not None:
            n = sum(v > 0 for v in values)
            total += (n - 1) * sd**2
            dof += n - 1
    return Noise(math.sqrt(total / dof), dof) if dof else None


def pooled_by_runtime(
    rounds: Mapping[str, Sequence[float]], runtime_of: Mapping[str, str]
) -> dict[str, Noise]:
    """runtime -> its pooled round-to-round noise, from key -> round p50s."""
    groups: dict[str, list[Sequence[float]]] = {}
    for key, values in rounds.items():
        if key in runtime_of:
            groups.setdefault(runtime_of[key], []).append(values)
    out = {}
    for runtime, group in groups.items():
        noise = pooled(group)
        if noise is not None:
            out[runtime] = noise
    return out


def same_file_noise(changes: Iterable[float]) -> Noise | None:
    """Across-run noise from log(after / before) of same-file pairs: their root mean square
    about zero (a change of the whole machine, e.g. a loaded run, counts as noise)."""
    values = [c for c in changes if math.isfinite(c)]
    if not values:
        return None
    return Noise(math.sqrt(sum(c * c for c in values) / len(values)), len(values))


@dataclass(frozen=True)
class Verdict:
    kind: str  # REGRESSION, OK, INCONCLUSIVE or SAME_FILE
    change: float  # after / before - 1
    band: float | None  # the noise band as a fraction (±), None when nothing estimates it

    @property
    def text(self) -> str:
        noise = "unknown" if self.band is None else f"±{self.band * 100:.0f}%"
        if self.kind == INCONCLUSIVE:
            return f"inconclusive: noise {noise}"
        if self.kind == SAME_FILE:
            return "same file and runtime: a noise sample"
        if self.kind == REGRESSION:
            return f"beyond the threshold and the noise ({noise})"
        return ""


def band_sd(
    across: Noise | None,
    within_before: Noise | None = None,
    rounds_before: int = 1,
    within_after: Noise | None = None,
    rounds_after: int = 1,
) -> float | None:
    """Standard deviation of log(after / before) for one candidate: the across-run noise
    plus each run's round noise of a median of that many rounds (sd^2 / n)."""
    parts = [across.sd**2] if across else []
    if within_before:
        parts.append(within_before.sd**2 / max(1, rounds_before))
    if within_after:
        parts.append(within_after.sd**2 / max(1, rounds_after))
    return math.sqrt(sum(parts)) if parts else None


def judge(
    before: float, after: float, threshold: float, sd: float | None, same_file: bool = False
) -> Verdict:
    """A rise of `after` over `before` (medians) against the user's `threshold` (a fraction,
    0.10 for +10%) and a band of Z * `sd` on the log scale."""
    change = after / before - 1 if before > 0 else 0.0
    band = None if sd is None else math.exp(Z * sd) - 1
    if same_file:
        return Verdict(SAME_FILE, change, band)
    if change <= threshold + 1e-12:
        return Verdict(OK, change, band)
    if sd is not None and math.log(after / before) > Z * sd:
        return Verdict(REGRESSION, change, band)
    return Verdict(INCONCLUSIVE, change, band)


def same_file_changes(points: Sequence[tuple], machine_hash: str) -> list[float]:
    """log(p50 after / p50 before) of consecutive measured points of one series on
    `machine_hash` whose file and runtime version did not change. A point is a tuple
    (run_id, machine_hash, status, latency_p50_ms, artifact_sha256, runtime_version)."""
    out = []
    prev: tuple | None = None
    for point in points:
        _, machine, status, p50, sha, version = point
        if status != "ok" or machine != machine_hash or not p50:
            continue
        if prev is not None and sha and (sha, version) == (prev[4], prev[5]):
            out.append(math.log(p50 / prev[3]))
        prev = point
    return out
