"""Label sets and matchers: fingerprints as Alertmanager prints them, anchored RE2 regexes, missing labels."""

from __future__ import annotations

import pytest

from services.common.domain.labels.label_set import fingerprint, is_valid_name, normalize
from services.common.domain.labels.matchers import Matcher, MatchType, from_api, matches_all, to_api

FINGERPRINTS = [
    ({}, "cbf29ce484222325"),  # FNV-1a's offset basis: nothing hashed
    ({"alertname": "x", "b": "ü"}, "df1702abc078c55b"),  # read off a real Alertmanager 0.25
    ({"b": "ü", "alertname": "x"}, "df1702abc078c55b"),  # order of insertion does not count
]


@pytest.mark.parametrize(("labels", "expected"), FINGERPRINTS)
def test_fingerprint_is_alertmanagers(labels: dict[str, str], expected: str) -> None:
    assert fingerprint(labels) == expected


def test_fingerprint_separates_names_from_values() -> None:
    # Without the 0xFF separators {"ab": "c"} and {"a": "bc"} would hash the same bytes.
    assert fingerprint({"ab": "c"}) != fingerprint({"a": "bc"})


def test_normalize_drops_empty_values_only() -> None:
    assert normalize({"a": "", "b": " ", "c": "0"}) == {"b": " ", "c": "0"}


@pytest.mark.parametrize(("name", "valid"), [("job", True), ("_x9", True), ("9x", False), ("a:b", False), ("", False)])
def test_label_names(name: str, valid: bool) -> None:
    assert is_valid_name(name) is valid


def m(name: str, op: str, value: str) -> Matcher:
    return Matcher(name=name, type=MatchType(op), value=value)


MATCHES = [
    (m("team", "=", "db"), {"team": "db"}, True),
    (m("team", "=", "db"), {"team": "dba"}, False),
    (m("team", "=", ""), {}, True),  # a missing label reads as the empty string
    (m("team", "!=", "db"), {}, True),
    (m("team", "!=", "db"), {"team": "db"}, False),
    (m("team", "=~", "db"), {"team": "mysql-db"}, False),  # anchored at both ends
    (m("team", "=~", "db|web"), {"team": "web"}, True),  # the alternation is grouped before anchoring
    (m("team", "=~", ".*"), {}, True),
    (m("team", "=~", ".+"), {}, False),
    (m("team", "!~", ".+"), {}, True),
    (m("team", "!~", "d.*"), {"team": "db"}, False),
    (m("team", "=~", "(?i)DB"), {"team": "db"}, True),
    (m("team", "=~", "a.b"), {"team": "a\nb"}, False),  # `.` does not match a line feed (RE2, Go)
    (m("team", "=~", "日.*"), {"team": "日本"}, True),
]


@pytest.mark.parametrize(("matcher", "labels", "expected"), MATCHES)
def test_matcher_semantics(matcher: Matcher, labels: dict[str, str], expected: bool) -> None:
    assert matcher.matches_labels(labels) is expected


def test_all_matchers_must_accept() -> None:
    matchers = [m("a", "=", "1"), m("b", "!~", "x.*")]
    assert matches_all(matchers, {"a": "1", "b": "y"})
    assert not matches_all(matchers, {"a": "1", "b": "xy"})
    assert matches_all([], {"anything": "goes"})


def test_a_regex_is_checked_by_re2_when_built() -> None:
    with pytest.raises(ValueError, match="lookahead"):
        m("a", "=~", "(?=x)")
    with pytest.raises(ValueError):
        m("a", "!~", "(unclosed")


@pytest.mark.parametrize("pattern", ["\\C", "x\\C", "(?<n>x)", "[\\]](?<a>x)"])
def test_syntax_go_refuses_is_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="Alertmanager's regexp syntax"):
        m("a", "=~", pattern)


@pytest.mark.parametrize("pattern", ["\\\\C", "[(?<]", "[]C]", "x(?P<n>y)"])
def test_look_alikes_are_accepted(pattern: str) -> None:
    assert m("a", "=~", pattern).type is MatchType.REGEX


API = [
    ({"name": "a", "value": "b", "isRegex": False, "isEqual": True}, "="),
    ({"name": "a", "value": "b", "isRegex": False, "isEqual": False}, "!="),
    ({"name": "a", "value": "b", "isRegex": True, "isEqual": True}, "=~"),
    ({"name": "a", "value": "b", "isRegex": True, "isEqual": False}, "!~"),
]


@pytest.mark.parametrize(("obj", "op"), API)
def test_api_matcher_objects_round_trip(obj: dict[str, object], op: str) -> None:
    matcher = from_api(obj)
    assert matcher == m("a", op, "b")
    assert to_api(matcher) == obj


def test_api_matcher_without_is_equal_is_positive() -> None:
    assert from_api({"name": "a", "value": "b", "isRegex": True}).type is MatchType.REGEX


def test_matcher_prints_escaped() -> None:
    assert str(m("msg", "=", 'say "hi"\\\n')) == 'msg="say \\"hi\\"\\\\\\n"'
