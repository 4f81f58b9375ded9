"""Parameter sweeps: lists become one setting per value, named predictably."""

from __future__ import annotations

import pytest

from harness.config.grid import GridError, expand, find_sweeps


def test_one_list_makes_one_setting_per_value_named_from_the_template() -> None:
    steps = [{"pass": "quantize", "bits": [2, 4, 8], "symmetric": True}]
    out = expand("int{bits}", steps, find_sweeps(steps))
    assert [name for name, _ in out] == ["int2", "int4", "int8"]
    assert out[1][1] == [{"pass": "quantize", "bits": 4, "symmetric": True}]
    assert steps[0]["bits"] == [2, 4, 8]  # the config's own tables are left alone


def test_lists_in_several_tables_give_the_product_named_by_appending() -> None:
    steps = [{"pass": "prune", "ratio": [0.25, 0.5]}, {"pass": "quantize", "bits": [4, 8]}]
    names = [name for name, _ in expand("pq", steps, find_sweeps(steps))]
    assert names == [
        "pq ratio=0.25 bits=4", "pq ratio=0.25 bits=8", "pq ratio=0.5 bits=4", "pq ratio=0.5 bits=8"
    ]  # fmt: skip


def test_the_same_key_swept_twice_is_named_by_appending_even_with_a_template() -> None:
    steps = [{"pass": "prune", "ratio": [0.5]}, {"pass": "prune", "ratio": [0.1, 0.2]}]
    names = [name for name, _ in expand("p{ratio}", steps, find_sweeps(steps))]
    assert names == ["p{ratio} ratio=0.5 ratio=0.1", "p{ratio} ratio=0.5 ratio=0.2"]


def test_nothing_swept_is_the_setting_itself_and_natural_lists_are_kept() -> None:
    table = {"preset": "trivialaugment", "ops": ["rotate", "noise"]}
    assert find_sweeps([table], lists=["ops"]) == []
    assert expand("ta", [table], []) == [("ta", [table])]
    assert [
        n for n, _ in expand("b", [{"flag": [True, False]}], find_sweeps([{"flag": [True, False]}]))
    ] == ["b flag=true", "b flag=false"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([], "a list sweeps values, e.g. [2, 4, 8]; got []"),
        ([[1, 2]], "a list sweeps values"),
        ([4, 4], "lists a value twice: [4, 4]"),
    ],
)
def test_a_list_that_cannot_be_a_sweep_names_its_table_and_key(values: list, message: str) -> None:
    with pytest.raises(GridError) as info:
        find_sweeps([{"pass": "svd"}, {"pass": "quantize", "bits": values}])
    assert (info.value.index, info.value.key) == (1, "bits")
    assert message in info.value.message
