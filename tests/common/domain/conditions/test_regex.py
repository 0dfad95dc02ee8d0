"""User regexes on RE2: search semantics, no catastrophic backtracking, and refusals that say why."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from services.common.domain.conditions import regex
from services.common.domain.conditions.regex import (
    MAX_PATTERN_LENGTH,
    MAX_SEARCH_COST,
    PatternError,
    compile_pattern,
    pattern_problem,
)
from services.common.domain.conditions.tree import compare
from services.common.domain.rules.errors import RuleValidationError
from services.common.domain.rules.forms import form_to_body
from services.common.domain.rules.model import parse_rule

EVIL = "(a+)+$"
EVIL_TEXT = "a" * 34 + "b"  # Python's re needs minutes on this (2**34 ways to split the a's)

SEARCH_CASES: list[tuple[str, str, bool]] = [
    (r"^api-\w+", "api-gateway-7", True),
    (r"^api-", "web-1", False),
    ("error", "xx error yy", True),  # search anywhere, not match at the start
    ("error$", "an error", True),
    ("^error$", "an error", False),
    ("(?i)ERROR", "an error", True),
    (r"\d{3}", "code 503 now", True),
    (r"(?P<code>5\d\d)", "HTTP 503", True),  # named groups are RE2 syntax too
    ("a.c", "a\nc", False),  # `.` does not cross a line break, as in Python
    ("(?s)a.c", "a\nc", True),
    ("(?m)^b", "a\nb", True),
    ("é+", "café", True),  # UTF-8 text and pattern
    (r"\bdisk\b", "the disk is full", True),
    (EVIL, EVIL_TEXT, False),
    (EVIL, "a" * 34, True),
    (r"(x+x+)+y", "x" * 5000, False),
]


@pytest.mark.parametrize(("pattern", "text", "found"), SEARCH_CASES)
def test_search(pattern: str, text: str, found: bool) -> None:
    assert regex.search(pattern, text) is found


def test_evil_pattern_is_linear() -> None:
    start = time.perf_counter()
    for _ in range(20):
        assert compare("regex", EVIL_TEXT, EVIL) == (False, None)
        assert compare("regex", "a" * 100_000 + "b", EVIL) == (False, None)
    assert time.perf_counter() - start < 1.0


REFUSED: list[tuple[str, str]] = [
    (r"(a)\1", "backreferences like \\1 are not supported (RE2 syntax)"),
    (r"(?P<x>a)(?P=x)", "backreferences like (?P=name) are not supported (RE2 syntax)"),
    (r"(?=a)b", "lookahead (?=...) and (?!...) is not supported (RE2 syntax)"),
    (r"a(?!b)", "lookahead (?=...) and (?!...) is not supported (RE2 syntax)"),
    (r"(?<=a)b", "lookbehind (?<=...) and (?<!...) is not supported (RE2 syntax)"),
    (r"(?<!a)b", "lookbehind (?<=...) and (?<!...) is not supported (RE2 syntax)"),
    (r"(?>a+)b", "atomic groups (?>...) are not supported (RE2 syntax)"),
    (r"a++", "possessive quantifiers like a++ are not supported (RE2 syntax)"),
    (r"end\Z", "\\Z is written \\z in RE2 syntax"),
    ("(", "invalid regular expression (RE2 syntax): missing ): ("),
    ("a{1000}{1000}", "invalid regular expression (RE2 syntax): bad repetition operator: {1000}{1000}"),
    ("(a{1000}){1000}", "a repetition count is at most 1000, nested counts multiplied (RE2 syntax)"),
    (r"\pL{200}", "the pattern is too large once compiled (RE2 program memory is capped at 1 MiB)"),
    ("a" * (MAX_PATTERN_LENGTH + 1), f"a pattern is at most {MAX_PATTERN_LENGTH} characters, got 1001"),
]


@pytest.mark.parametrize(("pattern", "message"), REFUSED)
def test_refusals_say_why(pattern: str, message: str) -> None:
    assert pattern_problem(pattern) == message
    with pytest.raises(PatternError, match="^" + re.escape(message) + "$"):
        compile_pattern(pattern)


def test_accepted_patterns_have_no_problem() -> None:
    for pattern in (EVIL, "a" * MAX_PATTERN_LENGTH, r"\w{1000}", r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}"):
        assert pattern_problem(pattern) is None


def test_long_text_against_a_heavy_pattern_is_an_error_not_a_stall() -> None:
    heavy = r"\w{1000}\w{1000}z"  # 6,005 RE2 instructions: about 40 µs a character when its DFA gives up
    limit = MAX_SEARCH_COST // compile_pattern(heavy).programsize
    start = time.perf_counter()
    result, error = compare("regex", "a" * (limit + 1), heavy)
    assert time.perf_counter() - start < 0.1
    assert result is None
    assert error == f"'regex': this pattern searches at most {limit} characters, got {limit + 1}"
    assert compare("regex", "a" * limit, heavy) == (False, None)
    assert compare("regex", "x" * 1_000_000 + "error", "error") == (True, None)  # a light pattern: 1 MB is fine


def test_compiled_patterns_are_cached_and_the_cache_is_bounded() -> None:
    assert compile_pattern("cached-[0-9]+") is compile_pattern("cached-[0-9]+")
    info = regex.cache_info()
    assert info.maxsize is not None and info.maxsize <= 512


def test_an_invalid_stored_pattern_is_an_evaluation_error() -> None:
    assert compare("regex", "aa", r"(a)\1") == (
        None,
        "backreferences like \\1 are not supported (RE2 syntax)",
    )


def _rule(value: Any, nested: bool = False) -> dict[str, Any]:
    leaf = {"field": "msg", "op": "regex", "value": value}
    conditions = {"logic": "AND", "conditions": [{"field": "a", "op": "==", "value": 1}, leaf]} if nested else leaf
    return {"name": "r", "trigger_type": "event", "trigger_spec": {"event_type": "e"}, "conditions": conditions}


VALIDATION: list[tuple[dict[str, Any], list[dict[str, Any]]]] = [
    (
        _rule(r"(a)\1"),
        [{"loc": ["conditions", "value"], "msg": "backreferences like \\1 are not supported (RE2 syntax)"}],
    ),
    (
        _rule(r"(?=x)", nested=True),
        [
            {
                "loc": ["conditions", "conditions", 1, "value"],
                "msg": "lookahead (?=...) and (?!...) is not supported (RE2 syntax)",
            }
        ],
    ),
    (
        _rule("x" * 5000),
        [{"loc": ["conditions", "value"], "msg": f"a pattern is at most {MAX_PATTERN_LENGTH} characters, got 5000"}],
    ),
    (_rule(42), [{"loc": ["conditions", "value"], "msg": "'regex' needs a pattern string"}]),
]


@pytest.mark.parametrize(("body", "errors"), VALIDATION)
def test_parse_rule_names_the_field_and_why(body: dict[str, Any], errors: list[dict[str, Any]]) -> None:
    with pytest.raises(RuleValidationError) as info:
        parse_rule(body)
    assert [e.as_dict() for e in info.value.errors] == errors


def test_a_stored_rule_with_a_pattern_re2_refuses_still_loads() -> None:
    spec = parse_rule(_rule(r"(a)\1"), stored=True)  # saved before RE2: readable, editable, deletable
    assert spec.conditions is not None


NUMERIC_STALLS = ["1" * 20_000 + "x", " " * 20_000 + "1x", "1." + "1" * 20_000 + "x", "1e" + "1" * 20_000 + "x"]


@pytest.mark.parametrize("text", NUMERIC_STALLS)
def test_numeric_strings_are_recognised_in_linear_time(text: str) -> None:
    start = time.perf_counter()
    assert compare(">", text, 5)[0] is None  # not a number: a type mismatch, found at once
    form = {"name": "r", "trigger_type": "event", "trigger": {"event_type": "e"}}
    form_to_body({**form, "conditions": [{"field": "a", "op": ">", "value": text}]})
    form_to_body({**form, "conditions": [{"field": "a", "op": "in", "value": f"{text},2"}]})
    assert time.perf_counter() - start < 0.5
