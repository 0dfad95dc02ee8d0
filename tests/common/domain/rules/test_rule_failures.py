"""A rule that raises on an event is isolated: reported with the event, the other rules still judge it."""

from __future__ import annotations

from typing import Any

from services.common.domain.evaluation.rule_engine import RuleEngine
from tests.common.domain.kit import event, make_rule, metric

# A real way for a rule to raise: a multiscale anomaly rule fed two samples near the float limit overflows.
MULTISCALE = {
    "trigger_type": "anomaly",
    "trigger_spec": {"value_path": "cpu_usage", "anomaly_method": "multiscale", "threshold": 3, "min_baseline": 3},
}


def engine_with(*rules: Any) -> RuleEngine:
    engine = RuleEngine()
    for rule in rules:
        engine.upsert_rule(rule)
    return engine


def warm(engine: RuleEngine) -> None:
    engine.on_events([event(n, {"cpu_usage": 50 + n}, event_id=f"warm-{n}") for n in range(6)])
    assert engine.take_failures() == []


def test_a_raising_rule_is_reported_and_the_other_rules_still_fire_on_the_event() -> None:
    engine = engine_with(make_rule(MULTISCALE, "ms"), make_rule(metric(), "plain"))
    warm(engine)
    engine.on_events([event(7, {"cpu_usage": 1e308}, event_id="huge-1")])
    transitions = engine.on_events([event(8, {"cpu_usage": 1e308, "host": "a"}, event_id="huge-2")])
    failures = engine.take_failures()
    assert [(f.rule_id, f.tenant, f.event_id) for f in failures] == [("ms", "default", "huge-2")]
    assert failures[0].error.startswith("OverflowError: ")
    assert failures[0].describe()["event"]["payload"] == {"cpu_usage": 1e308, "host": "a"}
    assert engine.take_failures() == []  # drained
    # The raise left `ms` half-updated: its episode resolves and its series starts afresh (what a restart sees).
    assert [(t.rule_id, t.kind, t.reason) for t in transitions] == [
        ("ms", "resolved", "rule error: its state was reset")
    ]
    # `plain` fired on huge-1 and judged huge-2 too (still open: no transition).
    assert engine.evaluations == 2 * 6 + 2 + 2


def test_a_rule_that_raised_still_fires_on_later_good_events() -> None:
    engine = engine_with(make_rule(MULTISCALE, "ms"), make_rule(metric(), "plain"))
    warm(engine)
    engine.on_events([event(7, {"cpu_usage": 1e308}), event(8, {"cpu_usage": 1e308})])
    assert len(engine.take_failures()) == 1
    engine.on_events([event(10 + n, {"cpu_usage": 50 + n % 3}) for n in range(8)])
    after = engine.on_events([event(30, {"cpu_usage": 80}, event_id="good")])
    assert engine.take_failures() == []
    assert [(t.rule_id, t.kind) for t in after] == [("ms", "fired")]


def test_the_other_rules_of_a_batch_and_the_state_stay_consistent() -> None:
    engine = engine_with(make_rule(MULTISCALE, "ms"), make_rule(metric(), "plain"))
    warm(engine)
    batch = [event(7, {"cpu_usage": 1e308}), event(8, {"cpu_usage": 1e308}), event(9, {"cpu_usage": 10})]
    transitions = engine.on_events(batch)
    kinds = [(t.rule_id, t.kind) for t in transitions]
    assert kinds == [("ms", "fired"), ("plain", "fired"), ("ms", "resolved"), ("plain", "resolved")]
    assert transitions[2].reason == "rule error: its state was reset"
    assert [f.rule_id for f in engine.take_failures()] == ["ms"]
    restored = RuleEngine.restore(engine.snapshot(), engine.rules())
    assert restored.snapshot() == engine.snapshot()


def test_a_failure_does_not_lose_the_timers_due_before_the_judgement() -> None:
    rule = make_rule({**MULTISCALE, "trigger_spec": {**MULTISCALE["trigger_spec"], "resolve_after": "1m"}}, "ms")
    engine = engine_with(rule)
    warm(engine)
    assert [t.kind for t in engine.on_events([event(7, {"cpu_usage": 1e308})])] == ["fired"]
    # resolve_after passes before the next (failing) sample: the resolution still comes out.
    late = engine.on_events([event(600, {"cpu_usage": 1e308})])
    assert [f.rule_id for f in engine.take_failures()] == ["ms"]
    assert [(t.kind, t.reason) for t in late] == [("resolved", "resolve_after 1m without samples")]
