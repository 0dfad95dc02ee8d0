"""Alert transitions as events: their payload, depth, the group read back, and rules over alerts without loops,
in both engines (the reference and the compiled one the shards run)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from services.common.domain.evaluation.compiled.engine import CompiledEngine
from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.events.alert_events import (
    MAX_DEPTH,
    alert_event,
    input_depth,
    parse_group,
    source_rule,
    too_deep,
)
from services.common.domain.events.model import Event
from services.common.domain.lifecycle.transitions import Transition
from tests.common.domain.kit import T0, at, event, make_rule


def test_the_payload_is_the_contracts() -> None:
    body = alert_event(
        "fired",
        event_id="e1",
        rule_id="r1",
        rule_name="disk_full",
        severity="high",
        priority="P2",
        group_key="host=db-1,region=eu",
        labels={"team": "db"},
        at=T0,
        depth=1,
    )
    assert body == {
        "event_type": "cep.alert.fired",
        "timestamp": "2024-05-01T12:00:00Z",
        "event_id": "e1",
        "rule_id": "r1",
        "rule_name": "disk_full",
        "severity": "high",
        "priority": "P2",
        "group": {"host": "db-1", "region": "eu"},
        "labels": {"team": "db"},
        "at": "2024-05-01T12:00:00Z",
        "depth": 1,
    }


@pytest.mark.parametrize(
    ("key", "group"),
    [
        ("", {}),
        ("host=a", {"host": "a"}),
        ("host=a,b,region=eu", {"host": "a,b", "region": "eu"}),  # a comma inside a value stays in it
        ("tags=[1,2]", {"tags": "[1,2]"}),
        ("q=a=b", {"q": "a=b"}),
        ("meta.host=a,meta.zone=z", {"meta": {"host": "a", "zone": "z"}}),  # dotted paths nest
        ("a=1,a.b=2", {"a": "1", "a.b": "2"}),  # a path inside a grouped value stays flat
    ],
)
def test_the_group_is_read_back_from_the_group_key(key: str, group: dict[str, object]) -> None:
    assert parse_group(key) == group


def test_depth_counts_hops_and_stops_past_the_limit() -> None:
    assert input_depth("disk", {"depth": 3}) == 0  # an ordinary event's `depth` field means nothing
    assert input_depth("cep.alert.fired", {"depth": 2}) == 2
    assert input_depth("cep.alert.fired", {"depth": "9"}) == 1  # a malformed depth counts as one hop
    assert not too_deep(MAX_DEPTH) and too_deep(MAX_DEPTH + 1)


def test_the_source_rule_of_an_alert_event() -> None:
    assert source_rule("cep.alert.resolved", {"rule_id": "r1"}) == "r1"
    assert source_rule("disk", {"rule_id": "r1"}) is None
    assert source_rule("cep.schedule", {"rule_id": "r1"}) is None


def _alert_of(transition: Transition, seconds: float) -> Event:
    kind = "fired" if transition.kind == "fired" else "resolved"
    body = alert_event(
        kind,
        event_id=transition.event_id,
        rule_id=transition.rule_id,
        rule_name=transition.rule_name,
        severity=transition.severity,
        priority=transition.priority,
        group_key=transition.group_key,
        labels={},
        at=transition.at,
        depth=transition.depth,
    )
    event_type = body.pop("event_type")
    return Event(f"alert-{transition.transition_id}", transition.tenant, at(seconds), body, event_type)


def _fired(transitions: Sequence[Transition]) -> list[tuple[str, str]]:
    return [(t.rule_id, t.group_key) for t in transitions if t.kind == "fired"]


@pytest.mark.parametrize("engine_type", [RuleEngine, CompiledEngine])
def test_a_rule_matches_other_rules_alerts_but_never_its_own(engine_type: type[RuleEngine]) -> None:
    engine = engine_type()
    disk = {"trigger_type": "event", "trigger_spec": {"event_type": "disk", "group_by": ["host"]}}
    every_alert = {"trigger_type": "event", "trigger_spec": {"event_type": "cep.alert.fired", "group_by": ["rule_id"]}}
    engine.upsert_rule(make_rule(disk, "disk_full"), T0)
    engine.upsert_rule(make_rule(every_alert, "any_alert"), T0)

    fired = engine.on_events([event(1, {"host": "db-1"}, "disk")])
    assert _fired(fired) == [("disk_full", "host=db-1")]
    hop1 = engine.on_events([_alert_of(fired[0], 2)])
    assert _fired(hop1) == [("any_alert", "rule_id=disk_full")]
    assert (fired[0].depth, hop1[0].depth) == (1, 2)  # one hop over alerts
    # any_alert's own alert reaches the engine too: no candidate but other rules' (none here) takes it
    hop2 = engine.on_events([_alert_of(hop1[0], 3)])
    assert _fired(hop2) == []


@pytest.mark.parametrize("engine_type", [RuleEngine, CompiledEngine])
def test_two_rules_over_each_others_alerts_stop_at_the_depth_limit(engine_type: type[RuleEngine]) -> None:
    """ping matches pong's alerts and pong matches ping's: the chain ends when an alert event would be too deep."""
    engine = engine_type()
    seed = {"trigger_type": "event", "trigger_spec": {"event_type": "start"}}
    engine.upsert_rule(make_rule(seed, "seed"), T0)
    for name, other in (("ping", "pong"), ("pong", "ping")):
        spec = {"event_type": "cep.alert.fired", "group_by": ["event_id"], "resolve_after": "1h"}
        body = {"trigger_type": "event", "trigger_spec": spec}
        body["conditions"] = {"field": "rule_id", "op": "in", "value": [other, "seed"]}
        engine.upsert_rule(make_rule(body, name), T0)
    pending = [t for t in engine.on_events([event(1, {}, "start")]) if t.kind == "fired"]
    hops: list[tuple[str, int]] = []
    second = 2
    while pending:
        transition = pending.pop(0)
        hops.append((transition.rule_id, transition.depth))
        if too_deep(transition.depth):  # the publisher drops it: it never enters the pipeline
            continue
        second += 1
        pending += [t for t in engine.on_events([_alert_of(transition, second)]) if t.kind == "fired"]
    assert max(depth for _, depth in hops) == MAX_DEPTH + 1  # the first one dropped
    assert len(hops) < 20  # bounded: seed, then ping/pong a few hops deep, then nothing
