"""Seeded generators of label sets, matchers, silences, inhibit rules and routing trees for the oracle tests.

Names and values come from small vocabularies so that generated matchers hit generated label sets often; the
values hold the awkward cases (empty, a space, a quote, a backslash, a line feed, non-ASCII, regex metacharacters).
"""

from __future__ import annotations

import random
from typing import Any

from services.common.domain.labels.matchers import Matcher, MatchType

NAMES = ("a", "b", "team", "env")
VALUES = ("x", "y", "xy", "x.y", "X", "", "日本", "a b", 'q"t', "back\\slash", "line\nfeed", "x,y")
PATTERNS = ("x", "x.*", "x|y", ".*", ".+", "[xy]+", "X|", "日.*", "(?i)x", "x\\.y", "a b", ".*y", "xy?", 'q"t')
OPERATORS = tuple(MatchType)


def label_set(rng: random.Random, **fixed: str) -> dict[str, str]:
    """A label set over the vocabulary (an empty value stands for a label Alertmanager will drop)."""
    labels = {name: rng.choice(VALUES) for name in NAMES if rng.random() < 0.7}
    return {**labels, **fixed}


def matcher(rng: random.Random, kinds: tuple[MatchType, ...] = OPERATORS) -> Matcher:
    """A matcher on a vocabulary name: equality ones on the values, regex ones on the patterns."""
    kind = rng.choice(kinds)
    value = rng.choice(PATTERNS if kind.is_regex else VALUES)
    return Matcher(name=rng.choice(NAMES), type=kind, value=value)


def matchers(rng: random.Random, most: int = 3) -> list[Matcher]:
    return [matcher(rng) for _ in range(rng.randint(1, most))]


def narrow_matchers(rng: random.Random) -> list[Matcher]:
    """Two or three matchers, the first an equality on a non-empty value, so that most label sets escape them."""
    first = Matcher(name=rng.choice(NAMES), type=MatchType.EQUAL, value=rng.choice([v for v in VALUES if v]))
    return [first, *matchers(rng, 2)]


def with_suite(rng: random.Random, found: list[Matcher], suite: str) -> tuple[Matcher, ...]:
    """The matchers with `suite="<suite>"` inserted at a random place (order matters to silence edits)."""
    spot = rng.randint(0, len(found))
    return (*found[:spot], Matcher(name="suite", type=MatchType.EQUAL, value=suite), *found[spot:])


def inhibit_rule(rng: random.Random, suite: str) -> dict[str, Any]:
    """An inhibit rule in configuration form, confined to one suite's alerts on both sides."""
    source = [str(m) for m in with_suite(rng, matchers(rng, 2), suite)]
    target = [str(m) for m in with_suite(rng, matchers(rng, 2), suite)]
    equal = rng.sample(NAMES, rng.randint(0, 2))
    return {"source_matchers": source, "target_matchers": target, "equal": equal}


def route_tree(rng: random.Random, depth: int = 3) -> tuple[dict[str, Any], list[str]]:
    """A routing tree in configuration form and the receiver names it uses (the config must declare them)."""
    receivers = ["root"]
    root: dict[str, Any] = {"receiver": "root", "group_by": rng.choice([["a"], [], ["..."], ["team", "env"]])}
    root["routes"] = _children(rng, depth, receivers)
    return root, receivers


def _children(rng: random.Random, depth: int, receivers: list[str]) -> list[dict[str, Any]]:
    routes = []
    for _ in range(rng.randint(1, 3) if depth > 0 else 0):
        route: dict[str, Any] = {"matchers": [str(m) for m in matchers(rng, 2)]}
        if rng.random() < 0.3:
            route = {"match": {m.name: m.value for m in matchers(rng, 2) if m.value}}
        if rng.random() < 0.7:
            receivers.append(f"r{len(receivers)}")
            route["receiver"] = receivers[-1]
        if rng.random() < 0.4:
            route["continue"] = True
        if rng.random() < 0.4:
            route["group_by"] = rng.choice([["a"], [], ["..."], ["b", "team"]])
        if rng.random() < 0.5:
            route["routes"] = _children(rng, depth - 1, receivers)
        routes.append(route)
    return routes


def config(route: dict[str, Any], receivers: list[str], inhibit_rules: list[dict[str, Any]]) -> dict[str, Any]:
    """A whole Alertmanager configuration around a route and inhibit rules."""
    return {"route": route, "receivers": [{"name": name} for name in receivers], "inhibit_rules": inhibit_rules}
