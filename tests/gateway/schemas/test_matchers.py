"""Matchers as bodies send them: every malformed shape is an error naming its field, never an exception."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.domain.rules.errors import FieldError
from services.gateway.schemas.matchers import read_matcher


@pytest.mark.parametrize(
    ("item", "loc"),
    [
        ({"name": "a", "type": {}, "value": "x"}, ("matchers", 0, "type")),  # found by schemathesis: was a 500
        ({"name": "a", "type": ["="], "value": "x"}, ("matchers", 0, "type")),
        ({"name": "a", "type": "~", "value": "x"}, ("matchers", 0, "type")),
        ({"name": "a", "isRegex": "yes", "value": "x"}, ("matchers", 0, "isRegex")),
        ({"name": "", "type": "=", "value": "x"}, ("matchers", 0, "name")),
        ({"name": "a", "type": "=", "value": 3}, ("matchers", 0, "value")),
        (["a", "=", "x"], ("matchers", 0)),
    ],
)
def test_a_malformed_matcher_is_an_error_naming_its_field(item: Any, loc: tuple[str | int, ...]) -> None:
    errors: list[FieldError] = []
    assert read_matcher(item, ("matchers", 0), errors) is None
    assert [tuple(error.loc) for error in errors] == [loc]


def test_a_well_formed_matcher_is_read() -> None:
    errors: list[FieldError] = []
    matcher = read_matcher({"name": "team", "type": "=~", "value": "db|web"}, ("matchers", 0), errors)
    assert errors == [] and matcher is not None and matcher.matches("db")
