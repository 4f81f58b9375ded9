"""Config parsing: the default runs as is, and every mistake is one clear line, exit 2."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli.commands import cli
from harness.config.load import default_config_text, load_config, parse_config
from harness.errors import ConfigError
from tests.helpers.configs import MINIMAL


def test_default_config_parses_into_the_full_grid() -> None:
    config = load_config(None)
    assert config.dataset.name == "digits"
    assert [m.arch for m in config.models] == ["small_cnn"]
    assert len(config.policies) >= 3
    names = {c.name for c in config.compressions}
    assert "fp32" in names
    passes = {p.name for c in config.compressions for p in c.passes}
    assert {"quantize", "prune", "svd"} <= passes
    # ExecuTorch is in the default where its extra is installed (the dev extra installs it).
    assert {r.name for r in config.runtimes} == {"onnxruntime", "litert", "executorch"}
    assert config.notes == ()


def test_a_target_not_installed_is_left_out_only_when_it_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.measure.runtimes.executorch import ExecuTorch

    monkeypatch.setattr(ExecuTorch, "unavailable", classmethod(lambda cls: "ExecuTorch is gone"))
    config = load_config(None)
    assert {r.name for r in config.runtimes} == {"onnxruntime", "litert"}
    assert config.notes == ("runtimes.executorch: left out, ExecuTorch is gone",)
    path = tmp_path / "c.toml"
    path.write_text(MINIMAL + "[runtimes.executorch]\nthreads = 1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == (
        f"{path}:runtimes.executorch: ExecuTorch is gone; "
        "or set if_installed = true to leave it out"
    )


def test_latency_batch_may_list_extra_sizes(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(MINIMAL + "\n[latency]\nbatch = [1, 32]\n")
    latency = load_config(path).latency
    assert (latency.batch, latency.extra_batches, latency.batches) == (1, (32,), (1, 32))


def test_minimal_config_gets_documented_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(MINIMAL)
    config = load_config(path)
    assert config.training.optimizer == "adam"
    assert config.latency.batch == 1
    assert config.runtimes[0].settings == {"threads": 1, "optimization": "all"}
    assert config.spec()["compression"] == {"fp32": []}


def test_a_list_of_values_sweeps_a_parameter(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        MINIMAL.replace(
            "fp32 = []",
            'fp32 = []\n"int{bits}" = [{ pass = "quantize", bits = [2, 4, 8] }]\n'
            'both = [{ pass = "prune", ratio = [0.25, 0.5] }, { pass = "quantize", bits = [4, 8] }]\n'
            '"svd {rank_ratio}" = { steps = [{ pass = "svd", rank_ratio = [0.25, 0.5] }], '
            "finetune_epochs = 2, finetune_lr = 0.001 }",
        )
    )
    settings = {c.name: c for c in load_config(path).compressions}
    assert list(settings) == [
        "fp32", "int2", "int4", "int8",
        "both ratio=0.25 bits=4", "both ratio=0.25 bits=8",
        "both ratio=0.5 bits=4", "both ratio=0.5 bits=8",
        "svd 0.25", "svd 0.5",
    ]  # fmt: skip
    assert settings["int4"].spec() == [
        {"pass": "quantize", "bits": 4, "per_channel": True, "symmetric": True}
    ]
    assert [p.spec() for p in settings["both ratio=0.5 bits=8"].passes] == [
        {"pass": "prune", "ratio": 0.5, "structured": False, "scope": "global"},
        {"pass": "quantize", "bits": 8, "per_channel": True, "symmetric": True},
    ]
    assert settings["svd 0.5"].finetune_epochs == 2
    assert settings["svd 0.5"].spec() == {
        "steps": [{"pass": "svd", "rank_ratio": 0.5}],
        "finetune_epochs": 2,
        "finetune_lr": 0.001,
    }
    assert settings["svd 0.5"].passes[0].rank_ratio == 0.5


def test_a_list_of_values_sweeps_a_policy_preset_parameter(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        MINIMAL.replace(
            'none = "none"',
            'none = "none"\nra = { preset = "randaugment", n = 2, m = [5, 9] }\n'
            '"ta {m}" = { preset = "randaugment", n = 1, m = [3], ops = ["rotate", "shear"] }',
        )
    )
    policies = {p.name: p for p in load_config(path).policies}
    assert list(policies) == ["none", "ra m=5", "ra m=9", "ta 3"]
    assert dict(policies["ra m=9"].params)["m"] == 9
    assert dict(policies["ta 3"].params)["ops"] == ("rotate", "shear")


def _error_for(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["sweep", str(path), "--db", str(tmp_path / "r.db")])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.output


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("[dataset]\n", "[dataset]\ncolour = 1\n"), "bad.toml:dataset.colour: unknown key"),
        (
            ('arch = "small_cnn"', 'arch = "small_cn"'),
            "bad.toml:models.m.arch: 'small_cn' is not allowed (did you mean 'small_cnn'?)",
        ),
        (
            ('none = "none"', 'none = { steps = [{ op = "rotat", p = 0.5, magnitude = 3 }] }'),
            "bad.toml:policies.none.steps[0].op: ",
        ),
        (
            ("fp32 = []", 'q = [{ pass = "quantize", bits = 9 }]'),
            "bad.toml:compression.q[0].bits: ",
        ),
        (
            ("fp32 = []", 'q = [{ pass = "quantize", bits = 1 }]'),
            "bad.toml:compression.q[0].bits: ",
        ),
        (
            ("fp32 = []", 'p = [{ pass = "prune", ratio = 1.0 }]'),
            "bad.toml:compression.p[0].ratio: ",
        ),
        (
            ("fp32 = []", 'p = [{ pass = "prune", ratio = -0.1 }]'),
            "bad.toml:compression.p[0].ratio: ",
        ),
        (
            ("fp32 = []", 'f = { steps = [{ pass = "prune", ratio = 2 }], finetune_epochs = 1 }'),
            "bad.toml:compression.f.steps[0].ratio: ",
        ),
        (
            ("fp32 = []", "f = { steps = [], finetune_epoch = 1 }"),
            "bad.toml:compression.f.finetune_epoch: unknown key (did you mean 'finetune_epochs'?)",
        ),
        (
            ("fp32 = []", 'f = { steps = [{ pass = "prune", ratio = 0.5 }], finetune_lr = 0.01 }'),
            "bad.toml:compression.f.finetune_lr: sets the fine-tuning rate; give finetune_epochs too",
        ),
        (
            ("fp32 = []", "f = { steps = [], finetune_epochs = 1, finetune_lr = 0 }"),
            "bad.toml:compression.f.finetune_lr: must be in (0, 10], got 0",
        ),
        (("fp32 = []", 's = [{ pass = "svd", rank = 0 }]'), "bad.toml:compression.s[0].rank: "),
        (
            ("fp32 = []", 'x = [{ pass = "quantise", bits = 8 }]'),
            "bad.toml:compression.x[0].pass: unknown compression pass 'quantise' (did you mean 'quantize'?)",
        ),
        (
            ("[runtimes.onnxruntime]", "[runtimes.tflite]"),
            "bad.toml:runtimes.tflite: unknown runtime 'tflite'",
        ),
        (("threads = 1", "threads = 0"), "bad.toml:runtimes.onnxruntime.threads: must be"),
        (
            ('name = "digits"', 'name = "npz"\npath = "missing.npz"'),
            "bad.toml:dataset.path: missing.npz: no such file",
        ),
        (
            ("threads = 1", "threads = 1\n[latency]\nbatch = [1, 0]"),
            "bad.toml:latency.batch: must be a batch size >= 1 or a list of them",
        ),
        (('name = "digits"', 'name = "mnist"'), "bad.toml:dataset.name: 'mnist' is not allowed"),
        (
            ('none = "none"', 'ra = { preset = "randaugment", n = 2, m = [5, 99] }'),
            "bad.toml:policies.ra.m: ",
        ),
        (
            ("fp32 = []", 'q = [{ pass = "quantize", bits = [2, 9] }]'),
            "bad.toml:compression.q[0].bits: must be an integer in [2, 8], got 9",
        ),
        (
            ("fp32 = []", 'q = [{ pass = "quantize", bits = [] }]'),
            "bad.toml:compression.q[0].bits: a list sweeps values, e.g. [2, 4, 8]; got []",
        ),
        (
            ("fp32 = []", 'q = [{ pass = "quantize", bits = [4, 4] }]'),
            "bad.toml:compression.q[0].bits: lists a value twice: [4, 4]",
        ),
        (
            ("fp32 = []", 'int8 = []\n"int{bits}" = [{ pass = "quantize", bits = [4, 8] }]'),
            "bad.toml:compression.int{bits}: makes the setting 'int8', which is already named",
        ),
    ],
)
def test_each_mistake_is_one_line_naming_file_key_and_fix(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    old, new = edit
    assert old in MINIMAL
    output = _error_for(tmp_path, MINIMAL.replace(old, new, 1))
    lines = [line for line in output.splitlines() if line]
    assert len(lines) == 1, output
    assert lines[0].startswith("harness: error: ")
    assert expected in lines[0], lines[0]


def test_every_problem_is_reported_before_stopping(tmp_path: Path) -> None:
    text = MINIMAL.replace("threads = 1", "threads = 0").replace('arch = "small_cnn"', "arch = 3")
    output = _error_for(tmp_path, text + "\n[latency]\nbatch = 0\n")
    assert "models.m.arch: must be str" in output
    assert "runtimes.onnxruntime.threads" in output
    assert (
        "latency.batch: must be a batch size >= 1 or a list of them, e.g. [1, 32]; got 0" in output
    )
    assert len(output.strip().splitlines()) == 3


def test_missing_file_and_invalid_toml(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sweep", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "nope.toml: no such config file" in result.output
    output = _error_for(tmp_path, "this is = = not toml")
    assert "bad.toml: not valid TOML" in output


def test_cnn_on_tabular_data_is_a_config_error() -> None:
    raw = {
        "dataset": {"name": "breast_cancer"},
        "models": {"m": {"arch": "small_cnn"}},
        "policies": {"none": "none"},
        "compression": {"fp32": []},
        "runtimes": {"onnxruntime": {}},
    }
    with pytest.raises(
        ConfigError, match=r"c.toml:models.m.arch: 'small_cnn' does not take tabular"
    ):
        parse_config(raw, "c.toml", Path("."))


def test_init_writes_the_default_which_parses(tmp_path: Path) -> None:
    runner = CliRunner()
    target = tmp_path / "harness.toml"
    result = runner.invoke(cli, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text() == default_config_text()
    assert load_config(target).name == "digits-default"
    again = runner.invoke(cli, ["init", str(target)])
    assert again.exit_code == 2
    assert "already exists; pass --force" in again.output


def test_init_and_run_take_a_built_in_example(tmp_path: Path) -> None:
    runner = CliRunner()
    target = tmp_path / "tiny.toml"
    result = runner.invoke(cli, ["init", "--example", "tiny-vision", str(target)])
    assert result.exit_code == 0, result.output
    config = load_config(target)
    assert load_config(None, "tiny-vision").raw == config.raw
    assert config.name == "tiny-vision" and config.dataset.name == "shapes"
    assert [m.arch for m in config.models] == ["resnet8", "mobilenet_v2"]
    executorch = ["executorch", "executorch int8"] if find_spec("executorch") else []
    assert [r.name for r in config.runtimes] == [
        "onnxruntime",
        "litert",
        "litert int8",
        *executorch,
    ]
    prunes = [p for c in config.compressions for p in c.passes if p.name == "prune"]
    assert [(p.ratio, p.structured, p.round_to, p.tied) for p in prunes] == [
        (0.3, True, 8, "keep"), (0.5, True, 8, "keep"), (0.5, True, 8, "keep"),
        (0.5, True, 8, "keep"),
    ]  # fmt: skip
    pruned = [c for c in config.compressions if "prune" in c.name]
    assert all(c.finetune_epochs == 3 and c.finetune_lr == 0.001 for c in pruned)
    # the deep-compression chains: post-training int4 and QAT int4 after the same pruning
    assert [[p.name for p in c.passes] for c in pruned[2:]] == [
        ["prune", "quantize"], ["prune", "qat"],
    ]  # fmt: skip
    qat = pruned[3].passes[1]
    assert (qat.bits, qat.epochs, qat.lr, qat.activations) == (4, 6, 0.001, False)
    assert config.latency.rounds == 2 and config.training.epochs == 18
    db = ["--db", str(tmp_path / "r.db"), "--artifacts", str(tmp_path / "a")]
    typo = runner.invoke(cli, ["run", "--example", "tiny-visoin", *db])
    assert typo.exit_code == 2
    assert typo.output == (
        "harness: error: --example: unknown example 'tiny-visoin' (did you mean "
        "'tiny-vision'?); choose from: default, tiny-vision\n"
    )
    both = runner.invoke(cli, ["run", str(target), "--example", "tiny-vision", *db])
    assert both.exit_code == 2
    assert both.output == "harness: error: give a config file or --example tiny-vision, not both\n"
    assert not (tmp_path / "r.db").exists()
