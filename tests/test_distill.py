"""Knowledge distillation: the loss by hand, a student taught by a trained model, and the
chain `distill` then `quantize` (harness.train.distill, harness.train.steps)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from harness.compress import PASSES, PassContext, apply_chain
from harness.config.load import ModelSpec
from harness.errors import CompressionError
from harness.measure.size import parameters
from harness.train.augment import parse_policy
from harness.train.datasets import Splits
from harness.train.distill import distill_loss, with_mixup
from harness.train.steps import chain_problem, run_steps
from harness.train.training import INPUT_NAME, train
from tests.helpers.digits_training import FAST, digits_trained

TEACHER = ModelSpec("cnn", "small_cnn", 8, 1)
STUDENT = {"arch": "small_cnn", "width": 2, "depth": 1}


def _setup() -> tuple[Splits, Any, bytes]:
    splits, policy, trained = digits_trained(TEACHER)
    return splits, policy, trained.onnx_bytes


def _pass(name: str, **params: Any) -> Any:
    return PASSES.get(name).from_params(params)


def test_the_loss_is_hintons_by_hand() -> None:
    # T = 2: teacher logits (2 ln 3, 0) soften to (3/4, 1/4), a zero student to (1/2, 1/2):
    # T^2 KL = 4 (3/4 ln(3/2) + 1/4 ln(1/2)) = ln(27/16); the label is class 1: CE = ln 2.
    student = torch.zeros(1, 2, requires_grad=True)
    teacher = torch.tensor([[2 * math.log(3), 0.0]])
    label = torch.tensor([[0.0, 1.0]])
    total, soft, hard = distill_loss(student, teacher, label, temperature=2.0, alpha=0.5)
    assert soft.item() == pytest.approx(math.log(27 / 16), abs=1e-6)
    assert hard.item() == pytest.approx(math.log(2), abs=1e-6)
    assert total.item() == pytest.approx(0.5 * math.log(27 / 8), abs=1e-6)
    # Its gradient: alpha T (p_s - p_t) from the soft term + (1 - alpha)(p_s - y) from the hard.
    total.backward()
    expected = 0.5 * 2 * np.array([0.5 - 0.75, 0.5 - 0.25]) + 0.5 * np.array([0.5, -0.5])
    np.testing.assert_allclose(student.grad.numpy()[0], expected, atol=1e-6)


def test_a_student_that_matches_its_teacher_has_no_soft_loss() -> None:
    logits = torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    _, soft, _ = distill_loss(logits, logits.clone(), torch.eye(3)[:2], 4.0, 1.0)
    assert float(soft) == pytest.approx(0.0, abs=1e-7)


def test_distill_then_quantize_stores_the_student_in_int8() -> None:
    splits, policy, teacher = _setup()
    chain = [_pass("distill", student=STUDENT, epochs=2), _pass("quantize", bits=8)]
    # The teacher is the ONNX model, so one trained elsewhere (no torch net) can teach.
    result = run_steps(teacher, None, chain, splits, policy, FAST, seed=0)
    assert [p.name for p in result.remaining] == ["quantize"]
    note = result.notes[0]
    assert note["pass"] == "distill" and note["epochs_run"] == 2
    assert [h["epoch"] for h in note["history"]] == [0, 1, 2]
    # Both losses recorded per epoch; train_loss is their alpha-weighted sum (batch means).
    for h in note["history"][1:]:
        mixed = 0.9 * h["soft_loss"] + 0.1 * h["hard_loss"]
        assert h["train_loss"] == pytest.approx(mixed, rel=1e-4)
    # small_cnn w2 d1 on 8x8 digits: conv 1->2 (20), dense 2*4*4 -> 8 (264), 8 -> 10 (90).
    assert note["student_params"] == 20 + 264 + 90
    assert note["params_ratio"] == pytest.approx(374 / note["teacher_params"], abs=1e-4)
    assert 0 < note["student_macs"] < note["teacher_macs"]
    ctx = PassContext(calibration=splits.model_input(splits.val[0][:16]), input_name=INPUT_NAME)
    final, notes = apply_chain(result.model, list(result.remaining), ctx)
    assert notes[0]["storage"] == "int8"
    assert parameters(final.graph)[0] == 374
    # The quantized student answers like the float student it came from.
    x = splits.model_input(splits.val[0])
    got = [
        ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        .run(None, {INPUT_NAME: x})[0]
        .argmax(1)
        for m in (result.model, final)
    ]
    assert np.mean(got[0] == got[1]) >= 0.97
    assert np.mean(got[0] == splits.val[1]) == pytest.approx(note["val_accuracy"], abs=1e-9)


def test_the_teacher_decides_what_the_student_learns() -> None:
    """alpha = 1 trains on the teacher's outputs alone: another teacher (trained from another
    seed) gives another student from the same seed; the same teacher, the same student."""
    splits, policy, teacher = _setup()
    step = _pass("distill", student=STUDENT, epochs=1, alpha=1.0)
    other = train(splits, TEACHER, policy, FAST, seed=1).onnx_bytes
    a, b, again = (
        run_steps(t, None, [step], splits, policy, FAST, 0) for t in (teacher, other, teacher)
    )
    weights = [{t.name: t.raw_data for t in r.model.graph.initializer} for r in (a, b, again)]
    assert weights[0] != weights[1]
    assert weights[0] == weights[2]


def test_chains_that_cannot_run_in_order_are_named() -> None:
    distill, quantize = _pass("distill", student=STUDENT), _pass("quantize", bits=8)
    qat, prune = _pass("qat", bits=8), _pass("prune", ratio=0.5)
    assert chain_problem([distill, quantize], 0) is None
    assert chain_problem([distill, qat], 0) is None
    assert chain_problem([distill, prune], 3) is None
    assert chain_problem([quantize, distill], 0) == (
        1, "distill replaces the model, so it must be the chain's first step"
    )  # fmt: skip
    assert chain_problem([qat, quantize], 0)[0] == 0
    # prune/svd then qat is deep compression; fine-tuning them first is allowed there
    assert chain_problem([prune, qat], 0) is None
    assert chain_problem([distill, prune, qat], 3) is None
    assert chain_problem([prune, quantize, qat], 0) == (
        2, "qat quantizes the model itself, so only distill, prune and svd may come before "
        "it; drop the other quantizing steps",
    )  # fmt: skip
    assert "drop finetune_epochs" in chain_problem([qat], 2)[1]
    assert "drop finetune_epochs" in chain_problem([distill, qat], 2)[1]
    splits, policy, teacher = _setup()
    with pytest.raises(CompressionError, match="trained elsewhere"):
        run_steps(teacher, None, [qat], splits, policy, FAST, 0)
    with pytest.raises(CompressionError, match="trains a PyTorch model"):
        apply_chain(onnx.load_from_string(teacher), [qat], PassContext())


def test_distill_then_qat_trains_the_student_quantized() -> None:
    splits, policy, teacher = _setup()
    chain = [_pass("distill", student=STUDENT, epochs=1), _pass("qat", bits=4, epochs=1)]
    result = run_steps(teacher, None, chain, splits, policy, FAST, seed=0)
    assert result.remaining == ()
    assert [n["pass"] for n in result.notes] == ["distill", "qat"]
    assert result.notes[1]["storage"] == "int4" and result.notes[1]["layers"] == 3
    assert parameters(result.model.graph)[0] == result.notes[0]["student_params"] == 374


def test_the_teacher_sees_the_students_augmented_view(monkeypatch: pytest.MonkeyPatch) -> None:
    """Function matching (Beyer et al. 2022): the teacher's targets are computed on the very
    batch the student trains on (mixed by mixup here), not on the clean images or on another
    draw of the augmentation. Both calls are observed, not replaced."""
    from harness.train import distill as distill_module

    splits, _, teacher = _setup()
    policy = parse_policy("mix", {"steps": [{"op": "mixup", "p": 1.0, "magnitude": 5}]}, "image")
    seen, teacher_saw = _record_batches(monkeypatch)
    step = _pass("distill", student=STUDENT, epochs=1)
    distill_module.distill(teacher, step, splits, policy, FAST, seed=0)
    student_saw = [xb for xb, _ in seen]
    # The first call scores the teacher on the validation split; then one per training batch.
    np.testing.assert_array_equal(teacher_saw[0], splits.model_input(splits.val[0]))
    n_train = len(splits.train[1])
    assert len(student_saw) == len(teacher_saw) - 1 == math.ceil(n_train / FAST.batch_size)
    for seen_by_teacher, seen_by_student in zip(teacher_saw[1:], student_saw, strict=True):
        np.testing.assert_array_equal(seen_by_teacher, seen_by_student)
    # ...and those batches are mixed views: almost no row is a clean training image
    # (a row stays clean only where mixup drew the sample itself as its partner).
    clean = {row.tobytes() for row in splits.model_input(splits.train[0])}
    rows = np.concatenate(student_saw)
    assert len(rows) == n_train
    assert sum(row.tobytes() in clean for row in rows) < 0.1 * n_train


def test_at_alpha_zero_the_student_is_the_scratch_student() -> None:
    """Distilled and scratch students differ only in the loss: same initial weights, batch
    order and augmentation draws for one seed, so with alpha = 0 (labels only) distillation
    trains exactly the student `train` does, weight for weight (the benchmark's pairing)."""
    splits, _, teacher = _setup()
    policy = parse_policy("noisy", {"steps": [{"op": "noise", "p": 0.5, "magnitude": 3}]}, "image")
    scratch = train(splits, ModelSpec("student", **STUDENT), policy, FAST, seed=3)
    step = _pass("distill", student=STUDENT, alpha=0.0)
    taught = run_steps(teacher, None, [step], splits, policy, FAST, seed=3)
    weights = [
        {t.name: t.raw_data for t in model.graph.initializer}
        for model in (onnx.load_from_string(scratch.onnx_bytes), taught.model)
    ]
    assert weights[0] == weights[1]
    assert taught.notes[0]["epochs_run"] == scratch.metadata["epochs"]


def test_distills_mixup_mixes_the_views_teacher_and_student_share(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`mixup` adds mixing after the candidate's policy (here none): every batch mixes its
    images with Beta(1, 1) weights and mixes the labels alike, and the teacher scores the
    mixed batch the student trains on."""
    from harness.train import distill as distill_module

    splits, policy, teacher = _setup()
    assert with_mixup(policy, 0.0) is policy
    seen, teacher_saw = _record_batches(monkeypatch)
    step = _pass("distill", student=STUDENT, epochs=1, mixup=1.0)
    result = distill_module.distill(teacher, step, splits, policy, FAST, seed=0)
    assert result.notes["mixup"] == 1.0
    for (xb, _), seen_by_teacher in zip(seen, teacher_saw[1:], strict=True):
        np.testing.assert_array_equal(seen_by_teacher, xb)
    targets = np.concatenate([tb for _, tb in seen])
    # Labels are mixed: rows sum to 1 and most put weight on two classes (a sample mixed
    # with itself, or with a partner of its own class, keeps one).
    np.testing.assert_allclose(targets.sum(1), 1.0, atol=1e-5)
    two_classes = np.mean((targets > 1e-6).sum(1) == 2)
    assert two_classes > 0.8
    clean = {row.tobytes() for row in splits.model_input(splits.train[0])}
    rows = np.concatenate([xb for xb, _ in seen])
    assert sum(row.tobytes() in clean for row in rows) < 0.1 * len(rows)


def _record_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[np.ndarray]]:
    """Observe, without replacing them, the (inputs, targets) batches the student trains on
    and the inputs the teacher scores: (student batches, teacher inputs), filled as they run."""
    from harness.train import distill as distill_module
    from harness.train import training

    seen: list[tuple[np.ndarray, np.ndarray]] = []
    teacher_saw: list[np.ndarray] = []
    prepare, call = training._prepare_batch, distill_module.Teacher.__call__

    def prepare_and_record(*args: Any) -> tuple[np.ndarray, np.ndarray]:
        xb, tb = prepare(*args)
        seen.append((xb.copy(), tb.copy()))
        return xb, tb

    def call_and_record(self: Any, x: np.ndarray) -> np.ndarray:
        teacher_saw.append(x.copy())
        return call(self, x)

    monkeypatch.setattr(training, "_prepare_batch", prepare_and_record)
    monkeypatch.setattr(distill_module.Teacher, "__call__", call_and_record)
    return seen, teacher_saw
