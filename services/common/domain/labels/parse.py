"""Alertmanager's classic matcher syntax, as amtool 0.25, the API's `filter` and the config's `matchers:` read it.

One matcher is a label name, an operator (`=`, `!=`, `=~`, `!~`) and a value, with optional spaces around each.
The value may be double-quoted; inside it `\\"` is a quote, `\\n` a line feed and `\\\\` a backslash, and any
other backslash is kept as it is. An unescaped quote may only open and close the value. A list is written
`{a="b", c=~"d.*"}` or bare `a=b,c=~d.*`: the braces are optional, commas inside quotes do not separate, and a
trailing comma is allowed. Errors are `MatcherSyntaxError` (a ValueError) naming the offending text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from services.common.domain.labels.matchers import Matcher, MatchType

# `=~` is tried before `=`, so `a=~b` is a regex matcher and not `a` equal to `~b`.
_WS = r"[\t\n\f\r ]*"  # Go's `\s`: ASCII only
_MATCHER = re.compile(rf"{_WS}([a-zA-Z_:][a-zA-Z0-9_:]*){_WS}(=~|=|!=|!~){_WS}(.*?){_WS}", re.DOTALL)
# Go's `unicode.IsSpace`, which trims the last part of a list (Python's `str.strip` also trims \x1c-\x1f).
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u2028\u2029\u202f\u205f\u3000"
)
_ESCAPES = {"n": "\n", '"': '"', "\\": "\\"}


class MatcherSyntaxError(ValueError):
    """Text that is not a matcher or a matcher list in Alertmanager's syntax."""


def parse_matcher(text: str) -> Matcher:
    """One matcher from its text (`team="db"`, `code=~5..`, `env != "prod"`)."""
    found = _MATCHER.fullmatch(text)
    if found is None:
        raise MatcherSyntaxError(f"bad matcher format: {text}")
    name, operator, raw = found.groups()
    value = _unquote(raw)
    try:
        return Matcher(name=name, type=MatchType(operator), value=value)
    except ValidationError as exc:
        raise MatcherSyntaxError(f"{text}: {exc.errors()[0]['msg']}") from None


def parse_matchers(text: str) -> list[Matcher]:
    """A comma-separated matcher list, braces optional (`{a="b",c=~"d.*"}` or `a=b, c=~d.*`)."""
    body = text.removeprefix("{").removesuffix("}")
    return [parse_matcher(part) for part in _split(body)]


def _split(body: str) -> list[str]:
    """The list's parts: commas separate outside quotes; a quote after a backslash does not open or close."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in body:
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        if char == '"':
            quoted = quoted if escaped else not quoted
            escaped = False
        elif char == "\\":
            escaped = not escaped
        else:
            escaped = False
        current.append(char)
    last = "".join(current).strip(_GO_SPACE)
    if last:
        parts.append(last)
    return parts


def _unquote(raw: str) -> str:
    """The value with its optional quotes removed and OpenMetrics escapes resolved."""
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index < len(body) - 1:
            following = body[index + 1]
            out.append(_ESCAPES.get(following, "\\" + following))
            index += 2
            continue
        if char == '"':
            if not quoted or index < len(body) - 1:
                raise MatcherSyntaxError(f"matcher value contains unescaped double quote: {raw}")
            quoted = False
        else:
            out.append(char)
        index += 1
    if quoted:
        raise MatcherSyntaxError(f"matcher value contains unescaped double quote: {raw}")
    return "".join(out)


def config_matchers(raw: Mapping[str, Any], prefix: str = "") -> tuple[Matcher, ...]:
    """The matchers a configuration block lists under `<prefix>matchers` (matcher syntax), after the older
    `<prefix>match` (equality) and `<prefix>match_re` (regex) maps, in Alertmanager's order."""
    equal = [_matcher(name, MatchType.EQUAL, value) for name, value in (raw.get(f"{prefix}match") or {}).items()]
    regex = [_matcher(name, MatchType.REGEX, value) for name, value in (raw.get(f"{prefix}match_re") or {}).items()]
    listed = [matcher for line in raw.get(f"{prefix}matchers") or () for matcher in parse_matchers(str(line))]
    return (*equal, *regex, *listed)


def _matcher(name: Any, kind: MatchType, value: Any) -> Matcher:
    try:
        return Matcher(name=str(name), type=kind, value=str(value))
    except ValidationError as exc:
        raise MatcherSyntaxError(f"{name}: {exc.errors()[0]['msg']}") from None
