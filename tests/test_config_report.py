"""The [report] section: budget boxes from the config, stored with the run, shown on the index."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from harness.config.load import load_config, parse_config
from harness.errors import ConfigError
from harness.report.data import budget_picks, stored_budgets
from harness.specs import DEFAULT_BUDGETS, BudgetSpec, Config
from harness.store.results import CandidateRecord
from tests.helpers.configs import MINIMAL


def _parse(text: str) -> Config:
    return parse_config(tomllib.loads(MINIMAL + text), "c.toml", Path("."))


def _report(text: str) -> tuple[BudgetSpec, ...]:
    return parse_config(
        __import__("tomllib").loads(MINIMAL + text), "c.toml", Path(".")
    ).report.budgets


def test_budgets_default_to_the_four_boxes() -> None:
    assert _report("") == DEFAULT_BUDGETS
    assert load_config(None).report.budgets == DEFAULT_BUDGETS  # the default file says the same


def test_budgets_are_read_in_the_units_people_write() -> None:
    budgets = _report('[report.budgets]\nfile = ["8KB", "1.5MB"]\np50 = ["250us", "2ms"]\n')
    assert budgets == (
        BudgetSpec("file ≤ 8 KB", "file_bytes", 8192.0),
        BudgetSpec("file ≤ 1536 KB", "file_bytes", 1.5 * 1024**2),
        BudgetSpec("p50 ≤ 0.25 ms", "latency_p50_ms", 0.25),
        BudgetSpec("p50 ≤ 2 ms", "latency_p50_ms", 2.0),
    )


def test_a_kind_left_out_keeps_its_defaults() -> None:
    budgets = _report('[report.budgets]\np50 = ["5ms"]\n')
    assert [b.label for b in budgets] == ["file ≤ 16 KB", "file ≤ 64 KB", "p50 ≤ 5 ms"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'file = ["16 parsecs"]',
            "c.toml:report.budgets.file[0]: cannot read '16 parsecs'; write e.g. 16KB, 1.5MB",
        ),
        ("p50 = [0.1]", "c.toml:report.budgets.p50[0]: cannot read 0.1; write e.g. 100us, 1ms"),
        ('p50 = ["0ms"]', "c.toml:report.budgets.p50[0]: cannot read '0ms'"),
        ('p50 = "1ms"', "c.toml:report.budgets.p50: must be list, got '1ms'"),
        ('size = ["1KB"]', "c.toml:report.budgets.size: unknown key"),
    ],
)
def test_bad_budgets_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        _report(f"[report.budgets]\n{text}\n")
    assert str(err.value).startswith(message)


def test_budgets_do_not_change_the_config_hash() -> None:
    plain = parse_config(__import__("tomllib").loads(MINIMAL), "c.toml", Path("."))
    other = parse_config(
        __import__("tomllib").loads(MINIMAL + '[report.budgets]\np50 = ["5ms"]\n'),
        "c.toml",
        Path("."),
    )
    assert plain.spec() == other.spec()


def test_stored_budgets_decide_the_boxes() -> None:
    def rec(key: str, acc: float, kb: float, p50: float) -> CandidateRecord:
        return CandidateRecord(
            key=key, dataset="d", model="m", policy="p", compression=key, runtime="onnxruntime",
            status="ok", metrics={"accuracy": acc, "file_bytes": kb * 1024, "latency_p50_ms": p50},
        )  # fmt: skip

    records = [rec("fp32", 0.99, 40, 2.0), rec("int8", 0.98, 10, 0.4)]
    stored = {"budgets": [{"label": "p50 ≤ 5 ms", "metric": "latency_p50_ms", "limit": 5.0},
                          {"label": "p50 ≤ 0.5 ms", "metric": "latency_p50_ms", "limit": 0.5}]}  # fmt: skip
    picks = budget_picks(records, stored_budgets(stored))
    assert [(p.budget.label, p.pick.compression if p.pick else None) for p in picks] == [
        ("p50 ≤ 5 ms", "fp32"),
        ("p50 ≤ 0.5 ms", "int8"),
    ]
    assert stored_budgets(None) == DEFAULT_BUDGETS
