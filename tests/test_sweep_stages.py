"""The compress stage's cache key follows the settings resolved for the CPU."""

from __future__ import annotations

import platform
from pathlib import Path

import onnx

from harness.compress import for_cpu
from harness.config.load import parse_config
from harness.measure.machine import cpu_isa
from harness.store.artifacts import Artifacts
from harness.sweep.plan import CompressJob, make_plan
from harness.sweep.stages import Built, compress_stage, compressed_key
from tests.helpers.graphs import conv_net, inputs_for

RAW = {
    "dataset": {"name": "digits"},
    "models": {"cnn": {"arch": "small_cnn"}},
    "policies": {"none": "none"},
    "compression": {
        "int8": [{"pass": "quantize", "bits": 8}],
        "ort int8": [{"pass": "ort_int8", "mode": "dynamic"}],
    },
    "runtimes": {"onnxruntime": {"threads": 1}},
}
VNNI = ["avx2", "avx512f", "avx512bw", "avx512_vnni"]


def jobs(tmp_path: Path) -> dict[str, CompressJob]:
    config = parse_config(RAW, "t", tmp_path)
    return {job.compression.name: job for job in make_plan(config).compressions}


def test_two_cpu_choices_give_two_keys_and_cpu_free_passes_keep_theirs(tmp_path: Path) -> None:
    job = jobs(tmp_path)["ort int8"]
    on_avx2 = compressed_key(job, for_cpu(job.compression.passes, "x86_64", ["avx2", "fma"]))
    on_vnni = compressed_key(job, for_cpu(job.compression.passes, "x86_64", VNNI))
    on_zen2 = compressed_key(job, for_cpu(job.compression.passes, "x86_64", ["avx2"]))
    assert on_avx2 != on_vnni and on_avx2 == on_zen2  # the choice, not the CPU, is the key
    assert on_avx2.startswith(compressed_key(job)) and on_avx2 != compressed_key(job)
    plain = jobs(tmp_path)["int8"]
    assert compressed_key(plain, for_cpu(plain.compression.passes, "x86_64", VNNI)) == (
        compressed_key(plain)
    )


def test_the_stage_stores_the_model_made_for_this_cpu_under_its_key(tmp_path: Path) -> None:
    job = jobs(tmp_path)["ort int8"]
    trained = tmp_path / "trained.onnx"
    model = conv_net()
    onnx.save(model, str(trained))
    artifacts = Artifacts(tmp_path / "art")
    built = compress_stage(
        job, Built(trained, {}, False), inputs_for(model, 4), artifacts, None, None
    )
    expected = compressed_key(job, for_cpu(job.compression.passes, platform.machine(), cpu_isa()))
    assert built.path.stem == expected and not built.reused
    (note,) = built.meta["notes"]
    assert note["isa"] == for_cpu(job.compression.passes, platform.machine(), cpu_isa())[0].isa
    again = compress_stage(
        job, Built(trained, {}, False), inputs_for(model, 4), artifacts, None, None
    )
    assert again.reused and again.path == built.path
