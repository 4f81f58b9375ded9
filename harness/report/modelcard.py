"""Model cards: what a chosen model is, how it was made and measured, as JSON and Markdown."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.report.arithmetic import cpu_choice, of_details
from harness.store.results import METRIC_COLUMNS, CandidateRecord, Run


def model_card(record: CandidateRecord, run: Run) -> dict[str, Any]:
    d = record.details
    arithmetic = of_details(d)
    return {
        "model": record.model,
        "file": Path(record.artifact).name if record.artifact else None,
        "dataset": {"name": record.dataset, **run.config.get("dataset", {})},
        "architecture": d.get("model_spec"),
        "training": d.get("training"),
        "policy": {
            "name": record.policy,
            "describe": d.get("policy_describe"),
            "spec": d.get("policy_spec"),
        },
        "compression": {
            "name": record.compression,
            "passes": d.get("compression_spec"),
            "notes": d.get("compression_notes"),
        },
        "runtime": d.get("runtime_info") or {"name": record.runtime},
        "arithmetic": {"kind": arithmetic.kind, "explain": arithmetic.explain},
        "int8_weights": cpu_choice(d.get("compression_notes") or []),
        "metrics": {
            k: record.metrics.get(k) for k in METRIC_COLUMNS if record.metrics.get(k) is not None
        },
        "machine": run.machine,
        "run": {
            "id": run.id,
            "started_at": run.started_at,
            "harness_version": run.harness_version,
            "git_revision": run.git_revision,
        },
        "candidate_key": record.key,
    }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict | list):
        return f"`{json.dumps(value, sort_keys=True)}`"
    return str(value)


def model_card_markdown(card: dict[str, Any]) -> str:
    m = card["metrics"]
    lines = [
        f"# Model card: {card['model']} / {card['policy']['name']} / {card['compression']['name']} / {card['runtime'].get('name')}",
        "",
        f"- **File**: `{card['file']}`",
        f"- **Dataset**: {card['dataset']['name']}",
        f"- **Architecture**: {_fmt(card['architecture'])}",
        f"- **Training**: {_fmt(card['training'])}",
        f"- **Augmentation policy**: {card['policy']['name']} ({card['policy']['describe']})",
        f"- **Compression**: {card['compression']['name']}: {_fmt(card['compression']['passes'])}",
        f"- **Runtime**: {_fmt(card['runtime'])}",
        f"- **Arithmetic**: {card['arithmetic']['kind']}: {card['arithmetic']['explain']}",
        *([f"- **int8 weights**: {card['int8_weights']}"] if card.get("int8_weights") else []),
        f"- **Machine**: {card['machine'].get('cpu')}, {card['machine'].get('cores')} cores, {card['machine'].get('os')}",
        f"- **Run**: {card['run']['id']} at {card['run']['started_at']} (harness {card['run']['harness_version']})",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {k} | {_fmt(v)} |" for k, v in m.items()),
        "",
    ]
    return "\n".join(lines)


def export(record: CandidateRecord, run: Run, out_dir: Path) -> list[Path]:
    """Copy the model file beside its card (model_card.json and MODEL_CARD.md)."""
    if not record.artifact or not Path(record.artifact).is_file():
        raise HarnessError(
            f"the model file of '{record.model} / {record.compression} / {record.runtime}' is gone "
            f"({record.artifact}); rerun the sweep to rebuild it"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    model = out_dir / Path(record.artifact).name
    shutil.copyfile(record.artifact, model)
    card = model_card(record, run)
    (out_dir / "model_card.json").write_text(json.dumps(card, indent=2, sort_keys=True))
    (out_dir / "MODEL_CARD.md").write_text(model_card_markdown(card))
    return [model, out_dir / "model_card.json", out_dir / "MODEL_CARD.md"]
