"""Plain-text tables for the terminal: the top candidates of a run, and the stored runs."""

from __future__ import annotations

from collections.abc import Sequence

from harness.report import scores
from harness.report.data import (
    rank,
)
from harness.report.formats import (
    fmt_kb,
    fmt_ms,
)
from harness.store.results import CandidateRecord, Run


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]

    def fmt(row: Sequence[str]) -> str:
        cells = [
            str(c).rjust(w) if i in right else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=False))
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(r) for r in rows)])


def text_leaderboard(records: Sequence[CandidateRecord], top: int = 10) -> str:
    ranked = rank(records)[:top]
    failed = sum(r.status not in ("ok", "unsupported") for r in records)
    unsupported = sum(r.status == "unsupported" for r in records)
    rows = []
    for i, r in enumerate(ranked, 1):
        rows.append(
            (
                str(i), r.model, r.policy, r.compression, r.runtime,
                scores.score_of(r).text(r),
                f"{(r.metric('file_bytes') or 0) / 1024:.1f}",
                f"{r.metric('latency_p50_ms') or 0:.4f}",
            )
        )  # fmt: skip
    label = scores.score_label(records)
    label = {"accuracy": "accuracy [95% CI]", "MAE": "MAE [95% CI]"}.get(label, label)
    header = ("#", "model", "policy", "compression", "runtime", label, "KB", "p50 ms")
    text = f"top {len(rows)} of {len(records)} candidates\n" + _table(header, rows, {0, 6, 7})
    if failed:
        text += f"\n{failed} candidate(s) failed; their reasons are in the report"
    if unsupported:
        text += f"\n{unsupported} candidate(s) unsupported by their runtime; why is in the report"
    return text


def runs_table(runs: Sequence[Run], counts: dict[int, tuple[int, int]]) -> str:
    if not runs:
        return "no runs stored yet; start one with 'harness run'"
    rows = [
        (
            str(r.id), r.started_at, r.status, r.kind,
            r.config.get("name", "") if r.kind == "sweep" else r.config.get("bench", {}).get("model", ""),
            str(counts.get(r.id, (0, 0))[0]), str(counts.get(r.id, (0, 0))[1]),
            r.git_revision or "-", r.machine.get("cpu", "?"),
        )
        for r in runs
    ]  # fmt: skip
    header = ("run", "started (UTC)", "status", "kind", "config", "ok", "failed", "git", "machine")
    return _table(header, rows, {0, 5, 6})


def bench_table(records: Sequence[CandidateRecord]) -> str:
    rows = []
    for r in records:
        if r.status != "ok":
            rows.append((r.runtime, r.status, "", "", "", "", "", r.error or ""))
            continue
        rows.append(
            (
                r.runtime, "ok", _bench_score(r),
                f"{(r.metric('file_bytes') or 0) / 1024:.1f}",
                f"{(r.metric('compressed_bytes') or 0) / 1024:.1f}",
                f"{r.metric('latency_p50_ms') or 0:.4f}",
                f"{r.metric('latency_p90_ms') or 0:.4f}",
                _bench_note(r),
            )
        )  # fmt: skip
    header = ("runtime", "status", "score", "KB", "zlib KB", "p50 ms", "p90 ms", "note")
    return _table(header, rows, {2, 3, 4, 5, 6})


def _bench_score(r: CandidateRecord) -> str:
    """Accuracy for a classifier, MAE for a regressor, '-' when nothing is scored."""
    if r.metric("accuracy") is not None:
        return f"{(r.metric('accuracy') or 0) * 100:.2f}%"
    regression = r.details.get("regression")
    return f"MAE {regression['mae']:.4g}" if regression else "-"


def _bench_note(r: CandidateRecord) -> str:
    notes = []
    agreement = r.metric("parity_agreement")
    if agreement is not None:
        notes.append(f"agrees with onnxruntime on {agreement * 100:.1f}%")
    parity = [p for p in r.details.get("parity", []) if "max_abs" in p]
    if parity:
        worst = max(p["max_rel"] for p in parity)
        notes.append(f"max |diff| {max(p['max_abs'] for p in parity):.2g} ({worst:.1e} rel.)")
    batch = r.details.get("inputs", {}).get("batch")
    if batch:
        notes.append(f"fixed batch {batch}")
    return "; ".join(notes)


def _metric_text(metric: str, value: float | None) -> str:
    if value is None:
        return ""
    if metric in ("accuracy", "robust_accuracy"):
        return f"{value * 100:.2f}%"
    if metric in ("mae", "rmse"):
        return f"{value:.4g}"
    if metric.endswith("_ms"):
        return fmt_ms(value)
    if metric.endswith("bytes"):
        return fmt_kb(value)
    return f"{value:g}"


def compare_table(changes: Sequence) -> str:
    """Changes between two runs; crossed thresholds first."""
    if not changes:
        return "no changes between the two runs"
    ordered = sorted(changes, key=lambda c: (not c.crossed, c.label, c.metric))
    rows = []
    for c in ordered:
        if c.before is not None and c.after is not None and c.before:
            delta = f"{(c.after - c.before) / abs(c.before) * 100:+.1f}%"
            if c.metric in ("accuracy", "robust_accuracy"):
                delta = f"{(c.after - c.before) * 100:+.2f}pt"
        else:
            delta = ""
        verdict = ("FAIL " + " ".join(c.crossed)) if c.crossed else ""
        rows.append(
            (
                c.label,
                c.metric,
                _metric_text(c.metric, c.before),
                _metric_text(c.metric, c.after),
                delta,
                verdict,
                c.note,
            )
        )
    return _table(
        ("candidate", "metric", "base", "head", "change", "threshold", "note"), rows, {2, 3, 4}
    )


def select_table(records: Sequence[CandidateRecord]) -> str:
    rows = [
        (
            str(i), r.model, r.policy, r.compression, r.runtime,
            _score_text(r),
            _metric_text("file_bytes", r.metric("file_bytes")),
            _metric_text("latency_p50_ms", r.metric("latency_p50_ms")),
        )
        for i, r in enumerate(records, 1)
    ]  # fmt: skip
    header = ("#", "model", "policy", "compression", "runtime", scores.score_label(records),
              "size", "p50")  # fmt: skip
    return _table(header, rows, {0, 5, 6, 7})


def _score_text(r: CandidateRecord) -> str:
    """The score a pick is chosen on: accuracy, MAE, or '-' for an unscored model."""
    score = scores.score_of(r)
    return _metric_text(score.metric, score.value(r)) if score.metric else "-"


def timings_text(timings: dict[str, float]) -> str:
    """'stages: data 2.9 s, train 74.2 s (59%), ..., total 125.3 s' in the order they ran."""
    total = timings.get("total") or sum(timings.values())
    order = ["data", "train", "compress", "convert", "measure"]
    stages = [s for s in order if s in timings] + sorted(set(timings) - {*order, "total"})
    parts = [
        f"{s} {timings[s]:.1f} s" + (f" ({timings[s] / total:.0%})" if total else "")
        for s in stages
    ]
    return "stages: " + ", ".join([*parts, f"total {total:.1f} s"])


def select_ties(picks: Sequence) -> str:
    """One line per pick that was tied with others on accuracy."""
    return "\n".join(f"#{i}: {p.tied_text()}" for i, p in enumerate(picks, 1) if p.tied)


def ops_table(ops: Sequence) -> str:
    """`harness ops`: each operator type, how many nodes, and what the converter does."""
    rows = [(f"  {o.op}", str(o.count), o.status) for o in ops]
    return _table(("  op", "nodes", "litert"), rows, {1})
