"""Stored details read through orjson come back exactly as json.loads reads them."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.store import fastjson

TEXTS = (
    '{"samples_ms": [0.1, 1e-07, 5e-324, 1.7976931348623157e+308, -0.0, 3], "a": {"b": null}}',
    '{"a": 1, "a": 2}',  # the last of duplicate keys wins in both
    '{"seed": 18446744073709551616, "low": -9223372036854775809}',  # beyond 64 bits
    '{"spread": NaN, "max": Infinity, "min": -Infinity}',  # json.dumps writes these
    '{"huge": 1e400}',  # json reads inf
    '["\\ud800", "\\u00b7 caf\\u00e9", "\\u2212"]',  # a lone surrogate, then plain text
    '["\ud800", "caf\u00e9 \u00b7"]',  # the same unescaped, as ensure_ascii=False writes
    '{"digits": "0123456789012345678901", "n": 1234567890123456789}',
)


def _exact(a: object, b: object) -> bool:
    """Equal values of equal types, floats to the bit (nan included)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_exact(a[k], b[k]) for k in a)  # type: ignore[index]
    if isinstance(a, list):
        return len(a) == len(b) and all(_exact(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[arg-type]
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a.hex() == b.hex()  # type: ignore[arg-type]
    return a == b


@pytest.mark.parametrize("text", TEXTS)
def test_loads_returns_what_json_loads_returns(text: str) -> None:
    assert _exact(fastjson.loads(text), json.loads(text))


def test_integers_beyond_64_bits_stay_integers() -> None:
    assert fastjson.loads('{"seed": 18446744073709551616}') == {"seed": 2**64}
    assert type(fastjson.loads("[18446744073709551616]")[0]) is int


def test_bad_json_raises_as_json_does() -> None:
    with pytest.raises(json.JSONDecodeError):
        fastjson.loads('{"a": ')


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(JSON_VALUES)
@settings(max_examples=100, deadline=None)
def test_any_stored_json_reads_back_as_json_reads_it(value: object) -> None:
    text = json.dumps(value)  # how the store writes details (NaN and Infinity included)
    assert _exact(fastjson.loads(text), json.loads(text))
