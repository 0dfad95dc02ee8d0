"""promtool's series notation, the subset `cep rules test` reads: expansions, blanks, labels, and refusals."""

from __future__ import annotations

import re

import pytest

from services.common.domain.rule_tests.series_notation import MAX_SAMPLES, expand_values, parse_series


@pytest.mark.parametrize(
    ("text", "samples"),
    [
        ("7", [7.0]),
        (7, [7.0]),
        ("1+2x3", [1.0, 3.0, 5.0, 7.0]),
        ("9-1x2", [9.0, 8.0, 7.0]),
        ("5x2", [5.0, 5.0, 5.0]),
        ("-1.5+0.5x1", [-1.5, -1.0]),
        ("1 _ 3", [1.0, None, 3.0]),
        ("_x2 4", [None, None, 4.0]),
        ("1e2", [100.0]),
    ],
)
def test_values_expand_one_sample_per_interval(text: str | int, samples: list[float | None]) -> None:
    assert expand_values(text) == samples


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "at least one value"),
        ("1+x", "'1+x'"),
        ("stale", "'stale'"),
        (f"1x{MAX_SAMPLES}", f"more than {MAX_SAMPLES}"),
    ],
)
def test_values_it_cannot_read_are_named(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        expand_values(text)


@pytest.mark.parametrize(
    ("text", "name", "labels"),
    [
        ("cpu_usage", "cpu_usage", {}),
        ('cpu_usage{host="a"}', "cpu_usage", {"host": "a"}),
        (' app.latency { host = "a" , dc="eu-1" } ', "app.latency", {"host": "a", "dc": "eu-1"}),
        (r'm{msg="say \"hi\", then go"}', "m", {"msg": 'say "hi", then go'}),
    ],
)
def test_series_are_a_name_and_labels(text: str, name: str, labels: dict[str, str]) -> None:
    assert parse_series(text) == (name, labels)


@pytest.mark.parametrize(("text", "problem"), [("cpu{host=a}", "bad labels"), ('{host="a"}', "not a series")])
def test_series_it_cannot_read_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_series(text)
