"""The classic matcher syntax amtool 0.25 speaks: quoting, escapes, braces, commas inside quotes, refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.domain.labels.matchers import Matcher, MatchType
from services.common.domain.labels.parse import MatcherSyntaxError, config_matchers, parse_matcher, parse_matchers


def m(name: str, op: str, value: str) -> Matcher:
    return Matcher(name=name, type=MatchType(op), value=value)


ONE = [
    ("a=b", m("a", "=", "b")),
    ('a="b"', m("a", "=", "b")),
    ("  a  !=  b  ", m("a", "!=", "b")),
    ("a=~5..", m("a", "=~", "5..")),
    ("a=~~x", m("a", "=~", "~x")),  # `=~` is taken first; the rest is the value
    ('a!~"x|y"', m("a", "!~", "x|y")),
    ("a=", m("a", "=", "")),
    ('a=""', m("a", "=", "")),
    ('a="x\\"y"', m("a", "=", 'x"y')),
    ('a="x\\ny"', m("a", "=", "x\ny")),
    ('a="x\\\\y"', m("a", "=", "x\\y")),
    ('a="x\\dy"', m("a", "=", "x\\dy")),  # an unknown escape keeps its backslash
    ("a=x\\", m("a", "=", "x\\")),  # a trailing backslash is literal
    ("a=b c", m("a", "=", "b c")),
    ("a==b=", m("a", "=", "=b=")),
    ("a:b=c", m("a:b", "=", "c")),  # the syntax admits colons; silences refuse such names later
]


@pytest.mark.parametrize(("text", "expected"), ONE)
def test_parse_one(text: str, expected: Matcher) -> None:
    assert parse_matcher(text) == expected


@pytest.mark.parametrize("text", ["a", "=b", "9a=b", 'a="b', 'a=b"', 'a="b"c"', 'a="b""', "a=~(", "a=~(?=x)", "a ~= b"])
def test_parse_one_refuses(text: str) -> None:
    with pytest.raises(MatcherSyntaxError):
        parse_matcher(text)


LISTS = [
    ('{foo = "bar", dings != "bums", }', [m("foo", "=", "bar"), m("dings", "!=", "bums")]),
    ("foo=bar,dings!=bums", [m("foo", "=", "bar"), m("dings", "!=", "bums")]),
    ('{quote="She said: \\"Hi, ladies!\\""}', [m("quote", "=", 'She said: "Hi, ladies!"')]),
    ('{a=~"x,y", b="1"}', [m("a", "=~", "x,y"), m("b", "=", "1")]),
    ("{}", []),
    ("", []),
]


@pytest.mark.parametrize(("text", "expected"), LISTS)
def test_parse_list(text: str, expected: list[Matcher]) -> None:
    assert parse_matchers(text) == expected


def test_an_empty_item_in_a_list_is_refused() -> None:
    with pytest.raises(MatcherSyntaxError):
        parse_matchers("a=b,,c=d")


def test_printing_then_parsing_gives_the_matcher_back() -> None:
    for value in ['x"y', "x\ny", "x\\y", "x,y", " lead", "é"]:
        matcher = m("a", "=", value)
        assert parse_matcher(str(matcher)) == matcher


def test_config_blocks_list_old_maps_then_matchers() -> None:
    raw = {"match": {"a": "1"}, "match_re": {"b": "x.*"}, "matchers": ['c!="2"', "d=~y, e!~z"]}
    assert config_matchers(raw) == (
        m("a", "=", "1"),
        m("b", "=~", "x.*"),
        m("c", "!=", "2"),
        m("d", "=~", "y"),
        m("e", "!~", "z"),
    )
    assert config_matchers({"source_match": {"a": "1"}}, "source_") == (m("a", "=", "1"),)


_NAMES = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,10}", fullmatch=True)
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)  # any Unicode but lone surrogates


@given(name=_NAMES, kind=st.sampled_from([MatchType.EQUAL, MatchType.NOT_EQUAL]), value=_TEXT)
def test_any_printed_matcher_parses_back(name: str, kind: MatchType, value: str) -> None:
    matcher = Matcher(name=name, type=kind, value=value)
    assert parse_matcher(str(matcher)) == matcher
    assert parse_matchers("{" + str(matcher) + ", " + str(matcher) + "}") == [matcher, matcher]
