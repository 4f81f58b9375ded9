"""The settings of the training steps (distill, qat): parsed, swept and hashed like every
pass, each mistake one line with exit 2, and cache keys that follow teacher and settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli.commands import cli
from harness.config.load import load_config
from harness.sweep.plan import make_plan

BASE = """
[dataset]
name = "digits"
[models.m]
arch = "small_cnn"
width = 8
[policies]
none = "none"
geometric = "geometric"
[compression]
fp32 = []
STEPS
[runtimes.onnxruntime]
threads = 1
"""
DISTILL = 'student = { arch = "small_cnn", width = 2, depth = 1 }'


def _config(tmp_path: Path, steps: str, base: str = BASE) -> object:
    path = tmp_path / "c.toml"
    path.write_text(base.replace("STEPS", steps))
    return load_config(path)


def _keys(tmp_path: Path, steps: str, base: str = BASE) -> dict[tuple[str, str], str]:
    plan = make_plan(_config(tmp_path, steps, base))  # type: ignore[arg-type]
    return {(j.train.policy.name, j.compression.name): j.key for j in plan.compressions}


def test_settings_parse_with_documented_defaults(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        f'd = [{{ pass = "distill", {DISTILL} }}, {{ pass = "quantize", bits = 8 }}]\n'
        'q8 = [{ pass = "qat", bits = 8 }]\nq4 = [{ pass = "qat", bits = 4, per_channel = false }]',
    )
    chains = {c.name: c.passes for c in config.compressions}  # type: ignore[attr-defined]
    distill = chains["d"][0]
    assert distill.spec() == {
        "pass": "distill",
        "student": {"arch": "small_cnn", "width": 2, "depth": 1},
        "temperature": 4.0,
        "alpha": 0.9,
    }
    assert distill.label() == "distill small_cnn w2 d1 T4"
    assert distill.mixup == 0.0
    # int8 QAT quantizes activations too (full-integer); lower bits are weight-only.
    assert chains["q8"][0].spec() == {
        "pass": "qat", "bits": 8, "epochs": 5, "per_channel": True, "activations": True,
    }  # fmt: skip
    assert chains["q4"][0].label() == "qat int4 per-tensor"
    assert chains["q4"][0].activations is False


def test_a_list_sweeps_a_training_step_parameter(tmp_path: Path) -> None:
    config = _config(tmp_path, '"qat{bits}" = [{ pass = "qat", bits = [4, 8], epochs = 2 }]')
    names = [c.name for c in config.compressions]  # type: ignore[attr-defined]
    assert names == ["fp32", "qat4", "qat8"]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (
            'd = [{ pass = "distill" }]',
            'd[0].student: is required: a table like { arch = "small_cnn"',
        ),
        (
            'd = [{ pass = "distill", student = { arch = "small_cn" } }]',
            "d[0].student.arch: 'small_cn' is not allowed (did you mean 'small_cnn'?)",
        ),
        (
            f'd = [{{ pass = "distill", {DISTILL}, temperature = 0 }}]',
            "d[0].temperature: must be a number in (0, 100], got 0",
        ),
        (
            f'd = [{{ pass = "distill", {DISTILL}, alpha = 1.5 }}]',
            "d[0].alpha: must be a number in [0, 1], got 1.5",
        ),
        (
            f'd = [{{ pass = "distill", {DISTILL}, epoch = 3 }}]',
            "d[0].epoch: unknown key (did you mean 'epochs'?)",
        ),
        (
            f'd = [{{ pass = "quantize", bits = 8 }}, {{ pass = "distill", {DISTILL} }}]',
            "d[1].pass: distill replaces the model, so it must be the chain's first step",
        ),
        (
            f'd = [{{ pass = "distill", {DISTILL}, mixup = 2 }}]',
            "d[0].mixup: must be a number in [0, 1], got 2",
        ),
        ('q = [{ pass = "qat", bits = 9 }]', "q[0].bits: must be an integer in [2, 8], got 9"),
        ('q = [{ pass = "qat" }]', "q[0].bits: is required: an integer in [2, 8]"),
        (
            'q = [{ pass = "qat", bits = 8 }, { pass = "quantize", bits = 4 }]',
            "q[0].pass: qat writes the quantized model, so it must be the chain's last step",
        ),
        (
            'q = { steps = [{ pass = "qat", bits = 8 }], finetune_epochs = 2 }',
            "q.steps[0].pass: qat trains already; drop finetune_epochs",
        ),
        ('q = [{ pass = "qat", bits = 4, epochs = 0 }]', "q[0].epochs: must be an integer >= 1"),
        (
            'q = [{ pass = "qat", bits = 4, isa = "avx2" }]',
            "q[0].isa: applies only to full-integer int8 (bits = 8, activations = true)",
        ),
        (
            'q = [{ pass = "qat", bits = 8, isa = "neon" }]',
            "q[0].isa: 'neon' is not allowed; choose from: auto, vnni",
        ),
    ],
)
def test_each_mistake_is_one_line_with_exit_2(tmp_path: Path, steps: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BASE.replace("STEPS", steps))
    result = CliRunner().invoke(cli, ["sweep", str(path), "--db", str(tmp_path / "r.db")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("harness: error: ") and "bad.toml:compression." in lines[0]
    assert expected in lines[0], lines[0]


def test_cache_keys_follow_the_teacher_and_the_settings(tmp_path: Path) -> None:
    step = f'd = [{{ pass = "distill", {DISTILL}, temperature = TEMP }}]'
    keys = _keys(tmp_path, step.replace("TEMP", "4"))
    # Another teacher: each policy trains its own, and the student's key follows it.
    assert keys[("none", "d")] != keys[("geometric", "d")]
    # The same teacher and settings: the same key (a second sweep reuses the student).
    assert _keys(tmp_path, step.replace("TEMP", "4")) == keys
    # A setting of the step: another key.
    hotter = _keys(tmp_path, step.replace("TEMP", "2"))
    assert hotter[("none", "d")] != keys[("none", "d")]
    assert hotter[("none", "fp32")] == keys[("none", "fp32")]
    # A wider teacher (the same student and settings): another key.
    wider = _keys(tmp_path, step.replace("TEMP", "4"), BASE.replace("width = 8", "width = 16"))
    assert wider[("none", "d")] != keys[("none", "d")]
    # QAT: bits and epochs are in the key.
    qat = _keys(tmp_path, 'a = [{ pass = "qat", bits = 8 }]\nb = [{ pass = "qat", bits = 4 }]')
    more = _keys(tmp_path, 'a = [{ pass = "qat", bits = 8, epochs = 6 }]')
    assert len({qat[("none", "a")], qat[("none", "b")], more[("none", "a")]}) == 3


def test_mixup_is_a_distill_setting_in_the_key_only_when_set(tmp_path: Path) -> None:
    """mixup = 0 is the default and stays out of the spec, so the keys of students distilled
    before the setting existed are unchanged; any other share is another student."""
    step = f'd = [{{ pass = "distill", {DISTILL} MIX }}]'
    plain = _keys(tmp_path, step.replace("MIX", ""))
    assert _keys(tmp_path, step.replace("MIX", ", mixup = 0")) == plain
    half = _keys(tmp_path, step.replace("MIX", ", mixup = 0.5"))
    assert half[("none", "d")] != plain[("none", "d")]
    assert half[("none", "fp32")] == plain[("none", "fp32")]
    config = _config(tmp_path, step.replace("MIX", ", mixup = 0.5"))
    distill = config.compressions[1].passes[0]  # type: ignore[attr-defined]
    assert distill.spec()["mixup"] == 0.5
    assert distill.label() == "distill small_cnn w2 d1 T4 mixup0.5"
