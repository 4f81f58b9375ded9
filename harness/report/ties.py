"""When two candidates are tied, and what a decision does about it (pure).

- Accuracy: every candidate answered the same test samples, so two are compared with
  McNemar's exact test on the samples where exactly one of them is right (a binomial
  test of those discordant samples against 50/50). Tied when p >= ACCURACY_ALPHA. Rows
  stored without per-sample results fall back to: tied when each accuracy lies inside
  the other's 95% Wilson interval.
- Latency: tied when the p50s differ by less than the noise band, Z standard deviations
  of the log-ratio of two medians of rounds, from the run's pooled round-to-round noise
  of each runtime (harness.report.noise), or by less than LATENCY_TIE_FLOOR.
- File size is exact bytes: smaller is smaller.
- MAE (harness.report.scores turns it so more is better): two regression candidates
  answered the same test samples too, so they are tied when the mean of the per-sample
  differences of absolute error lies within PAIRED_Z standard errors of zero (a paired
  z-test); rows without per-sample errors fall back to the 95% intervals. Unscored models
  all tie on the score, so size and latency decide. Each task is decided on its own.

Decisions take ties into account: a candidate is off the Pareto front only when another
is at least as good on every objective (tied counts) and better beyond the tie on one;
a pick is the most accurate candidate, or among those tied with it on accuracy the
smaller, then the faster; and it says what it is tied with.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.report import scores
from harness.report.noise import Noise, Z, pooled_by_runtime
from harness.store.results import CandidateRecord

ACCURACY_ALPHA = 0.05
PAIRED_Z = 1.96  # two-sided 95% for the paired difference of regression errors
# The smallest latency difference a decision acts on, whatever the measured noise: the
# history page's +10% and asv compare's default factor of 1.1. Rounds of one file agree to
# the timer's resolution, so their spread alone would split two identical graphs by 1%,
# and that 1% flips between runs (benchmarks/rerun_noise.py).
LATENCY_TIE_FLOOR = 0.10
_FLOOR = math.log1p(LATENCY_TIE_FLOOR)
RULE_TEXT = (
    "Ties: two candidates are tied on accuracy when McNemar's exact test on the test samples "
    f"only one of them gets right gives p ≥ {ACCURACY_ALPHA:g} (rows without per-sample "
    "results: when each accuracy lies inside the other's 95% interval), and on latency when "
    f"their p50s differ by less than {Z:g} standard deviations of the run's round-to-round "
    f"noise or by less than {LATENCY_TIE_FLOOR:.0%}, whichever is wider. A tie is broken by "
    "the next objective: smaller, then faster. Two regression models are tied on MAE when "
    "the mean difference of their per-sample absolute errors lies within "
    f"{PAIRED_Z:g} standard errors of zero (a paired test on the same test samples; rows "
    "without per-sample errors: when each MAE lies inside the other's 95% interval); a model "
    "measured without a score is ranked by size, then latency. Candidates of different "
    "tasks are never ranked against each other."
)


def mcnemar_p(b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Two-sided exact McNemar p-values for discordant counts b and c (elementwise): a
    binomial test of min(b, c) in b + c trials at 1/2, as scipy.stats.binomtest computes it."""
    from scipy.stats import binom

    b, c = np.asarray(b), np.asarray(c)
    p = 2 * binom.cdf(np.minimum(b, c), b + c, 0.5)
    return np.minimum(1.0, np.where(b + c == 0, 1.0, p))


@functools.cache
def _most_lopsided(n: int) -> np.ndarray:
    """For m = 0..n discordant samples, the largest min(b, c) whose McNemar p is below
    ACCURACY_ALPHA (-1 when none is): a pair is tied when its min(b, c) exceeds it."""
    m = np.repeat(np.arange(n + 1), np.arange(n + 1) // 2 + 1)
    k = np.concatenate([np.arange(i // 2 + 1) for i in range(n + 1)])
    significant = mcnemar_p(k, m - k) < ACCURACY_ALPHA
    out = np.full(n + 1, -1, dtype=np.int64)
    np.maximum.at(out, m[significant], k[significant])
    return out


@dataclass(frozen=True)
class Ties:
    """The tie relations among a set of measured candidates (rows in `records` order)."""

    records: tuple[CandidateRecord, ...]
    accuracy: np.ndarray
    low: np.ndarray
    high: np.ndarray
    bits: np.ndarray | None  # (n, words) uint64, when every row stored its samples
    log_p50: np.ndarray
    p50_sd: np.ndarray  # sd of each row's log median-of-rounds p50; 0 when unknown
    errors: np.ndarray | None = None  # (n, samples) absolute errors, when every row stored them

    @classmethod
    def of(cls, records: Sequence[CandidateRecord]) -> Ties:
        """`records` share one task: `accuracy` is its score turned so more is better
        (harness.report.scores), the same for every row when nothing is scored."""
        rows = tuple(records)
        score = scores.score_of(rows[0]) if rows else scores.SCORES.get("classify")
        acc = np.array([score.goodness(r) for r in rows], dtype=float).reshape(len(rows), 3)
        packed = [str(r.details.get("correct_bits") or "") for r in rows]
        bits = None
        if rows and all(packed) and len({len(h) for h in packed}) == 1:
            raw = np.frombuffer(bytes.fromhex("".join(packed)), dtype=np.uint8)
            raw = raw.reshape(len(rows), -1)
            width = -(-raw.shape[1] // 8) * 8  # whole 64-bit words: 8x fewer popcounts
            padded = np.zeros((len(rows), width), dtype=np.uint8)
            padded[:, : raw.shape[1]] = raw
            bits = padded.view(np.uint64)
        noise = run_noise(rows)
        sd = [_median_sd(noise.get(r.runtime), _rounds(r)) for r in rows]
        # An unmeasured latency is the slowest, never the fastest, when ties are broken.
        p50 = [r.metric("latency_p50_ms") or math.inf for r in rows]
        return cls(
            rows, acc[:, 0], acc[:, 1], acc[:, 2], bits,
            np.log(np.maximum(p50, 1e-12)), np.array(sd, dtype=float), _sample_errors(rows),
        )  # fmt: skip

    def accuracy_tied(self, i: int, rows: np.ndarray | None = None) -> np.ndarray:
        """Which rows (of `rows`, default all) are tied with row i on accuracy; row i is
        tied with itself."""
        idx = np.arange(len(self.records)) if rows is None else rows
        acc = self.accuracy[idx]
        if self.bits is not None:
            own, other = self.bits[i], self.bits[idx]
            b = np.bitwise_count(own & ~other).sum(axis=1)
            c = np.bitwise_count(~own & other).sum(axis=1)
            return np.minimum(b, c) > _most_lopsided(int(self.bits.shape[1] * 64))[b + c]
        if self.errors is not None:
            # Paired: the mean per-sample difference of absolute errors against its 95% band.
            d = self.errors[idx] - self.errors[i]
            se = d.std(axis=1, ddof=1) / math.sqrt(d.shape[1])
            return np.abs(d.mean(axis=1)) <= PAIRED_Z * se
        a = self.accuracy[i]
        inside = (self.low[idx] <= a) & (a <= self.high[idx])
        tied = inside & (self.low[i] <= acc) & (acc <= self.high[i])
        return tied | (acc == a)  # equal is tied even without an interval

    def latency_tied(self, i: int) -> np.ndarray:
        band = np.maximum(Z * np.sqrt(self.p50_sd[i] ** 2 + self.p50_sd**2), _FLOOR)
        return np.abs(self.log_p50 - self.log_p50[i]) <= band


def _sample_errors(rows: Sequence[CandidateRecord]) -> np.ndarray | None:
    """Each row's per-sample absolute errors (regression), when every row stored them for
    the same number (at least 2) of test samples."""
    packed = [str(r.details.get("sample_errors") or "") for r in rows]
    if not rows or not all(packed) or len({len(h) for h in packed}) != 1 or len(packed[0]) < 16:
        return None
    raw = np.frombuffer(bytes.fromhex("".join(packed)), dtype="<f4")
    return raw.reshape(len(rows), -1).astype(np.float64)


def _rounds(r: CandidateRecord) -> int:
    return len((r.details.get("latency") or {}).get("round_p50_ms") or ()) or 1


def _median_sd(noise: Noise | None, rounds: int) -> float:
    return 0.0 if noise is None else noise.sd / math.sqrt(rounds)


def run_noise(records: Sequence[CandidateRecord]) -> dict[str, Noise]:
    """runtime -> the run's pooled round-to-round noise of log p50."""
    rounds = {r.key: (r.details.get("latency") or {}).get("round_p50_ms") or [] for r in records}
    return pooled_by_runtime(rounds, {r.key: r.runtime for r in records})


def front(records: Sequence[CandidateRecord]) -> list[CandidateRecord]:
    """The Pareto front of each task (its score up, file bytes and p50 down; size and p50
    alone when nothing is scored) with ties: a candidate is dominated only by one of its
    task at least as good on all three (tied counts) and better beyond the tie on one."""
    return [r for _, group in scores.by_task(records) for r in _front(group)]


def _front(records: Sequence[CandidateRecord]) -> list[CandidateRecord]:
    usable = [
        r for r in records
        if scores.has_score(r) and all(r.metric(k) is not None
                                       for k in ("file_bytes", "latency_p50_ms"))
    ]  # fmt: skip
    if not usable:
        return []
    ties = Ties.of(usable)
    size = np.array([r.metric("file_bytes") for r in usable], dtype=float)
    settled = _dominated_by_plain_front(ties.accuracy, size, ties.log_p50)
    keep = []
    for i, r in enumerate(usable):
        if settled[i]:
            continue
        lat_tie = ties.latency_tied(i)
        faster = ~lat_tie & (ties.log_p50 < ties.log_p50[i])
        # Only candidates no larger and no slower beyond the tie can dominate: the paired
        # accuracy test runs on those alone.
        rivals = np.flatnonzero((size <= size[i]) & (lat_tie | faster))
        more = ties.accuracy[rivals] > ties.accuracy[i]
        ahead = (size[rivals] < size[i]) | faster[rivals]
        if np.any(more & ahead):  # more accurate, tied or not, and smaller or faster
            continue
        acc_tie = ties.accuracy_tied(i, rivals)
        if not np.any((acc_tie | more) & ((~acc_tie & more) | ahead)):
            keep.append(r)
    return keep


def _dominated_by_plain_front(acc: np.ndarray, size: np.ndarray, log_p50: np.ndarray) -> np.ndarray:
    """Rows that a member of the exact Pareto front beats with a smaller file while no less
    accurate and no slower: dominated under the tie rule too, with no test to run (most
    rows of a big sweep)."""
    from harness.report.data import pareto_mask

    front = np.flatnonzero(pareto_mask(np.column_stack([-acc, size, log_p50])))
    out = np.zeros(len(acc), dtype=bool)
    for start in range(0, len(acc), 1000):
        part = slice(start, start + 1000)
        beats = (
            (acc[front][None, :] >= acc[part, None])
            & (size[front][None, :] < size[part, None])
            & (log_p50[front][None, :] <= log_p50[part, None])
        )
        out[part] = beats.any(axis=1)
    return out


@dataclass(frozen=True)
class Pick:
    record: CandidateRecord
    tied: tuple[CandidateRecord, ...]  # tied with the pick on accuracy, passed over

    def tied_text(self) -> str:
        if not self.tied:
            return ""
        names = [f"{r.policy} · {r.compression} · {r.runtime}" for r in self.tied[:3]]
        more = f" and {len(self.tied) - 3} more" if len(self.tied) > 3 else ""
        on = scores.score_of(self.record).name or "size and latency"
        return (
            f"tied on {on} with {', '.join(names)}{more}; ties go to the smaller, then the faster"
        )


def ranked(records: Sequence[CandidateRecord]) -> list[Pick]:
    """Best first within each task (tasks in harness.report.scores order): the best scored
    remaining candidate's tie group gives up its smallest member (then fastest, latency
    ties going to the smaller); repeat."""
    return [p for _, group in scores.by_task(records) for p in _ranked(group)]


def _ranked(records: Sequence[CandidateRecord]) -> list[Pick]:
    rows = [r for r in records if scores.has_score(r)]
    if not rows:
        return []
    ties = Ties.of(rows)
    left = np.ones(len(rows), dtype=bool)
    picks = []
    while left.any():
        top = int(np.flatnonzero(left)[np.argmax(ties.accuracy[left])])
        group = np.flatnonzero(left & ties.accuracy_tied(top))
        best = _break_tie(ties, group)
        picks.append(Pick(rows[best], tuple(rows[j] for j in group if j != best)))
        left[best] = False
    return picks


def best(records: Sequence[CandidateRecord]) -> Pick | None:
    """The first of `ranked`, in one pass (budget boxes need only the winner)."""
    groups = [[r for r in g if scores.has_score(r)] for _, g in scores.by_task(records)]
    rows = next((g for g in groups if g), [])
    if not rows:
        return None
    ties = Ties.of(rows)
    top = int(np.argmax(ties.accuracy))
    group = np.flatnonzero(ties.accuracy_tied(top))
    pick = _break_tie(ties, group)
    return Pick(rows[pick], tuple(rows[j] for j in group if j != pick))


def _break_tie(ties: Ties, group: np.ndarray) -> int:
    """Among candidates tied on accuracy: the smallest file; among equal files, the fastest
    and those tied with it on latency; among those, the most accurate (then the first)."""
    size = np.array([ties.records[j].metric("file_bytes") or math.inf for j in group])
    smallest = group[size == size.min()]
    fastest = int(smallest[np.argmin(ties.log_p50[smallest])])
    near = smallest[ties.latency_tied(fastest)[smallest]]
    return int(near[np.argmax(ties.accuracy[near])])
