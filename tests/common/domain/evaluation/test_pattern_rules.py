"""Pattern rules in the shard engines: candidates, the event a match opens, the wall-clock fallback, snapshots,
the cap's drops, and rules over each other's alerts stopping at the depth limit."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from services.common.domain.evaluation.compiled.engine import CompiledEngine
from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.events.alert_events import MAX_DEPTH, alert_event, too_deep
from services.common.domain.events.model import Event
from services.common.domain.lifecycle.transitions import Transition
from tests.common.domain.kit import T0, at, event, make_rule

ENGINES = [RuleEngine, CompiledEngine]
BRUTE_FORCE = {
    "trigger_type": "pattern",
    "trigger_spec": {
        "steps": [
            {"name": "fail", "event_type": "login.failed", "times": {"min": 5}},
            {"name": "ok", "event_type": "login.succeeded"},
        ],
        "within": "2m",
        "same": ["user"],
    },
}
UNPAID = {
    "trigger_type": "pattern",
    "trigger_spec": {
        "steps": [
            {"name": "placed", "event_type": "order.placed"},
            {"name": "paid", "event_type": "payment.received", "negate": True},
        ],
        "within": "15m",
        "same": ["order_id"],
    },
}


def engine_with(engine_type: type[RuleEngine], *rules: Any) -> RuleEngine:
    engine = engine_type()
    for rule in rules:
        engine.upsert_rule(rule, T0)
    return engine


def logins(user: str, fails: int, start: float = 0.0) -> list[Event]:
    out = [event(start + n, {"user": user, "n": n}, "login.failed") for n in range(fails)]
    return [*out, event(start + fails, {"user": user, "n": "ok"}, "login.succeeded")]


def arriving(e: Event, late_by: float) -> Event:
    return replace(e, received_at=e.time + timedelta(seconds=late_by))


@pytest.mark.parametrize("engine_type", ENGINES)
def test_brute_force_login_opens_one_event_listing_the_matched_events(engine_type: type[RuleEngine]) -> None:
    engine = engine_with(engine_type, make_rule(BRUTE_FORCE, "bf"))
    mixed = sorted([*logins("ann", 6), *logins("bob", 3)], key=lambda e: e.time)
    out = engine.on_events(mixed)
    assert [(t.kind, t.group_key, t.at) for t in out] == [("fired", "user=ann", at(6))]
    fired = out[0]
    assert [p["n"] for p in fired.payload["matched"]["fail"]] == [0, 1, 2, 3, 4, 5]
    assert [p["n"] for p in fired.payload["matched"]["ok"]] == ["ok"]
    assert fired.payload["user"] == "ann" and fired.labels["user"] == "ann"
    assert [step["step"] for step in fired.explanation] == ["fail", "ok"]
    assert fired.trigger_type == "pattern" and fired.summary.startswith("login.failed x5+ then")


@pytest.mark.parametrize("engine_type", ENGINES)
def test_only_events_of_a_step_type_reach_a_pattern_rule(engine_type: type[RuleEngine]) -> None:
    engine = engine_with(engine_type, make_rule(BRUTE_FORCE, "bf"))
    engine.on_events([event(0, {"user": "ann"}, "page.view"), event(1, {"user": "ann"}, "login.failed")])
    assert engine.evaluations == 1
    engine.on_events([event(2, {"user": "ann"}, "login.succeeded")])
    assert engine.evaluations == 2


@pytest.mark.parametrize("engine_type", ENGINES)
def test_a_trailing_negation_fires_on_the_wall_clock_after_the_arrival_lag(engine_type: type[RuleEngine]) -> None:
    engine = engine_with(engine_type, make_rule(UNPAID, "unpaid"))
    assert engine.on_events([arriving(event(0, {"order_id": "o1"}, "order.placed"), late_by=2)]) == []
    deadline = at(15 * 60)
    assert engine.on_tick(deadline + timedelta(seconds=1.9)) == []  # its arrival + 15m is not reached yet
    out = engine.on_tick(deadline + timedelta(seconds=2.1))
    assert [(t.kind, t.group_key, t.at) for t in out] == [("fired", "order_id=o1", deadline)]
    assert out[0].payload["matched"] == {"placed": [{"order_id": "o1"}]}


@pytest.mark.parametrize("engine_type", ENGINES)
def test_a_payment_in_time_cancels_and_the_series_is_let_go(engine_type: type[RuleEngine]) -> None:
    engine = engine_with(engine_type, make_rule(UNPAID, "unpaid"))
    engine.on_events([event(0, {"order_id": "o1"}, "order.placed"), event(60, {"order_id": "o1"}, "payment.received")])
    assert engine.on_tick(at(3600)) == []
    assert engine.snapshot()["rules"] == {}
    assert engine.pattern_counts["unpaid"] == {"cancelled": 1}


@pytest.mark.parametrize("engine_type", ENGINES)
def test_a_restored_engine_continues_mid_pattern(engine_type: type[RuleEngine]) -> None:
    rule = make_rule(BRUTE_FORCE, "bf")
    stream = logins("ann", 5)
    whole = engine_with(engine_type, rule).on_events(stream)
    first = engine_with(engine_type, rule)
    assert first.on_events(stream[:3]) == []
    data = json.loads(json.dumps(first.snapshot()))
    restored = engine_type.restore(data, [rule])
    rest = restored.on_events(stream[3:])
    assert [t.transition_id for t in rest] == [t.transition_id for t in whole] != []
    assert rest[0].payload == whole[0].payload


@pytest.mark.parametrize("engine_type", ENGINES)
def test_the_cap_drops_the_oldest_partials_and_counts_them(engine_type: type[RuleEngine]) -> None:
    engine = engine_type()
    engine.pattern_cap = 2
    engine.upsert_rule(make_rule(BRUTE_FORCE, "bf"), T0)
    # Strict contiguity is not needed: under relaxed, every failure starts its own partial.
    engine.on_events([event(n, {"user": "ann", "n": n}, "login.failed") for n in range(5)])
    assert engine.pattern_counts["bf"]["dropped"] == 3
    (series,) = engine.snapshot()["rules"]["bf"]["series"].values()
    assert len(series["matcher"]["keys"]["user=ann"]) == 2


def late_engine(engine_type: type[RuleEngine], seconds: float, *rules: Any) -> RuleEngine:
    engine = engine_type()
    engine.pattern_lateness = timedelta(seconds=seconds)
    for rule in rules:
        engine.upsert_rule(rule, T0)
    return engine


@pytest.mark.parametrize("engine_type", ENGINES)
def test_an_event_within_the_lateness_is_matched_in_event_time_order(engine_type: type[RuleEngine]) -> None:
    """The success (t=5) arrives before two failures (t=3, t=4): in order the pattern matches, so it does."""
    stream = logins("ann", 5)
    shuffled = [*stream[:3], stream[5], stream[3], stream[4]]
    engine = late_engine(engine_type, 10, make_rule(BRUTE_FORCE, "bf"))
    assert engine.on_events(shuffled) == []  # held until the key's watermark (newest - 10 s) passes them
    (fired,) = engine.on_events([event(15, {"user": "ann", "n": "x"}, "login.failed")])  # watermark 5 s: released
    assert (fired.kind, fired.group_key, fired.at) == ("fired", "user=ann", at(5))
    assert [p["n"] for p in fired.payload["matched"]["fail"]] == [0, 1, 2, 3, 4]
    assert fired.source_event_id == stream[5].event_id  # the success completed it, though it came first
    without = late_engine(engine_type, 0, make_rule(BRUTE_FORCE, "bf"))
    assert [t for t in without.on_events(shuffled) if t.kind == "fired"] == []  # no lateness: 3 and 4 are late
    assert without.pattern_counts["bf"]["late"] == 2


@pytest.mark.parametrize("engine_type", ENGINES)
def test_an_event_later_than_the_lateness_is_dropped_and_counted(engine_type: type[RuleEngine]) -> None:
    engine = late_engine(engine_type, 10, make_rule(BRUTE_FORCE, "bf"))
    engine.on_events([event(30, {"user": "ann"}, "login.failed"), event(19.5, {"user": "ann"}, "login.failed")])
    assert engine.pattern_counts["bf"]["late"] == 1  # 19.5 s is before the watermark 30 - 10
    engine.on_events([event(20, {"user": "ann"}, "login.failed")])  # exactly at the watermark: taken
    assert engine.pattern_counts["bf"]["late"] == 1


@pytest.mark.parametrize("engine_type", ENGINES)
def test_the_lateness_is_at_most_within(engine_type: type[RuleEngine]) -> None:
    engine = late_engine(engine_type, 3600, make_rule(BRUTE_FORCE, "bf"))
    engine.on_events([event(200, {"user": "ann"}, "login.failed"), event(79, {"user": "ann"}, "login.failed")])
    assert engine.pattern_counts["bf"]["late"] == 1  # 2m, the rule's within, not an hour


@pytest.mark.parametrize("engine_type", ENGINES)
def test_a_late_payment_within_the_lateness_still_cancels_and_the_deadline_waits_for_the_watermark(
    engine_type: type[RuleEngine],
) -> None:
    rule = make_rule(UNPAID, "unpaid")
    engine = late_engine(engine_type, 60, rule)
    deadline = at(15 * 60)
    engine.on_events([event(0, {"order_id": "o1"}, "order.placed"), event(0, {"order_id": "o2"}, "order.placed")])
    engine.on_events([event(15 * 60 + 30, {"order_id": "o1"}, "order.placed")])  # o1's key time: 15:30
    engine.on_events([event(15 * 60 - 1, {"order_id": "o1"}, "payment.received")])  # 31 s late, in time: cancels
    assert engine.on_tick(deadline + timedelta(seconds=30)) == []  # o2's watermark is 14:30 then: D not passed
    out = engine.on_tick(deadline + timedelta(seconds=60, microseconds=1))
    assert [(t.kind, t.group_key, t.at) for t in out] == [("fired", "order_id=o2", deadline)]
    assert engine.pattern_counts["unpaid"]["cancelled"] == 1


@pytest.mark.parametrize("engine_type", ENGINES)
def test_a_restore_with_events_held_continues_exactly(engine_type: type[RuleEngine]) -> None:
    rule = make_rule(BRUTE_FORCE, "bf")
    stream = logins("ann", 5)
    shuffled = [*stream[:2], stream[5], stream[4], stream[2], stream[3], event(20, {"user": "ann"}, "login.failed")]
    whole = late_engine(engine_type, 10, rule).on_events(shuffled)
    first = late_engine(engine_type, 10, rule)
    assert first.on_events(shuffled[:4]) == []
    data = json.loads(json.dumps(first.snapshot()))
    restored = engine_type.restore(data, [rule], pattern_lateness=timedelta(seconds=10))
    rest = restored.on_events(shuffled[4:])
    assert [t.transition_id for t in rest] == [t.transition_id for t in whole] != []
    assert rest[0].payload == whole[0].payload


def _alert_of(transition: Transition, seconds: float) -> Event:
    body = alert_event(
        "fired",
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
    kind = body.pop("event_type")
    return Event(f"alert-{transition.transition_id}", transition.tenant, at(seconds), body, kind)


def _over_alerts_of(*sources: str) -> dict[str, Any]:
    step = {"event_type": "cep.alert.fired", "conditions": {"field": "rule_name", "op": "in", "value": list(sources)}}
    return {
        "trigger_type": "pattern",
        "trigger_spec": {"steps": [{"name": "seen", **step}], "within": "10m"},
    }


@pytest.mark.parametrize("engine_type", ENGINES)
def test_two_pattern_rules_over_each_others_alerts_stop_at_the_depth_limit(engine_type: type[RuleEngine]) -> None:
    seed = {"trigger_type": "event", "trigger_spec": {"event_type": "disk", "group_by": ["host"]}}
    engine = engine_with(
        engine_type,
        make_rule(seed, "disk_full"),
        make_rule(_over_alerts_of("disk_full"), "start"),
        make_rule(_over_alerts_of("start", "pong"), "ping"),
        make_rule(_over_alerts_of("ping"), "pong"),
    )
    # `start` answers disk_full's alerts, then ping and pong answer each other's: each hop is one more depth.
    wave = engine.on_events([event(1, {"host": "db-1"}, "disk")])
    hops: list[tuple[str, int]] = []
    seconds = 2.0
    while wave:
        fired = [t for t in wave if t.kind == "fired"]
        hops += [(t.rule_id, t.depth) for t in fired]
        published = [t for t in fired if not too_deep(t.depth)]  # what ingest lets back into the pipeline
        wave = engine.on_events([_alert_of(t, seconds) for t in published])
        seconds += 1
    assert hops == [("disk_full", 1), ("start", 2), ("ping", 3), ("pong", MAX_DEPTH + 1)]
