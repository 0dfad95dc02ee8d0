"""Query-time muting: silences and inhibition composed per open event, as Alertmanager reports them."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from services.common.domain.inhibition.inhibit_rules import InhibitRule, inhibited
from services.common.domain.labels.label_set import fingerprint, normalize
from services.common.domain.labels.parse import parse_matchers
from services.common.domain.muting.muting_state import Muting, muting_states
from services.common.domain.silences.model import Silence

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DOWN = {"alertname": "down", "host": "h1", "severity": "critical"}
CPU = {"alertname": "cpu", "host": "h1", "severity": "warning"}
CPU2 = {"alertname": "cpu", "host": "h2", "severity": "warning"}


def _silence(sid: str, text: str, start: int = -60, end: int = 3600) -> Silence:
    return Silence(
        id=sid,
        matchers=tuple(parse_matchers(text)),
        starts_at=NOW + timedelta(seconds=start),
        ends_at=NOW + timedelta(seconds=end),
        created_by="t",
        comment="c",
        updated_at=NOW,
    )


RULE = InhibitRule(
    source=tuple(parse_matchers('severity="critical"')),
    target=tuple(parse_matchers('severity="warning"')),
    equal=("host",),
)


def test_silences_and_inhibition_per_event() -> None:
    silences = [
        _silence("s2", 'alertname="cpu"'),
        _silence("s1", 'host=~"h.*"', start=-10),
        _silence("pending", 'alertname="cpu"', start=60),  # not started: mutes nothing
        _silence("expired", 'alertname="down"', start=-600, end=-60),
    ]
    states = muting_states({"d": DOWN, "c": CPU, "c2": CPU2}, silences, [RULE], NOW)
    assert states["d"] == Muting(silenced_by=("s1",))
    assert states["c"] == Muting(("s1", "s2"), (fingerprint(DOWN),), ("d",))
    assert states["c2"] == Muting(("s1", "s2"))
    assert states["c"].state == "suppressed"


def test_nothing_mutes_without_silences_or_rules_and_the_state_is_active() -> None:
    states = muting_states({"d": DOWN, "c": CPU}, [], [], NOW)
    assert all(not m.muted and m.state == "active" for m in states.values())


def test_every_event_of_an_inhibiting_label_set_is_named_but_never_itself() -> None:
    twin = dict(DOWN)
    both_sides = InhibitRule(source=tuple(parse_matchers('host="h1"')), target=tuple(parse_matchers('host="h1"')))
    states = muting_states({"d": DOWN, "d-again": twin, "c": CPU}, [], [RULE, both_sides], NOW)
    assert states["c"].inhibited_by_events == ("d", "d-again")
    assert states["d"].inhibited_by == ()  # an alert matching both sides does not inhibit its own kind


def test_the_indexed_verdicts_are_inhibited_s_over_random_label_sets() -> None:
    rng = random.Random(17)
    values = {"alertname": ["a", "b"], "severity": ["critical", "warning", ""], "host": ["h1", "h2", ""], "dc": ["x"]}
    alerts = {str(i): normalize({name: rng.choice(options) for name, options in values.items()}) for i in range(120)}
    rules = [
        RULE,
        InhibitRule(source=tuple(parse_matchers('alertname="a"')), target=tuple(parse_matchers('dc="x"'))),
        InhibitRule(
            source=tuple(parse_matchers('severity=~"crit.*"')),
            target=tuple(parse_matchers('alertname=~"a|b"')),
            equal=("host", "dc"),
        ),
    ]
    states = muting_states(alerts, [], rules, NOW)
    sources = list(alerts.values())
    for event_id, labels in alerts.items():
        assert states[event_id].inhibited_by == inhibited(labels, rules, sources).by
    assert 10 < sum(m.muted for m in states.values()) < len(alerts)
