"""The compress stage's training steps (distill, qat): load what they start from (the
trained ONNX model and, for a built-in model, its PyTorch weights) and run them.

The result is cached under the compressed model's key (harness.sweep.stages.compressed_key),
which hashes the trained model's key and every step's settings. The trained model's key is
the teacher's identity: the hash of everything that made it (data, architecture and its
revision, policy, training settings, seed), or an imported file's sha256.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import onnx

from harness.errors import CompressionError
from harness.store.artifacts import Artifacts
from harness.sweep.plan import CompressJob
from harness.train.datasets import Splits

__all__ = ["run_training_steps", "trained_net"]


def trained_net(job: CompressJob, splits: Splits, artifacts: Artifacts) -> Any:
    """The trained PyTorch model of a built-in architecture (eval mode), or None for an
    imported ONNX model."""
    import torch

    from harness.models import ARCHITECTURES

    model = job.train.model
    if model.imported:
        return None
    state = artifacts.get("state", job.train.key, "pt")
    if state is None:
        raise CompressionError(
            f"{job.compression.name} needs the trained PyTorch weights, which this cached "
            "model lacks; delete the artifacts folder to retrain"
        )
    build = ARCHITECTURES.get(model.arch)
    net = build(splits.input_shape, splits.dataset.n_classes, model.width, model.depth)
    net.load_state_dict(torch.load(state[0], weights_only=True))
    return net.eval()


def run_training_steps(
    job: CompressJob,
    passes: Sequence[Any],
    trained: Any,
    splits: Splits,
    config: Any,
    artifacts: Artifacts,
) -> tuple[onnx.ModelProto, list[Any], list[dict[str, Any]]]:
    """(model for the remaining passes, those passes, one note per training step).
    `passes`: the job's chain resolved for this CPU (harness.compress.for_cpu), as its
    cache key hashes them, so full-integer QAT trains the weight range it is keyed by."""
    from harness.train.steps import run_steps

    compression = job.compression
    # A student starts from scratch: the teacher's PyTorch weights are needed only when a
    # step trains the trained model itself.
    starts_fresh = passes[0].name == "distill"
    net = None if starts_fresh else trained_net(job, splits, artifacts)

    def tune_cached(net: Any, passes: Any, readers: bool) -> Any:
        # The trained model's fine-tuning, shared with the chains that stop before qat.
        from harness.sweep.stages import finetune_cached

        return finetune_cached(job, net, splits, config, artifacts, readers)

    result = run_steps(
        trained.path.read_bytes(), net, passes, splits, job.train.policy,
        config.training, config.seed, compression.finetune_epochs, compression.finetune_lr,
        None if starts_fresh else tune_cached,
    )  # fmt: skip
    return result.model, list(result.remaining), result.notes
