"""The display-name check that rule, channel and polling-target bodies share, by table."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.domain.rules.errors import FieldError, display_name


@pytest.mark.parametrize(
    ("value", "expected", "message"),
    [
        ("ops", "ops", None),
        ("  on-call pager  ", "on-call pager", None),
        (None, "", "required: a non-empty string"),
        ("   ", "", "required: a non-empty string"),
        (42, "", "required: a non-empty string"),
        ("x" * 201, "x" * 201, "at most 200 printable characters"),
        ("line\nbreak", "line\nbreak", "at most 200 printable characters"),
    ],
)
def test_display_name(value: Any, expected: str, message: str | None) -> None:
    errors: list[FieldError] = []
    assert display_name(value, errors) == expected
    assert [(e.loc, e.msg) for e in errors] == ([] if message is None else [(("name",), message)])


def test_display_name_takes_its_limit() -> None:
    errors: list[FieldError] = []
    display_name("abcd", errors, limit=3)
    assert [e.msg for e in errors] == ["at most 3 printable characters"]
