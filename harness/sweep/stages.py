"""The sweep's stages, each a function of its inputs, cached by content hash.

train -> compress -> convert produce files in the artifacts folder; `evaluate`
(harness.sweep.evaluate) turns a worker's outputs into metrics. None of them touch the
store or print.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import CompressionError, HarnessError
from harness.store.artifacts import Artifacts
from harness.sweep.keys import compressed_key, converted_key, finetuned_key
from harness.sweep.plan import Candidate, CompressJob, TrainJob
from harness.train.datasets import Splits


def for_this_cpu(passes: Sequence[Any]) -> list[Any]:
    """Passes resolved for this machine's CPU: the one that measures the model."""
    import platform

    from harness.compress import for_cpu
    from harness.measure.machine import cpu_isa

    return list(for_cpu(passes, platform.machine(), cpu_isa()))


CALIBRATION_SAMPLES = 256


@dataclass(frozen=True)
class Built:
    """A model file ready to measure, and what producing it recorded."""

    path: Path
    meta: dict[str, Any]
    reused: bool


def train_stage(job: TrainJob, splits: Splits, config: Any, artifacts: Artifacts) -> Built:
    """Train the built-in model under its policy, or take in the imported file as it is."""
    cached = artifacts.get("trained", job.key, "onnx")
    if cached:
        return Built(cached[0], cached[1], reused=True)
    if job.model.imported:
        return _import_model(job, artifacts, splits.input_shape)
    from harness.train.training import train

    trained = train(splits, job.model, job.policy, config.training, config.seed)
    meta = {**trained.metadata, "policy": job.policy.spec(), "model": job.model.spec()}
    artifacts.put("state", job.key, "pt", trained.state_dict, {"trained": job.key})
    path = artifacts.put("trained", job.key, "onnx", trained.onnx_bytes, meta)
    return Built(path, meta, reused=False)


def _import_model(job: TrainJob, artifacts: Artifacts, sample_shape: tuple[int, ...]) -> Built:
    from harness.convert.input_sizes import sized_for_samples
    from harness.measure.model_files import model_digest, self_contained

    source = Path(job.model.onnx or "")
    if model_digest(source) != job.model.sha256:
        raise HarnessError(f"{job.model.onnx} changed while the sweep ran; run it again")
    data = self_contained(source)  # external weights are cached with the graph
    data, sized = sized_for_samples(data, sample_shape)
    meta = {"imported": job.model.onnx, "policy": job.policy.spec(), "model": job.model.spec()}
    if sized:
        meta["input_sizes"] = sized
    path = artifacts.put("trained", job.key, "onnx", data, meta)
    return Built(path, meta, reused=False)


def write_eval_inputs(splits: Splits, seed: int, folder: Path) -> list[Path]:
    """The test split and its fixed perturbed copy, as the model takes them."""
    from harness.train.robust import perturb

    x_test = splits.test[0]
    if splits.dataset.kind == "image":
        robust = splits.model_input(perturb(x_test, seed, "image"))
    else:
        robust = perturb(splits.model_input(x_test), seed, "tabular")
    paths = [folder / "test.npy", folder / "robust.npy"]
    np.save(paths[0], splits.model_input(x_test))
    np.save(paths[1], robust.astype(np.float32))
    return paths


def calibration_data(splits: Splits, seed: int) -> np.ndarray:
    """A seeded sample of the training split: calibration never sees test data."""
    x = splits.train[0]
    idx = np.random.default_rng(seed).permutation(len(x))[:CALIBRATION_SAMPLES]
    return splits.model_input(x[np.sort(idx)])


def compress_stage(
    job: CompressJob,
    trained: Built,
    calibration: np.ndarray,
    artifacts: Artifacts,
    splits: Splits,
    config: Any,
) -> Built:
    passes = for_this_cpu(job.compression.passes)
    key = compressed_key(job, passes)
    cached = artifacts.get("compressed", key, "onnx")
    if cached:
        return Built(cached[0], cached[1], reused=True)
    import onnx

    from harness.compress import apply_chain
    from harness.compress.base import PassContext
    from harness.measure.size import onnx_size

    model = onnx.load(str(trained.path))
    ctx = PassContext(calibration=calibration, input_name=model.graph.input[0].name)
    finetuned: list[dict[str, Any]] = []
    if any(getattr(p, "trains", False) for p in passes):  # distill, qat
        from harness.sweep.training_steps import run_training_steps

        model, remaining, finetuned = run_training_steps(
            job, passes, trained, splits, config, artifacts
        )
        passes = for_this_cpu(remaining)
    elif job.compression.finetune_epochs:
        model, remaining, ft_notes = _finetune(job, splits, config, artifacts)
        passes = for_this_cpu(remaining)
        finetuned.append({"pass": "finetune", **ft_notes})
    compressed, notes = apply_chain(model, passes, ctx)
    unchanged = [n["unchanged"] for n in notes if "unchanged" in n]
    if unchanged:  # the same bytes as fp32 under another name would mislead the leaderboard
        raise CompressionError(f"{'; '.join(unchanged)}; it would be the uncompressed model")
    notes = finetuned + notes
    size = onnx_size(compressed)
    meta = {
        "passes": job.compression.spec(), "notes": notes, "size": size.__dict__,
        "trained": job.train.key,  # what `harness gc` follows to keep the trained model
    }  # fmt: skip
    path = artifacts.put("compressed", key, "onnx", compressed.SerializeToString(), meta)
    return Built(path, meta, reused=False)


def _finetune(
    job: CompressJob, splits: Splits, config: Any, artifacts: Artifacts
) -> tuple[Any, list[Any], dict[str, Any]]:
    """Rebuild the trained PyTorch model, mirror the chain's structural passes, fine-tune,
    re-export; returns the model and the passes left to apply to it."""

    if job.train.model.imported:
        raise CompressionError(
            f"finetune works on built-in models only; {job.train.model.name} is an imported "
            "ONNX file, whose training code the harness does not have"
        )
    net = trained_module(job, splits, artifacts, "finetune")
    result = finetune_cached(job, net, splits, config, artifacts)
    return result.model, list(result.remaining), result.notes


FINETUNED = "finetuned"  # artifact kind: fine-tuned PyTorch weights (harness.sweep.keys)


def finetune_cached(
    job: CompressJob,
    net: Any,
    splits: Splits,
    config: Any,
    artifacts: Artifacts,
    readers: bool = False,
) -> Any:
    """harness.train.finetune of the job's chain, its weights cached: the same fine-tuning
    (deterministic) serves every chain that shares it and ExecuTorch's PyTorch form, each
    of which took as long as the first (two more per model in the tiny-vision suite)."""
    import io

    import torch

    from harness.train.finetune import finetune

    key = finetuned_key(job)
    with _exclusive(artifacts.path(FINETUNED, key, "lock")):  # another worker may be at it
        kept = artifacts.get(FINETUNED, key, "pt")
        weights = torch.load(kept[0], weights_only=True) if kept else None
        result = finetune(
            net, job.compression.passes, splits, job.train.policy, config.training,
            job.compression.finetune_epochs, config.seed, job.compression.finetune_lr, weights,
            readers,
        )  # fmt: skip
        if kept:
            result.notes.update(kept[1]["notes"])
            return result
        state = io.BytesIO()
        torch.save(result.net.state_dict(), state)
        notes = {k: v for k, v in result.notes.items() if k != "layers"}
        artifacts.put(FINETUNED, key, "pt", state.getvalue(), {"notes": notes})
    return result


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an advisory lock on `path` (released when the holder exits, even by a crash):
    a second worker wanting the same fine-tuning waits for the first one's weights."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def convert_stage(
    job: CompressJob,
    compressed: Built,
    artifacts: Artifacts,
    quantize: str = "none",
    calibration: np.ndarray | None = None,
) -> Built:
    """ONNX -> .tflite, then LiteRT's own quantizer when the target asks for it."""
    key = converted_key(job, quantize, for_this_cpu(job.compression.passes))
    source = compressed.path.stem  # the compressed model's key: what `harness gc` follows
    cached = artifacts.get("tflite", key, "tflite")
    if cached:
        return Built(cached[0], cached[1], reused=True)
    import onnx

    from harness.convert.tflite import onnx_to_tflite

    model = onnx.load(str(compressed.path))
    if quantize == "none":
        data = onnx_to_tflite(model)
    else:
        from harness.convert.litert_quant import check_float, quantize_tflite

        check_float(model, quantize)
        data = quantize_tflite(
            onnx_to_tflite(model), quantize, calibration, model.graph.input[0].name
        )
    meta = {"source": source, "quantize": quantize}
    path = artifacts.put("tflite", key, "tflite", data, meta)
    return Built(path, meta, reused=False)


def candidate_details(cand: Candidate, trained: Built, compressed: Built | None) -> dict[str, Any]:
    """What a candidate's page shows about how it was made, stored with its row."""
    job = cand.job
    return {
        "model_spec": job.train.model.spec(),
        "task": job.train.model.task,
        "policy_spec": job.train.policy.spec(),
        "policy_describe": (
            "trained elsewhere (imported ONNX file)"
            if job.train.model.imported
            else job.train.policy.describe()
        ),
        "training": {
            k: trained.meta.get(k)
            for k in (
                "epochs",
                "best_epoch",
                "best_val_accuracy",
                "best_val_loss",
                "train_seconds",
                "seed",
            )
        },
        "compression_spec": job.compression.spec(),
        "compression_notes": compressed.meta.get("notes", []) if compressed else [],
        "runtime_info": {
            "name": cand.runtime.engine,
            "version": None,
            "settings": cand.runtime.settings,
        },
    }


def data_facts(splits: Splits) -> dict[str, Any]:
    """What an application must do to a raw sample before any model of the run sees it, and
    what its outputs mean: stored with the run for model cards."""
    image = splits.dataset.kind == "image"
    return {
        "kind": splits.dataset.kind,
        "classes": list(splits.dataset.classes),
        "raw_sample_shape": list(splits.dataset.x.shape[1:]),
        "raw_layout": "HWC, float32 in [0, 1]" if image else "features, float32",
        "normalization": splits.normalization.spec(),
        "model_sample_shape": list(splits.input_shape),
        "model_layout": "NCHW" if image else "NF",
    }


def trained_module(job: CompressJob, splits: Splits, artifacts: Artifacts, user: str) -> Any:
    """The built-in model rebuilt from its cached trained weights, in eval mode; `user` names
    what needs it in the error when the cache holds no weights."""
    import torch

    from harness.models import ARCHITECTURES

    state = artifacts.get("state", job.train.key, "pt")
    if state is None:
        raise CompressionError(
            f"{user} needs the trained PyTorch weights, which this cached model lacks; "
            "delete the artifacts folder to retrain"
        )
    model = job.train.model
    build = ARCHITECTURES.get(model.arch)
    net = build(splits.input_shape, splits.dataset.n_classes, model.width, model.depth)
    net.load_state_dict(torch.load(state[0], weights_only=True))
    return net.eval()
