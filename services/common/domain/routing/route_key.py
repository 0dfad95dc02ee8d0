"""Alertmanager's `Route.Key()`: the text naming a route in its groups' keys (the webhook's `groupKey`).

Each route's matchers are written as `{name<op>"value",...}` and joined from the root with `/`:
`{}/{a=~"x.*",team="db"}/{env="dev"}`. Alertmanager 0.25 sorts a route's matchers by name, then value, then
operator (`=`, `!=`, `=~`, `!~`), comparing the raw (unescaped) text as Go compares strings; a `match_re` entry's
value is the regex as its config compiled it, `^(?:<regex>)$` (`matchers` keep the regex as written). The
oracle test (tests/common/domain/alertmanager_oracle/test_route_groups_oracle.py) holds us to the real text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.common.domain.labels.matchers import Matcher, MatchType, anchored
from services.common.domain.labels.parse import parse_matchers

_OPERATOR_ORDER = {kind: place for place, kind in enumerate(MatchType)}  # Go's MatchType values, in this order


def key_part(raw: Mapping[str, Any]) -> str:
    """One route's part of the key, from its configuration mapping (the root's is `{}`)."""
    equal = [Matcher(name=str(n), type=MatchType.EQUAL, value=str(v)) for n, v in (raw.get("match") or {}).items()]
    regexes = (raw.get("match_re") or {}).items()
    regex = [Matcher(name=str(n), type=MatchType.REGEX, value=anchored(str(v))) for n, v in regexes]
    listed = [matcher for line in raw.get("matchers") or () for matcher in parse_matchers(str(line))]
    ordered = sorted([*equal, *regex, *listed], key=_order)
    return "{" + ",".join(str(matcher) for matcher in ordered) + "}"


def _order(matcher: Matcher) -> tuple[str, str, int]:
    # Python orders strings by code point, which is the order of their UTF-8 bytes, Go's order
    return matcher.name, matcher.value, _OPERATOR_ORDER[matcher.type]
