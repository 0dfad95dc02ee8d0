"""The shard engine: candidate index, rule changes, trigger, pure evaluation, snapshots."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.common.domain.evaluation.rule_engine import RuleEngine
from tests.common.domain.kit import at, brief, event, make_rule, metric

ERROR_RULE = {"trigger_type": "event", "trigger_spec": {"event_type": "error"}}


def engine_with(*rules: Any) -> RuleEngine:
    engine = RuleEngine()
    for rule in rules:
        engine.upsert_rule(rule)
    return engine


def test_cost_follows_matching_rules_not_rule_count() -> None:
    rules = [make_rule(metric(metric_name=f"metric_{n}"), f"m{n}") for n in range(5000)]
    rules += [
        make_rule({"trigger_type": "event", "trigger_spec": {"event_type": f"type_{n}"}}, f"e{n}") for n in range(5000)
    ]
    engine = engine_with(*rules, make_rule(metric(), "cpu"))
    batch = [event(n, {"cpu_usage": 50 + n, "host": "a", "memory": 3}, "deploy") for n in range(100)]
    transitions = engine.on_events(batch)
    assert engine.evaluations == 100  # only the cpu rule saw the events
    assert [t.rule_id for t in transitions] == ["cpu"]


def test_candidates_by_path_head_metric_name_and_event_type() -> None:
    engine = engine_with(
        make_rule(metric(metric_name="host.cpu"), "nested"),
        make_rule(metric(), "flat"),
        make_rule(ERROR_RULE, "errors"),
    )
    engine.on_events([event(0, {"host": {"cpu": 99}})])
    assert engine.evaluations == 1
    engine.on_events([event(1, {"metric": "cpu_usage", "value": 99})])
    assert engine.evaluations == 2
    engine.on_events([event(2, {"metric": "host.cpu", "value": 99}, "error")])
    assert engine.evaluations == 4


def test_tenants_never_see_each_other() -> None:
    engine = engine_with(make_rule(metric(), "a", tenant="acme"), make_rule(metric(), "b", tenant="globex"))
    transitions = engine.on_events([event(0, {"cpu_usage": 99}, tenant="acme")])
    assert [(t.rule_id, t.tenant) for t in transitions] == [("a", "acme")]
    assert engine.evaluations == 1


def test_every_candidate_rule_in_rule_id_order() -> None:
    engine = engine_with(make_rule(metric(), "z"), make_rule(metric(threshold=90), "a"), make_rule(metric(), "m"))
    transitions = engine.on_events([event(0, {"cpu_usage": 99})])
    assert [t.rule_id for t in transitions] == ["a", "m", "z"]


def test_inactive_rules_are_held_but_not_evaluated() -> None:
    engine = engine_with(make_rule(metric(), active=False))
    assert engine.on_events([event(0, {"cpu_usage": 99})]) == []
    assert engine.evaluations == 0
    assert [r.rule_id for r in engine.rules()] == ["r1"]


def test_trigger_evaluates_one_rule_for_real_even_inactive() -> None:
    engine = engine_with(make_rule(metric(), active=False), make_rule(metric(), "other"))
    outcome = engine.trigger("r1", event(0, {"cpu_usage": 92}))
    assert (outcome.matched, outcome.state) == (True, "firing")
    assert [t.kind for t in outcome.transitions] == ["fired"]
    assert outcome.event_id == outcome.transitions[0].event_id
    again = engine.trigger("r1", event(1, {"cpu_usage": 93}))
    assert (again.state, again.event_id, again.transitions) == ("firing", outcome.event_id, [])
    assert engine.evaluations == 2
    with pytest.raises(KeyError):
        engine.trigger("missing", event(0, {}))


def test_trigger_pending_and_no_match() -> None:
    engine = engine_with(make_rule(metric(duration="5m")))
    pending = engine.trigger("r1", event(0, {"cpu_usage": 92}))
    assert (pending.matched, pending.state, pending.event_id) == (True, "pending", None)
    low = engine.trigger("r1", event(1, {"cpu_usage": 12}))
    assert (low.matched, low.state, low.event_id) == (False, "no_match", None)


def test_trigger_of_an_event_rule_takes_an_untyped_payload_as_its_type() -> None:
    rule = make_rule({**ERROR_RULE, "conditions": {"field": "severity", "op": "==", "value": "critical"}})
    engine = engine_with(rule)
    opened = engine.trigger("r1", event(0, {"severity": "critical"}))
    joined = engine.trigger("r1", event(1, {"severity": "critical"}))
    warning = engine.trigger("r1", event(2, {"severity": "warning"}))
    deploy = engine.trigger("r1", event(3, {"severity": "critical"}, "deploy"))
    assert (opened.matched, opened.state) == (True, "firing")
    assert joined.event_id == opened.event_id and [t.kind for t in joined.transitions] == ["updated"]
    assert (warning.matched, warning.event_id, deploy.matched) == (False, None, False)


def test_trigger_of_a_schedule_rule_is_a_run() -> None:
    engine = engine_with(make_rule({"trigger_type": "schedule", "trigger_spec": {"cron": "*/5 * * * *"}}))
    outcome = engine.trigger("r1", event(0, {}))
    assert (outcome.matched, outcome.state) == (True, "firing")
    assert [t.kind for t in outcome.transitions] == ["fired", "resolved"]


def test_evaluate_changes_nothing() -> None:
    rule = make_rule(metric(aggregation="avg", window="5m"))
    engine = engine_with(rule)
    engine.on_events([event(0, {"cpu_usage": 80})])
    before = json.dumps(engine.snapshot())
    look = engine.evaluate(rule, event(10, {"cpu_usage": 100}))
    assert (look.matched, look.value, look.state) == (True, 90.0, "firing")
    assert [t.kind for t in look.transitions] == ["fired"]
    assert json.dumps(engine.snapshot()) == before
    assert engine.on_events([event(10, {"cpu_usage": 100})])[0].transition_id == look.transitions[0].transition_id
    draft = make_rule(metric(threshold=95, aggregation="avg", window="5m"))
    fresh = engine.evaluate(draft, event(10, {"cpu_usage": 100}))  # another trigger: not the held series' window
    assert (fresh.matched, fresh.value) == (True, 100.0)


def test_deactivation_resolves_open_episodes_at_the_change() -> None:
    engine = engine_with(make_rule(metric(group_by=["host"])))
    engine.on_events([event(0, {"cpu_usage": 99, "host": "a"}), event(1, {"cpu_usage": 99, "host": "b"})])
    off = make_rule(metric(group_by=["host"]), active=False, version=2).model_copy(update={"updated_at": at(60)})
    assert brief(engine.upsert_rule(off)) == [
        ("resolved", "host=a", 60, "rule deactivated"),
        ("resolved", "host=b", 60, "rule deactivated"),
    ]
    assert engine.snapshot()["rules"] == {}


def test_metadata_change_keeps_the_episode_and_a_trigger_change_resolves_it() -> None:
    engine = engine_with(make_rule(metric()))
    (fired,) = engine.on_events([event(0, {"cpu_usage": 99})])
    renamed = make_rule({**metric(), "severity": "critical"}, version=2)
    assert engine.upsert_rule(renamed) == []
    (resolved,) = engine.on_events([event(10, {"cpu_usage": 1})])
    assert resolved.event_id == fired.event_id and resolved.rule_version == 1 and resolved.severity == "critical"
    engine.on_events([event(20, {"cpu_usage": 99})])
    stricter = make_rule(metric(threshold=90), version=3)
    (closed,) = engine.upsert_rule(stricter, at=at(30))
    assert (closed.kind, closed.reason, closed.at) == ("resolved", "rule changed", at(30))


def test_remove_rule_resolves_at_last_seen() -> None:
    engine = engine_with(make_rule(ERROR_RULE))
    engine.on_events([event(0, {}, "error"), event(40, {}, "error")])
    assert brief(engine.remove_rule("r1")) == [("resolved", "", 40, "rule deleted")]
    assert engine.remove_rule("r1") == [] and engine.rules() == []
    assert engine.on_events([event(50, {}, "error")]) == []


def test_snapshot_is_json_and_restore_continues() -> None:
    rules = [make_rule(metric(duration="1m", group_by=["host"])), make_rule(ERROR_RULE, "errors")]
    engine = engine_with(*rules)
    engine.on_events([event(0, {"cpu_usage": 99, "host": "a"}), event(1, {}, "error")])
    data = json.loads(json.dumps(engine.snapshot()))
    restored = RuleEngine.restore(data, rules)
    assert restored.snapshot() == data
    assert brief(restored.on_tick(at(600))) == brief(engine.on_tick(at(600)))


def test_restore_drops_series_of_rules_that_changed_what_they_match() -> None:
    engine = engine_with(make_rule(ERROR_RULE))
    engine.on_events([event(0, {}, "error")])
    data = engine.snapshot()
    changed = make_rule({"trigger_type": "event", "trigger_spec": {"event_type": "fatal"}}, version=2)
    assert RuleEngine.restore(data, [changed]).snapshot()["rules"] == {}
    assert RuleEngine.restore(data, [make_rule(ERROR_RULE, version=2)]).snapshot() == data
    with pytest.raises(ValueError):
        RuleEngine.restore({"format": 99}, [])


def test_replaying_the_same_input_reproduces_the_same_ids() -> None:
    def replay() -> list[dict[str, Any]]:
        engine = engine_with(make_rule(metric(duration="1m")), make_rule(ERROR_RULE, "errors"))
        out = engine.on_events([event(0, {"cpu_usage": 99}), event(5, {}, "error"), event(6, {}, "error")])
        out += engine.on_tick(at(3600))
        return [t.as_dict() for t in out]

    first, second = replay(), replay()
    assert first == second
    assert len({t["transition_id"] for t in first}) == len(first) == 4


def test_timer_heap_stays_bounded() -> None:
    engine = engine_with(make_rule(ERROR_RULE))
    for n in range(500):
        engine.on_events([event(n, {}, "error")])
    assert len(engine._timers) < 200
