"""What a candidate page shows about its compression chain's training steps (distill,
qat): a facts card each and their training curves, from the notes stored with the row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.report.charts import Figure, _axis, _layout
from harness.report.formats import MISSING, fmt_int, fmt_pct, fmt_seconds, fmt_si, fmt_spec

__all__ = ["step_curves", "step_notes", "step_sections"]

Pairs = list[tuple[str, str]]
CURVES = (
    ("train_loss", "train loss", "#2563eb", "solid"),
    ("soft_loss", "soft (teacher) loss", "#9333ea", "dot"),
    ("hard_loss", "hard (label) loss", "#ca8a04", "dot"),
    ("val_loss", "validation loss", "#ea580c", "solid"),
)
TITLES = {"distill": "Distillation of the student", "qat": "Quantization-aware training"}


def _steps(details: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in details.get("compression_notes") or [] if n.get("pass") in TITLES]


def _ratio(value: Any, ratio: Any) -> str:
    return f"{fmt_int(value)} ({ratio:.2f}x the teacher's)" if ratio else fmt_int(value)


def step_sections(details: dict[str, Any]) -> list[tuple[str, Pairs]]:
    out: list[tuple[str, Pairs]] = []
    for note in _steps(details):
        common = [
            ("epochs (best)", f"{note.get('epochs_run')} ({note.get('best_epoch')})"),
            ("learning rate", f"{note['lr']:g}" if note.get("lr") else MISSING),
            ("training time", fmt_seconds(note.get("train_seconds"))),
        ]
        if note["pass"] == "distill":
            pairs = [
                ("student", fmt_spec(note.get("student", {}))),
                ("parameters", _ratio(note.get("student_params"), note.get("params_ratio"))),
                ("MACs", f"{fmt_si(note.get('student_macs'))} ({note.get('macs_ratio')}x)"),
                ("temperature, alpha", f"{note.get('temperature')}, {note.get('alpha')}"),
                ("teacher validation accuracy", fmt_pct(note.get("teacher_val_accuracy"))),
                ("student validation accuracy", fmt_pct(note.get("val_accuracy"))),
                ("soft loss (best epoch)", f"{note.get('soft_loss', MISSING)}"),
                ("hard loss (best epoch)", f"{note.get('hard_loss', MISSING)}"),
            ]
        else:
            pairs = [
                ("weights", f"int{note.get('bits')}"
                 f"{' per channel' if note.get('per_channel') else ' per tensor'}"),
                ("activations", str(note.get("activations", MISSING))),
                ("validation accuracy before", fmt_pct(note.get("val_accuracy_before"))),
                ("validation accuracy after", fmt_pct(note.get("val_accuracy_after"))),
                ("export vs fake-quantized torch", f"max |Δ| {note.get('export_max_abs_diff')}, "
                 f"top-1 agreement {fmt_pct(note.get('export_agreement'))}"),
            ]  # fmt: skip
        out.append((TITLES[note["pass"]], pairs + common))
    return out


def curves(history: Sequence[dict[str, Any]]) -> Figure:
    """Train and validation loss per epoch (epoch 0: before training), one line each."""
    data = []
    for key, name, color, dash in CURVES:
        points = [(h["epoch"], h[key]) for h in history if h.get(key) is not None]
        if points:
            data.append(
                {
                    "type": "scatter", "mode": "lines+markers", "name": name,
                    "x": [p[0] for p in points], "y": [p[1] for p in points],
                    "line": {"color": color, "width": 2, "dash": dash}, "marker": {"size": 5},
                    "hovertemplate": f"epoch %{{x}}<br>{name}: %{{y:.4g}}<extra></extra>",
                }
            )  # fmt: skip
    layout = _layout(300)
    layout["xaxis"] = _axis("epoch", tickformat="d")
    layout["yaxis"] = _axis("loss")
    return {"data": data, "layout": layout}


def step_curves(details: dict[str, Any], figures: dict[str, Figure]) -> list[tuple[str, str]]:
    """(chart id, caption) per training step that recorded its epochs; each step's loss
    curves are added to `figures` under its id."""
    out = []
    for i, note in enumerate(_steps(details)):
        if note.get("history"):
            figures[f"curves-{i}"] = curves(note["history"])
            out.append((f"curves-{i}", f"{TITLES[note['pass']]}: loss per epoch"))
    return out


def step_notes(details: dict[str, Any]) -> list[str]:
    """Every compression note in one line; a training step's epochs are drawn, not listed."""
    return [
        fmt_spec({k: v for k, v in note.items() if k != "history"})
        for note in details.get("compression_notes", [])
    ]
