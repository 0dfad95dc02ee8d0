"""Group key text: written by `group_key_of`, read back by `group_pairs` (alert events, open events' labels)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.domain.lifecycle.transitions import group_key_of, group_pairs


@pytest.mark.parametrize(
    ("names", "values", "pairs"),
    [
        (None, [], []),
        (["host"], ["gt-01"], [("host", "gt-01")]),
        (["host", "region"], ["a", "eu"], [("host", "a"), ("region", "eu")]),
        (["meta.host", "path"], ["a", "/x,y"], [("meta.host", "a"), ("path", "/x,y")]),
        (["n", "tags"], [3, ["a", "b"]], [("n", "3"), ("tags", '["a","b"]')]),
        (["host"], [""], [("host", "")]),
    ],
)
def test_a_group_key_reads_back_as_its_pairs(names: list[str] | None, values: list[object], pairs: list) -> None:
    assert group_pairs(group_key_of(names, values)) == pairs


def test_a_value_holding_a_comma_then_name_equals_reads_as_two_pairs() -> None:
    assert group_pairs(group_key_of(["q"], ["a,b=c"])) == [("q", "a"), ("b", "c")]


names = st.lists(st.from_regex(r"[a-z][a-z0-9_.]{0,8}", fullmatch=True), min_size=1, max_size=4, unique=True)


@given(
    names.flatmap(
        lambda ns: st.tuples(st.just(ns), st.lists(st.text("ab ,-/", max_size=6), min_size=len(ns), max_size=len(ns)))
    )
)
def test_values_without_equals_signs_always_read_back(case: tuple[list[str], list[str]]) -> None:
    keys, values = case
    assert group_pairs(group_key_of(keys, values)) == list(zip(keys, values, strict=True))
