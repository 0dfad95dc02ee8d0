"""The source index answers as `inhibited` (oracle-tested against Alertmanager) on generated rules and alerts,
names sources by event id, follows alerts as they open and close, and never counts an excluded alert."""

from __future__ import annotations

import random

from services.common.domain.inhibition.inhibit_rules import InhibitRule, inhibited
from services.common.domain.inhibition.source_index import OpenAlert, SourceIndex
from services.common.domain.labels.label_set import fingerprint, normalize
from services.common.domain.labels.matchers import Matcher, MatchType

NAMES = ("alertname", "severity", "host", "team")
VALUES = ("", "a", "b", "c")


def _labels(rng: random.Random) -> dict[str, str]:
    return {name: rng.choice(VALUES) for name in NAMES if rng.random() < 0.8}


def _matcher(rng: random.Random) -> Matcher:
    kind = rng.choice(list(MatchType))
    value = rng.choice(("a", "b", "a|b", "")) if kind.is_regex else rng.choice(VALUES)
    return Matcher(name=rng.choice(NAMES), type=kind, value=value)


def _rule(rng: random.Random) -> InhibitRule:
    return InhibitRule(
        source=tuple(_matcher(rng) for _ in range(rng.randint(1, 2))),
        target=tuple(_matcher(rng) for _ in range(rng.randint(1, 2))),
        equal=tuple(rng.sample(NAMES, rng.randint(0, 2))),
    )


def test_the_index_answers_as_inhibited_on_generated_cases() -> None:
    rng = random.Random(17)
    compared = inhibiting = 0
    for _ in range(200):
        rules = [_rule(rng) for _ in range(rng.randint(1, 3))]
        alerts = [OpenAlert(f"e{n}", normalize(_labels(rng))) for n in range(rng.randint(0, 12))]
        index = SourceIndex(rules, alerts)
        for _ in range(5):
            target = normalize(_labels(rng))
            expected = set(inhibited(target, rules, [a.labels for a in alerts]).by)
            found = index.inhibiting(target)
            assert {fingerprint(a.labels) for a in alerts if a.event_id in found} == expected
            compared += 1
            inhibiting += bool(found)
    assert compared == 1000 and 100 < inhibiting < 900  # the generator makes both outcomes common


def test_sources_open_and_close_and_excluded_ones_do_not_count() -> None:
    rule = InhibitRule(
        source=(Matcher(name="alertname", type=MatchType.EQUAL, value="db_down"),),
        target=(Matcher(name="severity", type=MatchType.EQUAL, value="warning"),),
        equal=("host",),
    )
    target = {"alertname": "api_slow", "severity": "warning", "host": "h1"}
    index = SourceIndex([rule])
    assert index.inhibiting(target) == set()
    index.add(OpenAlert("s1", {"alertname": "db_down", "host": "h1"}))
    index.add(OpenAlert("s2", {"alertname": "db_down", "host": "h1"}))  # the same label set, another event
    index.add(OpenAlert("s3", {"alertname": "db_down", "host": "h2"}))  # another host
    assert index.inhibiting(target) == {"s1", "s2"}
    assert index.inhibiting(target, excluded={"s1"}) == {"s2"}
    index.remove("s2")
    index.remove("never-held")
    assert index.inhibiting(target) == {"s1"}
    index.add(OpenAlert("s1", {"alertname": "db_down", "host": "h2"}))  # re-added with other labels: moved
    assert index.inhibiting(target) == set() and index.inhibiting({**target, "host": "h2"}) == {"s1", "s3"}
