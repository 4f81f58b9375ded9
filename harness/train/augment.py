"""Augmentation policies: parse them from config, describe them, apply them to a batch.

A policy is a sequence of *stages*. In each stage every sample picks one *branch*
uniformly at random, and a branch is a list of steps (op, p, magnitude) applied in
order, each to a sample with probability p. That one shape covers everything:

* custom steps and the step presets (none, noise, geometric, photometric): one stage,
  one branch holding all the steps;
* randaugment n, m: n stages, each with one branch per op at p=1, magnitude m, so a
  sample gets exactly n ops drawn uniformly with replacement (as in the paper);
* trivialaugment: one stage with one branch per op and a per-sample magnitude drawn
  uniformly from [0, 10];
* autoaugment: one stage whose branches are the fixed sub-policies below.

The op list and magnitude scale live in harness.train.augment_ops (`OPS`). A preset is one
builder function plus one `PRESETS.register` line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.errors import ParamError
from harness.registry import Registry, nearest
from harness.train.augment_ops import OPS, fits

DATA_KINDS = ("image", "tabular")


@dataclass(frozen=True)
class Step:
    """Apply `op` to a sample with probability `p` at `magnitude` (0..10)."""

    op: str
    p: float
    magnitude: float

    def spec(self) -> dict[str, Any]:
        return {"op": self.op, "p": self.p, "magnitude": self.magnitude}


@dataclass(frozen=True)
class Stage:
    """Each sample takes one branch uniformly; `random_magnitude` draws U[0, 10] per sample."""

    branches: tuple[tuple[Step, ...], ...]
    random_magnitude: bool = False

    def apply(
        self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator, clip: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        n = len(x)
        choice = rng.integers(0, len(self.branches), size=n)
        drawn = rng.uniform(0.0, 10.0, size=n) if self.random_magnitude else None
        for b, branch in enumerate(self.branches):
            members = np.flatnonzero(choice == b)
            for step in branch:
                take = members[rng.random(members.size) < step.p]
                if take.size == 0:
                    continue
                mags = drawn[take] if drawn is not None else np.full(take.size, step.magnitude)
                x, y = OPS.get(step.op).apply(x, y, take, mags, rng)
                if clip:
                    x = np.clip(x, 0.0, 1.0)
        return x, y


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Step):
        return value.spec()
    return value


@dataclass(frozen=True)
class Policy:
    """A named, parsed augmentation policy for one data kind (see the module docstring)."""

    name: str
    data_kind: str
    preset: str  # "custom" for a `steps` table
    params: tuple[tuple[str, Any], ...]  # what decides the behaviour, for spec/describe
    stages: tuple[Stage, ...]

    def spec(self) -> dict[str, Any]:
        """JSON-able content (not the name): equal specs augment identically."""
        out: dict[str, Any] = {"preset": self.preset, "data_kind": self.data_kind}
        out.update({k: _jsonable(v) for k, v in self.params})
        return out

    def describe(self) -> str:
        """One line for the report, e.g. "randaugment n=2 m=9"."""
        params = dict(self.params)
        if "steps" in params:
            steps = ", ".join(f"{s.op}(p={s.p:g}, m={s.magnitude:g})" for s in params["steps"])
            return f"{self.preset}: {steps}" if steps else f"{self.preset} (identity)"
        if "subpolicies" in params:
            return f"{self.preset} ({len(params['subpolicies'])} sub-policies of 2 steps)"
        words = [self.preset] + [f"{k}={v:g}" for k, v in params.items() if k != "ops"]
        if params.get("ops", ()) != tuple(fits(self.data_kind, pool_only=True)):
            words.append("ops=" + ",".join(params["ops"]))
        return " ".join(words)

    def apply(
        self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Augment one batch; same rng state -> same output; inputs are never mutated.

        Returns new float32 arrays; images are clipped to [0, 1] after every op so that
        a later op sees valid pixels.
        """
        want = 4 if self.data_kind == "image" else 2
        if x.ndim != want or y.ndim != 2 or len(x) != len(y):
            raise ValueError(
                f"{self.data_kind} policy '{self.name}' needs x of rank {want} and "
                f"(N, K) targets of the same N, got {x.shape} and {y.shape}"
            )
        x = np.array(x, dtype=np.float32, copy=True)
        y = np.array(y, dtype=np.float32, copy=True)
        for stage in self.stages:
            x, y = stage.apply(x, y, rng, clip=self.data_kind == "image")
        return x.astype(np.float32, copy=False), y.astype(np.float32, copy=False)


# --- config parsing ----------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Table:
    """Reads keys from one config table, raising ParamError keyed relative to the policy."""

    def __init__(self, table: dict[str, Any], prefix: str, allowed: list[str]) -> None:
        self.table, self.prefix = table, prefix
        for key in table:
            if key not in allowed:
                raise ParamError(
                    self.key(str(key)),
                    f"unknown key{nearest(str(key), allowed)}; allowed: {', '.join(sorted(allowed))}",
                )

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def number(self, name: str, lo: float, hi: float, default: float | None, hint: str) -> float:
        if name not in self.table:
            if default is None:
                raise ParamError(
                    self.key(name), f"missing; give a number in [{lo:g}, {hi:g}]{hint}"
                )
            return default
        value = self.table[name]
        if not _is_number(value) or not lo <= value <= hi:
            raise ParamError(
                self.key(name), f"must be a number in [{lo:g}, {hi:g}]{hint}, got {value!r}"
            )
        return float(value)

    def integer(self, name: str, lo: int, default: int) -> int:
        value = self.table.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < lo:
            raise ParamError(self.key(name), f"must be an integer >= {lo}, got {value!r}")
        return value


def _op_name(value: Any, key: str, data_kind: str, pool_only: bool = False) -> str:
    """Check an op name: it exists and fits the data kind; the message lists what is allowed."""
    allowed = fits(data_kind)
    if not isinstance(value, str):
        raise ParamError(key, f"must be an op name, one of: {', '.join(allowed)}; got {value!r}")
    if value not in OPS:
        raise ParamError(
            key, f"unknown op '{value}'{nearest(value, allowed)}; choose from: {', '.join(allowed)}"
        )
    if value not in allowed:
        raise ParamError(
            key,
            f"op '{value}' does not apply to {data_kind} data; use one of: {', '.join(allowed)}",
        )
    return value


def _step(raw: Any, key: str, data_kind: str) -> Step:
    if not isinstance(raw, dict):
        raise ParamError(key, 'must be a table like { op = "rotate", p = 0.5, magnitude = 4 }')
    table = _Table(raw, key, ["op", "p", "magnitude"])
    if "op" not in raw:
        raise ParamError(table.key("op"), f"missing; one of: {', '.join(fits(data_kind))}")
    op = OPS.get(_op_name(raw["op"], table.key("op"), data_kind))
    p = table.number("p", 0.0, 1.0, None, " (probability per sample)")
    default = None if op.uses_magnitude else 0.0
    magnitude = table.number("magnitude", 0.0, 10.0, default, f" ({op.name}: {op.scale})")
    return Step(op.name, p, magnitude)


def _steps(raw: Any, data_kind: str) -> tuple[Step, ...]:
    if not isinstance(raw, list) or not raw:
        raise ParamError(
            "steps", 'must be a non-empty list like [{ op = "noise", p = 0.5, magnitude = 3 }]'
        )
    return tuple(_step(s, f"steps[{i}]", data_kind) for i, s in enumerate(raw))


# --- presets -----------------------------------------------------------------------------

Built = tuple[tuple[tuple[str, Any], ...], tuple[Stage, ...]]


@dataclass(frozen=True)
class Preset:
    """`build(table, data_kind)` reads the preset's own keys and returns (params, stages)."""

    kinds: frozenset[str]
    keys: tuple[str, ...]
    build: Callable[[_Table, str], Built]


def _fixed(*steps: Step) -> Callable[[_Table, str], Built]:
    """A preset that is a fixed list of steps (one stage, one branch)."""

    def build(table: _Table, data_kind: str) -> Built:
        return (("steps", steps),), ((Stage((steps,)),) if steps else ())

    return build


def _pool(table: _Table, data_kind: str) -> tuple[str, ...]:
    """The `ops` key, or by default every op of the random pool for this data kind."""
    raw = table.table.get("ops")
    if raw is None:
        return tuple(fits(data_kind, pool_only=True))
    if not isinstance(raw, list) or not raw:
        raise ParamError(
            "ops", f"must be a non-empty list of op names from: {', '.join(fits(data_kind))}"
        )
    return tuple(_op_name(v, f"ops[{i}]", data_kind) for i, v in enumerate(raw))


def _randaugment(table: _Table, data_kind: str) -> Built:
    """RandAugment (Cubuk et al. 2020): n ops per sample, uniform with replacement, magnitude m."""
    n = table.integer("n", 1, default=2)
    m = table.number("m", 0.0, 10.0, 9.0, " (common magnitude of every op)")
    ops = _pool(table, data_kind)
    stage = Stage(tuple((Step(op, 1.0, m),) for op in ops))
    return (("n", n), ("m", m), ("ops", ops)), (stage,) * n


def _trivialaugment(table: _Table, data_kind: str) -> Built:
    """TrivialAugment (Mueller & Hutter 2021): one uniform op, magnitude uniform in [0, 10]."""
    ops = _pool(table, data_kind)
    # magnitude 0 is a placeholder: random_magnitude draws U[0, 10] per sample instead
    stage = Stage(tuple((Step(op, 1.0, 0.0),) for op in ops), random_magnitude=True)
    return (("ops", ops),), (stage,)


# AutoAugment-style sub-policies for small grayscale digits (8x8 sklearn digits, MNIST-like).
# Hand-picked, not searched: digits vary in slant, position, size and stroke contrast, so
# each sub-policy pairs a mild geometric change (at most ~18 degrees, ~1.5 px on 8x8) with
# another geometric or photometric one. No flips (they change a digit's identity) and no
# strong crops (a 2 px cut on 8x8 removes a stroke). One sub-policy is chosen per sample.
AUTOAUGMENT_DIGITS: tuple[tuple[Step, Step], ...] = (
    (Step("rotate", 0.7, 4), Step("translate", 0.5, 3)),
    (Step("shear", 0.6, 5), Step("contrast", 0.5, 4)),
    (Step("scale", 0.6, 4), Step("noise", 0.4, 3)),
    (Step("translate", 0.7, 5), Step("cutout", 0.4, 4)),
    (Step("rotate", 0.5, 6), Step("brightness", 0.5, 3)),
    (Step("crop", 0.8, 5), Step("shear", 0.4, 3)),
    (Step("contrast", 0.6, 6), Step("scale", 0.5, 3)),
    (Step("noise", 0.5, 4), Step("rotate", 0.4, 3)),
)


def _autoaugment(table: _Table, data_kind: str) -> Built:
    return (("subpolicies", AUTOAUGMENT_DIGITS),), (Stage(AUTOAUGMENT_DIGITS),)


PRESETS: Registry[Preset] = Registry("augmentation preset")
_ANY, _IMAGE = frozenset(DATA_KINDS), frozenset({"image"})
PRESETS.register("none", Preset(_ANY, (), _fixed()))
PRESETS.register("noise", Preset(_ANY, (), _fixed(Step("noise", 0.5, 3))))
PRESETS.register(
    "geometric",
    Preset(
        _IMAGE,
        (),
        _fixed(
            Step("rotate", 0.5, 3),
            Step("translate", 0.5, 3),
            Step("scale", 0.5, 3),
            Step("shear", 0.5, 3),
        ),
    ),
)
PRESETS.register(
    "photometric",
    Preset(
        _IMAGE,
        (),
        _fixed(Step("brightness", 0.5, 3), Step("contrast", 0.5, 3), Step("noise", 0.5, 2)),
    ),
)
PRESETS.register("randaugment", Preset(_IMAGE, ("n", "m", "ops"), _randaugment))
PRESETS.register("trivialaugment", Preset(_IMAGE, ("ops",), _trivialaugment))
PRESETS.register("autoaugment", Preset(_IMAGE, (), _autoaugment))


def _preset(name: Any, key: str, data_kind: str) -> Preset:
    allowed = [p for p in PRESETS if data_kind in PRESETS.get(p).kinds]
    if not isinstance(name, str):
        raise ParamError(key, f"must be a preset name, one of: {', '.join(allowed)}; got {name!r}")
    if name not in PRESETS:
        raise ParamError(
            key,
            f"unknown preset '{name}'{nearest(name, allowed)}; choose from: {', '.join(allowed)}",
        )
    if name not in allowed:
        raise ParamError(
            key,
            f"preset '{name}' does not apply to {data_kind} data; use one of: {', '.join(allowed)}",
        )
    return PRESETS.get(name)


def parse_policy(name: str, spec: Any, data_kind: str) -> Policy:
    """Build a policy from its config value; ParamError keys are relative to the policy.

    Forms: a preset name ("randaugment"); a preset table ({preset = "randaugment", n = 2,
    m = 9}, optional `ops` list); a custom table ({steps = [{op, p, magnitude}, ...]}).
    Errors for the bare-string form have key "" (the policy itself).
    """
    if data_kind not in DATA_KINDS:
        raise ParamError("", f"data kind must be one of {', '.join(DATA_KINDS)}, got {data_kind!r}")
    if isinstance(spec, str):
        preset = _preset(spec, "", data_kind)
        params, stages = preset.build(_Table({}, "", []), data_kind)
        return Policy(name, data_kind, spec, params, stages)
    if not isinstance(spec, dict):
        raise ParamError(
            "",
            'must be a preset name like "randaugment", a table { preset = "randaugment", n = 2, m = 9 }'
            ' or { steps = [{ op = "rotate", p = 0.5, magnitude = 4 }] }',
        )
    if "preset" in spec:
        preset = _preset(spec["preset"], "preset", data_kind)
        table = _Table(spec, "", ["preset", *preset.keys])
        params, stages = preset.build(table, data_kind)
        return Policy(name, data_kind, spec["preset"], params, stages)
    if "steps" in spec:
        _Table(spec, "", ["steps"])
        steps = _steps(spec["steps"], data_kind)
        return Policy(name, data_kind, "custom", (("steps", steps),), (Stage((steps,)),))
    raise ParamError(
        "",
        "needs `preset = ...` (one of: "
        + ", ".join(p for p in PRESETS if data_kind in PRESETS.get(p).kinds)
        + ") or `steps = [...]`",
    )


def preview(
    policy: Policy, x: np.ndarray, y: np.ndarray, seed: int, n_variants: int = 8
) -> np.ndarray:
    """(n_samples, n_variants, *sample_shape): `n_variants` augmented copies of each of `x`.

    The copies go through `policy.apply` as one batch, so batch ops (mixup, cutmix) mix
    the previewed samples with each other, as they would in training.
    """
    n = len(x)
    rng = np.random.default_rng(seed)
    xs, _ = policy.apply(np.repeat(x, n_variants, axis=0), np.repeat(y, n_variants, axis=0), rng)
    return xs.reshape((n, n_variants, *x.shape[1:]))
