"""Labels of alert transitions: fixed when an episode opens, the same on its resolution, in both engines."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.common.domain.evaluation.compiled.engine import CompiledEngine
from services.common.domain.evaluation.rule_engine import RuleEngine
from tests.common.domain.kit import at, event, make_rule, metric

LABELS = {"team": "sre", "host": "from-rule", "severity": "page"}
ENGINES = [RuleEngine, CompiledEngine]


def _metric_rule() -> Any:
    body = {**metric(group_by=["host", "meta.dc"]), "severity": "high", "priority": "P2", "labels": LABELS}
    return make_rule(body, "cpu")


@pytest.mark.parametrize("engine_class", ENGINES, ids=["reference", "compiled"])
def test_fired_and_resolved_carry_the_labels_of_the_episode(engine_class: type[RuleEngine]) -> None:
    engine = engine_class()
    engine.upsert_rule(_metric_rule())
    fired = engine.on_events([event(0, {"cpu_usage": 90, "host": "web-1", "meta": {"dc": "eu"}})])
    resolved = engine.on_events([event(10, {"cpu_usage": 10, "host": "web-1", "meta": {"dc": "eu"}})])
    expected = {
        "alertname": "cpu",
        "priority": "P2",
        "severity": "page",  # the rule's labels override its fields
        "team": "sre",
        "host": "web-1",  # the group key values override the rule's labels
        "meta_dc": "eu",
    }
    assert [(t.kind, dict(t.labels)) for t in fired + resolved] == [("fired", expected), ("resolved", expected)]


@pytest.mark.parametrize("engine_class", ENGINES, ids=["reference", "compiled"])
def test_labels_are_fixed_when_the_episode_opens(engine_class: type[RuleEngine]) -> None:
    """A later sample (another payload) or a label edit of the rule does not change an open episode's labels."""
    engine = engine_class()
    rule = _metric_rule()
    engine.upsert_rule(rule)
    engine.on_events([event(0, {"cpu_usage": 90, "host": "web-1", "meta": {"dc": "eu"}})])
    engine.upsert_rule(rule.model_copy(update={"labels": {"team": "db"}, "version": 2}), at(5))
    resolved = engine.on_events([event(10, {"cpu_usage": 10, "host": "web-1", "meta": {"dc": "eu"}})])
    assert [t.labels["team"] for t in resolved] == ["sre"]
    fired = engine.on_events([event(20, {"cpu_usage": 95, "host": "web-1", "meta": {"dc": "eu"}})])
    assert [t.labels["team"] for t in fired] == ["db"]  # the next episode opens with the new labels


def test_labels_survive_a_snapshot_and_restore() -> None:
    engine = RuleEngine()
    rule = _metric_rule()
    engine.upsert_rule(rule)
    engine.on_events([event(0, {"cpu_usage": 90, "host": "web-1", "meta": {"dc": "eu"}})])
    restored = CompiledEngine.restore(json.loads(json.dumps(engine.snapshot())), [rule])
    resolved = restored.on_events([event(10, {"cpu_usage": 10, "host": "web-1", "meta": {"dc": "eu"}})])
    assert [t.labels["host"] for t in resolved] == ["web-1"]


def test_event_rule_labels_from_its_group_key() -> None:
    engine = RuleEngine()
    body = {"trigger_type": "event", "trigger_spec": {"event_type": "error", "group_by": ["service"]}}
    engine.upsert_rule(make_rule({**body, "labels": {"team": "app"}}, "errors"))
    transitions = engine.on_events(
        [event(0, {"service": "api"}, "error"), event(1, {"service": "api", "extra": 1}, "error")]
    )
    assert [t.kind for t in transitions] == ["fired", "updated"]
    assert all(
        dict(t.labels)
        == {"alertname": "errors", "priority": "P3", "severity": "medium", "team": "app", "service": "api"}
        for t in transitions
    )


def test_a_schedule_run_gets_the_rule_labels_only() -> None:
    engine = RuleEngine()
    rule = make_rule({"trigger_type": "schedule", "trigger_spec": {"cron": "*/5 * * * *"}, "labels": {"job": "x"}})
    engine.upsert_rule(rule)
    outcome = engine.trigger("r1", event(0, {"host": "ignored"}))
    labels = [dict(t.labels) for t in outcome.transitions]
    assert labels == [{"alertname": "r1", "priority": "P3", "severity": "medium", "job": "x"}] * 2
