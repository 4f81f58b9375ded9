"""Augmentation ops, policies and config parsing: shapes, determinism, identities, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from scipy import ndimage

from harness.errors import ParamError
from harness.train.augment import PRESETS, Policy, parse_policy, preview
from harness.train.augment_ops import IMAGE, OPS, Op, fits

IMAGE_OPS = fits("image")
GEOMETRY = ["rotate", "translate", "scale", "shear", "crop"]
SHAPES = [(12, 8, 8, 1), (6, 16, 16, 3)]
K = 10
MIX_SHAPES = [(10, 8, 8, 1), (6, 16, 16, 3)]  # N <= K: every class names one sample


def _batch(shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random pixels and one-hot labels with distinct classes where N <= K."""
    rng = np.random.default_rng(seed)
    x = rng.random(shape, dtype=np.float32)
    y = np.eye(K, dtype=np.float32)[np.arange(shape[0]) % K]
    return x, y


def _one(op: str, p: float, magnitude: float, kind: str = "image") -> Policy:
    return parse_policy("t", {"steps": [{"op": op, "p": p, "magnitude": magnitude}]}, kind)


def _run(policy: Policy, x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return policy.apply(x, y, np.random.default_rng(seed))


def test_registry_lists_the_documented_ops_per_data_kind() -> None:
    assert set(IMAGE_OPS) == {
        "rotate", "translate", "scale", "shear", "crop", "hflip", "brightness",
        "contrast", "noise", "cutout", "mixup", "cutmix",
    }  # fmt: skip
    assert fits("tabular") == ["dropout", "mixup", "noise"]
    assert all(OPS.get(name).scale for name in OPS)


@pytest.mark.parametrize("shape", SHAPES, ids=["8x8x1", "16x16x3"])
@pytest.mark.parametrize("op", IMAGE_OPS)
def test_image_op_keeps_shape_dtype_range_and_inputs(op: str, shape: tuple[int, ...]) -> None:
    x, y = _batch(shape)
    x0, y0 = x.copy(), y.copy()
    policy = _one(op, 0.5, 7)
    xa, ya = _run(policy, x, y, 1)
    assert xa.shape == x.shape and xa.dtype == np.float32
    assert ya.shape == y.shape and ya.dtype == np.float32
    assert xa.min() >= 0.0 and xa.max() <= 1.0
    np.testing.assert_array_equal(x, x0)  # never mutates its inputs
    np.testing.assert_array_equal(y, y0)
    xb, yb = _run(policy, x, y, 1)
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)
    xc, _ = _run(policy, x, y, 2)
    assert not np.array_equal(xa, xc)
    assert not np.array_equal(xa, x)


@pytest.mark.parametrize("op", IMAGE_OPS)
def test_p_zero_is_exactly_the_identity(op: str) -> None:
    x, y = _batch(SHAPES[0])
    xa, ya = _run(_one(op, 0.0, 10), x, y, 3)
    np.testing.assert_array_equal(xa, x)
    np.testing.assert_array_equal(ya, y)
    assert xa is not x


@pytest.mark.parametrize("op", [o for o in IMAGE_OPS if o != "hflip"])
def test_magnitude_zero_is_exactly_the_identity(op: str) -> None:
    x, y = _batch(SHAPES[1])
    xa, ya = _run(_one(op, 1.0, 0), x, y, 4)
    np.testing.assert_array_equal(xa, x)
    np.testing.assert_array_equal(ya, y)


def test_hflip_mirrors_and_ignores_magnitude() -> None:
    x, y = _batch(SHAPES[1])
    policy = parse_policy("t", {"steps": [{"op": "hflip", "p": 1.0}]}, "image")
    np.testing.assert_array_equal(_run(policy, x, y, 0)[0], x[:, :, ::-1, :])


def test_rotate_ten_is_thirty_degrees() -> None:
    x, y = _batch((4, 8, 8, 1))
    xa, _ = _run(_one("rotate", 1.0, 10), x, y, 0)
    for i in range(len(x)):
        errors = [
            np.abs(xa[i] - ndimage.rotate(x[i], a, reshape=False, order=1, cval=0.0)).max()
            for a in (30, -30)
        ]
        assert min(errors) < 1e-5


def test_translate_ten_moves_content_by_thirty_percent() -> None:
    grid = np.stack(np.meshgrid(np.arange(20.0), np.arange(20.0), indexing="ij"), -1)
    blob = np.exp(-((grid - 9.5) ** 2).sum(-1) / 2.0).astype(np.float32)
    x = np.repeat(blob[None, :, :, None], 6, axis=0)
    xa, _ = _run(_one("translate", 1.0, 10), x, np.eye(6, dtype=np.float32), 5)
    for img in xa[..., 0]:
        centre = (grid * img[..., None]).sum((0, 1)) / img.sum()
        assert np.linalg.norm(centre - 9.5) == pytest.approx(0.3 * 20, abs=0.1)


def test_brightness_and_noise_mappings() -> None:
    x = np.full((8, 8, 8, 1), 0.5, dtype=np.float32)
    y = np.eye(8, dtype=np.float32)
    xa, _ = _run(_one("brightness", 1.0, 10), x, y, 0)
    np.testing.assert_allclose(np.abs(xa - x), 0.5)
    t = np.zeros((4000, 5), dtype=np.float32)
    ta, _ = _run(
        _one("noise", 1.0, 10, "tabular"), t, np.eye(K, dtype=np.float32)[:1].repeat(4000, 0), 0
    )
    assert ta.std() == pytest.approx(0.3, rel=0.05)


def _check_mixed_labels(ya: np.ndarray) -> None:
    np.testing.assert_allclose(ya.sum(1), 1.0, atol=1e-6)
    assert ya.min() >= 0.0 and ya.max() <= 1.0
    assert ((ya > 0).sum(1) <= 2).all()  # a convex mix of two one-hot rows


def _partner(row: np.ndarray, own: int, classes: np.ndarray) -> int:
    """The sample whose (unique) class carries the rest of a mixed label row."""
    other = row.copy()
    other[own] = 0.0
    if not other.any():  # mixed with itself (or another sample of its own class)
        return int(np.flatnonzero(classes == own)[0])
    return int(np.flatnonzero(classes == np.argmax(other))[0])


@pytest.mark.parametrize("shape", MIX_SHAPES, ids=["8x8x1", "16x16x3"])
def test_mixup_mixes_pixels_and_labels_with_the_same_weight(shape: tuple[int, ...]) -> None:
    x, y = _batch(shape)
    xa, ya = _run(_one("mixup", 1.0, 10), x, y, 6)
    _check_mixed_labels(ya)
    classes = y.argmax(1)
    mixed = 0
    for i in range(len(x)):
        lam = ya[i, classes[i]]
        if lam == 1.0:
            np.testing.assert_allclose(xa[i], x[i], atol=1e-6)
            continue
        j = _partner(ya[i], classes[i], classes)
        np.testing.assert_allclose(xa[i], lam * x[i] + (1 - lam) * x[j], atol=1e-5)
        mixed += 1
    assert mixed > 0


@pytest.mark.parametrize("shape", MIX_SHAPES, ids=["8x8x1", "16x16x3"])
def test_cutmix_label_weight_is_the_pasted_area(shape: tuple[int, ...]) -> None:
    x, y = _batch(shape)
    xa, ya = _run(_one("cutmix", 1.0, 10), x, y, 7)
    _check_mixed_labels(ya)
    classes = y.argmax(1)
    pasted = 0
    for i in range(len(x)):
        share = 1.0 - ya[i, classes[i]]
        from_self = (xa[i] == x[i]).all(-1)
        assert (1.0 - from_self.mean()) == pytest.approx(share, abs=1e-6)
        if share > 0:
            j = _partner(ya[i], classes[i], classes)
            np.testing.assert_array_equal(xa[i][~from_self], x[j][~from_self])
            pasted += 1
    assert pasted > 0


def test_tabular_ops_run_unclipped_and_dropout_zeroes_features() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 12)).astype(np.float32) * 2
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 200)]
    for op in fits("tabular"):
        xa, ya = _run(_one(op, 1.0, 6, "tabular"), x, y, 1)
        assert xa.shape == x.shape and xa.dtype == np.float32
        np.testing.assert_array_equal(_run(_one(op, 1.0, 6, "tabular"), x, y, 1)[0], xa)
        np.testing.assert_array_equal(_run(_one(op, 0.0, 6, "tabular"), x, y, 1)[0], x)
        np.testing.assert_allclose(ya.sum(1), 1.0, atol=1e-6)
    xa, _ = _run(_one("dropout", 1.0, 10, "tabular"), x, y, 2)
    assert (xa == 0).mean() == pytest.approx(0.5, abs=0.05)
    assert xa.max() > 1.0 and xa.min() < 0.0  # standardized features are not clipped


@pytest.mark.parametrize("shape", SHAPES, ids=["8x8x1", "16x16x3"])
@pytest.mark.parametrize("preset", PRESETS.names())
def test_each_preset_parses_and_runs_on_images(preset: str, shape: tuple[int, ...]) -> None:
    x, y = _batch(shape)
    for spec in (preset, {"preset": preset}):
        policy = parse_policy(preset, spec, "image")
        xa, ya = _run(policy, x, y, 8)
        assert xa.shape == x.shape and xa.dtype == np.float32
        assert 0.0 <= xa.min() and xa.max() <= 1.0
        np.testing.assert_array_equal(xa, _run(policy, x, y, 8)[0])
        np.testing.assert_allclose(ya.sum(1), 1.0, atol=1e-6)
        json.dumps(policy.spec())
        assert "\n" not in policy.describe() and policy.describe().startswith(preset)
        assert preset == "none" or not np.array_equal(xa, x)


def test_tabular_presets() -> None:
    x = np.random.default_rng(0).standard_normal((20, 6)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[np.arange(20) % 2]
    for preset in ("none", "noise"):
        xa, _ = _run(parse_policy(preset, preset, "tabular"), x, y, 0)
        assert xa.shape == x.shape
    for preset in ("geometric", "photometric", "randaugment", "trivialaugment", "autoaugment"):
        with pytest.raises(ParamError) as err:
            parse_policy(preset, preset, "tabular")
        assert err.value.key == ""
        assert err.value.message == (
            f"preset '{preset}' does not apply to tabular data; use one of: noise, none"
        )


def test_spec_is_content_and_describe_is_one_line() -> None:
    a = parse_policy("a", {"preset": "randaugment", "n": 2, "m": 9}, "image")
    b = parse_policy("b", "randaugment", "image")
    assert a.spec() == b.spec() and a.describe() == "randaugment n=2 m=9"
    c = parse_policy("c", {"preset": "randaugment", "n": 2, "m": 9, "ops": ["rotate"]}, "image")
    assert c.spec() != a.spec() and c.describe() == "randaugment n=2 m=9 ops=rotate"
    custom = parse_policy("m", {"steps": [{"op": "rotate", "p": 0.5, "magnitude": 4}]}, "image")
    assert custom.spec()["steps"] == [{"op": "rotate", "p": 0.5, "magnitude": 4.0}]
    assert custom.describe() == "custom: rotate(p=0.5, m=4)"


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, np.ndarray, np.ndarray]]]:
    """Record every op application (name, sample indices, magnitudes); two no-op ops too."""
    calls: list[tuple[str, np.ndarray, np.ndarray]] = []
    real = Op.apply

    def spy(self: Op, x: Any, y: Any, idx: Any, mags: Any, rng: Any) -> Any:
        calls.append((self.name, idx.copy(), mags.copy()))
        return real(self, x, y, idx, mags, rng)

    monkeypatch.setattr(Op, "apply", spy)
    for name in ("count_a", "count_b"):
        OPS.register(name, Op(name, IMAGE, "test only", mix_fn=lambda x, y, *_: (x, y)))
    try:
        yield calls
    finally:
        OPS.unregister("count_a")
        OPS.unregister("count_b")


def _per_sample(calls: list[tuple[str, np.ndarray, np.ndarray]], n: int) -> np.ndarray:
    return np.bincount(np.concatenate([idx for _, idx, _ in calls]), minlength=n)


@pytest.mark.parametrize("n_ops", [1, 3])
def test_randaugment_applies_exactly_n_ops_per_sample(counted: list, n_ops: int) -> None:
    x, y = _batch((40, 8, 8, 1))
    spec = {"preset": "randaugment", "n": n_ops, "m": 5, "ops": ["count_a", "count_b"]}
    _run(parse_policy("r", spec, "image"), x, y, 0)
    assert (_per_sample(counted, 40) == n_ops).all()
    assert {name for name, _, _ in counted} == {"count_a", "count_b"}
    assert all((mags == 5).all() for _, _, mags in counted)
    counted.clear()
    default = parse_policy("r", {"preset": "randaugment", "n": n_ops}, "image")
    assert {"count_a", "count_b"} <= set(dict(default.params)["ops"])  # pool is the registry's
    _run(default, x, y, 1)
    assert (_per_sample(counted, 40) == n_ops).all()


def test_trivialaugment_applies_one_op_with_uniform_magnitude(counted: list) -> None:
    x, y = _batch((200, 8, 8, 1))
    _run(parse_policy("t", "trivialaugment", "image"), x, y, 0)
    assert (_per_sample(counted, 200) == 1).all()
    mags = np.concatenate([m for _, _, m in counted])
    assert 0 <= mags.min() < 1 and 9 < mags.max() <= 10
    assert len({name for name, _, _ in counted}) > 5


def test_preview_shape_and_determinism() -> None:
    x, y = _batch((3, 8, 8, 1))
    policy = parse_policy("g", "geometric", "image")
    grid = preview(policy, x, y, seed=0, n_variants=5)
    assert grid.shape == (3, 5, 8, 8, 1) and grid.dtype == np.float32
    np.testing.assert_array_equal(grid, preview(policy, x, y, seed=0, n_variants=5))


ALLOWED_IMAGE = ", ".join(IMAGE_OPS)


def _steps(**step: Any) -> dict[str, Any]:
    return {"steps": [{"op": "rotate", "p": 0.5, "magnitude": 3, **step}]}


@pytest.mark.parametrize(
    ("spec", "kind", "key", "parts"),
    [
        (_steps(op="rotat"), "image", "steps[0].op", ["unknown op 'rotat' (did you mean 'rotate'?)", ALLOWED_IMAGE]),
        (
            {"steps": [{"op": "noise", "p": 1, "magnitude": 1}, {"op": "blur", "p": 1, "magnitude": 1}]},
            "image", "steps[1].op", ["unknown op 'blur'", ALLOWED_IMAGE],
        ),
        (_steps(op=3), "image", "steps[0].op", ["must be an op name", ALLOWED_IMAGE]),
        (_steps(p=1.5), "image", "steps[0].p", ["must be a number in [0, 1]", "got 1.5"]),
        (_steps(p=-0.1), "image", "steps[0].p", ["[0, 1]"]),
        (_steps(p=float("nan")), "image", "steps[0].p", ["[0, 1]"]),
        (_steps(p=True), "image", "steps[0].p", ["must be a number in [0, 1]"]),
        (_steps(magnitude=11), "image", "steps[0].magnitude", ["[0, 10]", "30 degrees", "got 11"]),
        (_steps(magnitude="high"), "image", "steps[0].magnitude", ["must be a number in [0, 10]"]),
        ({"steps": [{"op": "rotate", "p": 0.5}]}, "image", "steps[0].magnitude", ["missing", "[0, 10]"]),
        ({"steps": [{"p": 0.5, "magnitude": 1}]}, "image", "steps[0].op", ["missing", ALLOWED_IMAGE]),
        (_steps(prob=0.5), "image", "steps[0].prob", ["unknown key", "allowed: magnitude, op, p"]),
        ({"steps": "rotate"}, "image", "steps", ["non-empty list"]),
        ({"steps": []}, "image", "steps", ["non-empty list"]),
        ({"steps": ["rotate"]}, "image", "steps[0]", ["must be a table like"]),
        ({**_steps(), "extra": 1}, "image", "extra", ["unknown key", "allowed: steps"]),
        (
            _steps(), "tabular", "steps[0].op",
            ["op 'rotate' does not apply to tabular data; use one of: dropout, mixup, noise"],
        ),
        ({"preset": "randaugment", "n": 0}, "image", "n", ["must be an integer >= 1, got 0"]),
        ({"preset": "randaugment", "n": 1.5}, "image", "n", ["must be an integer >= 1"]),
        ({"preset": "randaugment", "m": 12}, "image", "m", ["must be a number in [0, 10]"]),
        (
            {"preset": "randaugmnt"}, "image", "preset",
            ["unknown preset 'randaugmnt' (did you mean 'randaugment'?)", "autoaugment, geometric"],
        ),
        ({"preset": 3}, "image", "preset", ["must be a preset name", "randaugment"]),
        ({"preset": "randaugment", "k": 2}, "image", "k", ["unknown key", "allowed: m, n, ops, preset"]),
        ({"preset": "trivialaugment", "m": 3}, "image", "m", ["unknown key", "allowed: ops, preset"]),
        (
            {"preset": "randaugment", "ops": ["rotate", "flip"]}, "image", "ops[1]",
            ["unknown op 'flip' (did you mean 'hflip'?)", ALLOWED_IMAGE],
        ),
        ({"preset": "randaugment", "ops": []}, "image", "ops", ["non-empty list"]),
        (
            {"preset": "randaugment"}, "tabular", "preset",
            ["preset 'randaugment' does not apply to tabular data; use one of: noise, none"],
        ),
        ("trivial", "image", "", ["unknown preset 'trivial' (did you mean 'trivialaugment'?)", "none"]),
        (3, "image", "", ["must be a preset name", "steps"]),
        ({}, "image", "", ["needs `preset", "randaugment", "`steps"]),
    ],
)  # fmt: skip
def test_param_errors_name_the_key_and_what_is_allowed(
    spec: Any, kind: str, key: str, parts: list[str]
) -> None:
    with pytest.raises(ParamError) as err:
        parse_policy("p", spec, kind)
    assert err.value.key == key, err.value
    for part in parts:
        assert part in err.value.message, err.value.message


def test_apply_rejects_a_batch_of_the_wrong_kind() -> None:
    policy = parse_policy("n", "noise", "image")
    with pytest.raises(ValueError, match="rank 4"):
        policy.apply(
            np.zeros((4, 8), np.float32), np.eye(4, dtype=np.float32), np.random.default_rng()
        )
