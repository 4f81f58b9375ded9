"""What stands between an ONNX model and LiteRT: each op type with what the converter does
with it, and the outcome of actually converting (the first blocking node and why)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import onnx

from harness.convert.folding import NO_BUILTIN, is_standard
from harness.convert.tflite import DOMAINS, ONNX_DOMAINS, REWRITTEN, onnx_to_tflite
from harness.convert.tflite_context import CONVERTERS, FOLDERS
from harness.errors import ConversionError


@dataclass(frozen=True)
class OpStatus:
    op: str  # "Conv", or "domain.Op" outside the default domain
    count: int
    status: str  # "converts", "folds on constants only", or "unsupported: why"


@dataclass(frozen=True)
class ConversionCheck:
    ops: tuple[OpStatus, ...]
    converted: bool
    outcome: str  # "converts to N bytes" or the converter's one-line reason


def op_status(node: onnx.NodeProto) -> str:
    """What the converter does with this kind of node, before trying it."""
    if node.domain not in ONNX_DOMAINS:
        return f"unsupported: {DOMAINS.get(node.domain, 'custom domain')}"
    if node.op_type in REWRITTEN:
        return f"converts: {REWRITTEN[node.op_type]}"
    if node.op_type == "Erf":
        return "converts inside an exact GELU (x * 0.5 * (1 + erf(x / sqrt 2))); else unsupported"
    if node.op_type in NO_BUILTIN:
        return f"unsupported: {NO_BUILTIN[node.op_type]}"
    if node.op_type in CONVERTERS:
        return "converts"
    if node.op_type in FOLDERS or is_standard(node):
        return "folds on constants only (no LiteRT builtin mapping)"
    return "unsupported: not an ONNX operator"


def check_conversion(model: onnx.ModelProto) -> ConversionCheck:
    """Every op type with its status, then the real conversion's outcome."""
    counts: Counter[tuple[str, str]] = Counter()
    first: dict[tuple[str, str], onnx.NodeProto] = {}
    for node in model.graph.node:
        key = (node.domain if node.domain not in ONNX_DOMAINS else "", node.op_type)
        counts[key] += 1
        first.setdefault(key, node)
    ops = tuple(
        OpStatus(f"{domain}.{op}" if domain else op, n, op_status(first[(domain, op)]))
        for (domain, op), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    try:
        data = onnx_to_tflite(model)
    except ConversionError as exc:
        return ConversionCheck(ops, False, str(exc).splitlines()[0])
    return ConversionCheck(ops, True, f"converts ({len(data):,} bytes)")
