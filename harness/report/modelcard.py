"""Model cards: everything needed to run a chosen model in an application (its input and
how to prepare it, what its outputs mean, the runtime and settings it was measured with),
plus how it was made and measured; as JSON and Markdown beside the exported file."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.report.arithmetic import cpu_choice, of_details
from harness.store.results import CandidateRecord, Run
from harness.store.schema import METRIC_COLUMNS

MAX_NAME = 120  # characters of the exported file's stem: names in a config may be long


def export_name(record: CandidateRecord, suffix: str) -> str:
    """`<model>-<policy>-<compression>-<runtime><suffix>`, file-name safe."""
    parts = (record.model, record.policy, record.compression, record.runtime)
    stem = "-".join(re.sub(r"[^A-Za-z0-9_.]+", "_", p).strip("_") or "x" for p in parts)
    return stem[:MAX_NAME] + suffix


def _preprocessing(facts: dict[str, Any]) -> list[str]:
    """The steps from a raw sample to the model's input, in order."""
    norm = facts.get("normalization") or {}
    mean, std = norm.get("mean") or [], norm.get("std") or []
    steps = [f"start from a sample as the dataset stores it: {facts.get('raw_layout')}"]
    if any(m != 0 for m in mean) or any(s != 1 for s in std):
        axis = "per channel" if facts.get("kind") == "image" else "per feature"
        steps.append(f"x = (x - mean) / std, {axis}: mean = {mean}, std = {std}")
    if facts.get("model_layout") == "NCHW":
        steps.append("move channels first: (H, W, C) -> (C, H, W), then add the batch axis")
    return steps


def _output_meaning(io: dict[str, Any], classes: list[str]) -> str:
    outputs = io.get("outputs") or []
    if not classes or not outputs:
        return "see the outputs' shapes"
    kind = "probabilities (softmax applied)" if outputs[0].get("softmax") else "logits"
    return (
        f"outputs[0] holds one score per class, {kind}; index i is class classes[i] and the "
        "highest score is the prediction"
    )


def model_card(
    record: CandidateRecord,
    run: Run,
    facts: dict[str, Any] | None = None,
    io: dict[str, Any] | None = None,
    file_name: str | None = None,
) -> dict[str, Any]:
    """The card as a dict. `facts` are the run's stored data facts (classes, normalisation,
    layouts), `io` the file's declared inputs and outputs (harness.measure.model_io)."""
    d, facts, io = record.details, facts or {}, io or {}
    classes = [str(c) for c in (facts.get("classes") or d.get("classes") or [])]
    arithmetic = of_details(d)
    return {
        "model": record.model,
        "file": file_name or (Path(record.artifact).name if record.artifact else None),
        "input": {
            "tensors": io.get("inputs"),
            "layout": facts.get("model_layout"),
            "sample_shape": facts.get("model_sample_shape"),
            "preprocessing": _preprocessing(facts) if facts else None,
            "normalization": facts.get("normalization"),
        },
        "output": {
            "tensors": io.get("outputs"),
            "meaning": _output_meaning(io, classes),
            "classes": classes,
        },
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
        "latency_protocol": d.get("latency"),
        "memory": d.get("memory"),
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


def _tensor_rows(tensors: list[dict[str, Any]] | None) -> list[str]:
    rows = []
    for t in tensors or []:
        shape = ", ".join("N" if s is None else str(s) for s in t["shape"])
        quant = t.get("quantization")
        q = f"scale {quant['scale']:.6g}, zero point {quant['zero_point']}" if quant else "-"
        rows.append(f"| `{t['name']}` | ({shape}) | {t['dtype']} | {q} |")
    return rows


def model_card_markdown(card: dict[str, Any]) -> str:
    m, inp, out = card["metrics"], card["input"], card["output"]
    memory = card.get("memory") or {}
    lines = [
        f"# Model card: {card['model']} / {card['policy']['name']} / {card['compression']['name']} / {card['runtime'].get('name')}",
        "",
        f"- **File**: `{card['file']}`",
        f"- **Runtime**: {card['runtime'].get('name')} {card['runtime'].get('version') or ''}, settings {_fmt(card['runtime'].get('settings', {}))}",
        "",
        "## Input",
        "",
        "| tensor | shape | dtype | quantization |",
        "|---|---|---|---|",
        *_tensor_rows(inp["tensors"]),
        "",
        f"Layout {inp['layout'] or 'as the file declares'}; one sample is {inp['sample_shape']}.",
        "",
        *(f"{i}. {step}" for i, step in enumerate(inp["preprocessing"] or [], start=1)),
        "",
        "## Output",
        "",
        "| tensor | shape | dtype | quantization |",
        "|---|---|---|---|",
        *_tensor_rows(out["tensors"]),
        "",
        f"{out['meaning']}.",
        "",
        f"Classes, in output order: {', '.join(out['classes']) or '-'}",
        "",
        "## How it was made and measured",
        "",
        f"- **Dataset**: {card['dataset']['name']}",
        f"- **Architecture**: {_fmt(card['architecture'])}",
        f"- **Training**: {_fmt(card['training'])}",
        f"- **Augmentation policy**: {card['policy']['name']} ({card['policy']['describe']})",
        f"- **Compression**: {card['compression']['name']}: {_fmt(card['compression']['passes'])}",
        f"- **Arithmetic**: {card['arithmetic']['kind'] or 'unknown'}: {card['arithmetic']['explain']}",
        *([f"- **int8 weights**: {card['int8_weights']}"] if card.get("int8_weights") else []),
        f"- **Latency protocol**: {_fmt({k: v for k, v in (card.get('latency_protocol') or {}).items() if k != 'samples_ms'})}",
        f"- **Memory**: {_fmt(memory.get('model_rss_mb'))} MB added by loading the model; the measuring process peaked at {_fmt(memory.get('process_peak_rss_mb'))} MB with Python and the runtime",
        f"- **Machine**: {card['machine'].get('cpu')}, {card['machine'].get('cores')} cores, {card['machine'].get('os')}",
        f"- **Run**: {card['run']['id']} at {card['run']['started_at']} (harness {card['run']['harness_version']})",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {k} | {_fmt(v)} |" for k, v in m.items()),
        "",
    ]
    return "\n".join(lines)


def export(
    record: CandidateRecord, run: Run, out_dir: Path, facts: dict[str, Any] | None = None
) -> list[Path]:
    """Copy the model file, named for what it is, beside its card (model_card.json and
    MODEL_CARD.md)."""
    from harness.measure.model_io import model_io

    if not record.artifact or not Path(record.artifact).is_file():
        raise HarnessError(
            f"the model file of '{record.model} / {record.compression} / {record.runtime}' is gone "
            f"({record.artifact}); rerun the sweep to rebuild it"
        )
    source = Path(record.artifact)
    io: dict[str, Any]
    try:
        io = dict(model_io(source))
    except Exception as exc:  # an unreadable file still exports; the card says why
        io = {"error": f"could not read the file's inputs: {str(exc).splitlines()[0]}"}
    out_dir.mkdir(parents=True, exist_ok=True)
    model = out_dir / export_name(record, source.suffix)
    shutil.copyfile(source, model)
    card = model_card(record, run, facts, io, model.name)
    (out_dir / "model_card.json").write_text(json.dumps(card, indent=2, sort_keys=True))
    (out_dir / "MODEL_CARD.md").write_text(model_card_markdown(card))
    return [model, out_dir / "model_card.json", out_dir / "MODEL_CARD.md"]
