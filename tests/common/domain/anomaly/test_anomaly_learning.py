"""Anomaly baselines learn while their rule is inactive, never fire then, and are reported as disabled until ready."""

from __future__ import annotations

import json

from services.common.domain.evaluation.rule_engine import RuleEngine
from services.common.domain.evaluation.simulate import simulate
from services.common.domain.rules.model import parse_rule
from services.ingest.rule_table import RuleTable
from tests.common.domain.kit import at, event, make_rule, metric

LAB4 = {
    "trigger_type": "anomaly",
    "trigger_spec": {"value_path": "cpu_percent", "anomaly_method": "zscore", "threshold": 3.0, "min_baseline": 30},
}


def baseline(first: int, count: int) -> list:
    return [event(n, {"cpu_percent": 40 + n % 5}) for n in range(first, first + count)]


def test_an_inactive_anomaly_rule_learns_but_never_fires() -> None:
    engine = RuleEngine()
    engine.upsert_rule(make_rule(LAB4, active=False))
    assert engine.anomaly_status("r1")["reason"].startswith("learning: 0 of 30 samples")
    assert engine.on_events(baseline(0, 12)) == []
    status = engine.anomaly_status("r1")
    assert (status["active"], status["ready"], status["detection"]) == (False, False, "disabled")
    assert status["reason"] == "learning: 12 of 30 samples; anomaly detection disabled until the baseline is ready"
    assert status["keys"][""]["last"]["reason"] == "anomaly detection disabled: baseline 11 of 30 samples"
    assert engine.on_events([*baseline(12, 18), event(40, {"cpu_percent": 99})]) == []  # an outlier: still silent
    status = engine.anomaly_status("r1")
    assert status["ready"] is True and status["detection"] == "enabled"
    assert status["keys"][""]["last"]["is_anomaly"] is True  # scored, shown, not fired
    assert status["reason"] == "baseline ready: 31 samples, min_baseline 30"


def test_activation_keeps_the_learned_baseline_and_the_next_outlier_fires() -> None:
    engine = RuleEngine()
    engine.upsert_rule(make_rule(LAB4, active=False))
    engine.on_events(baseline(0, 30))
    engine.upsert_rule(make_rule(LAB4, version=2))
    (fired,) = engine.on_events([event(40, {"cpu_percent": 99})])
    assert (fired.kind, fired.rule_version) == ("fired", 2)
    assert fired.explanation[0]["is_anomaly"] is True and fired.explanation[0]["method"] == "zscore"


def test_deactivation_resolves_the_episode_and_keeps_the_baseline() -> None:
    engine = RuleEngine()
    engine.upsert_rule(make_rule(LAB4))
    engine.on_events(baseline(0, 30))
    (fired,) = engine.on_events([event(40, {"cpu_percent": 99})])
    off = make_rule(LAB4, active=False, version=2).model_copy(update={"updated_at": at(50)})
    (resolved,) = engine.upsert_rule(off)
    assert (resolved.kind, resolved.reason, resolved.event_id) == ("resolved", "rule deactivated", fired.event_id)
    status = engine.anomaly_status("r1")
    assert status["ready"] is True and status["keys"][""]["baseline"]["samples"] == 31
    assert engine.on_tick(at(10_000)) == [] and engine.on_events([event(60, {"cpu_percent": 99})]) == []
    # A change of what the rule matches starts the baseline over.
    changed = {**LAB4, "trigger_spec": {**LAB4["trigger_spec"], "threshold": 4.0}}
    engine.upsert_rule(make_rule(changed, active=False, version=3))
    assert engine.anomaly_status("r1")["keys"] == {}


def test_learning_survives_a_snapshot() -> None:
    rule = make_rule(LAB4, active=False)
    engine = RuleEngine()
    engine.upsert_rule(rule)
    engine.on_events(baseline(0, 20))
    restored = RuleEngine.restore(json.loads(json.dumps(engine.snapshot())), [rule])
    assert restored.anomaly_status("r1") == engine.anomaly_status("r1")


def test_an_inactive_metric_rule_still_sees_nothing() -> None:
    engine = RuleEngine()
    engine.upsert_rule(make_rule(metric(), active=False))
    engine.on_events([event(0, {"cpu_usage": 99})])
    assert engine.evaluations == 0 and engine.snapshot()["rules"] == {}


def test_the_router_routes_events_to_inactive_anomaly_rules_only() -> None:
    table = RuleTable()
    table.upsert(make_rule(LAB4, "anomaly", active=False))
    table.upsert(make_rule(metric("cpu_percent"), "metric", active=False))
    assert table.candidates(event(0, {"cpu_percent": 50})) == {"anomaly"}


def test_simulate_reports_detection_disabled_with_the_reason() -> None:
    spec = parse_rule({"name": "lab4", **LAB4})
    result = simulate(spec, [{"cpu_percent": 40}, {"cpu_percent": 99}], at(0))
    assert result.matched is False and result.state == "no_match"
    assert result.errors == ["trigger_spec: anomaly detection disabled: baseline 1 of 30 samples"]
    assert result.conditions[0]["is_anomaly"] is None


def test_the_reason_names_the_least_advanced_group_key() -> None:
    engine = RuleEngine()
    grouped = {**LAB4, "trigger_spec": {**LAB4["trigger_spec"], "group_by": ["host"], "min_baseline": 3}}
    engine.upsert_rule(make_rule(grouped, active=False))
    engine.on_events([event(n, {"cpu_percent": 40 + n, "host": "a"}) for n in range(4)])
    engine.on_events([event(10, {"cpu_percent": 40, "host": "b"})])
    status = engine.anomaly_status("r1")
    assert status["reason"] == (
        "learning: 1 of 3 samples (1 of 2 group keys ready); anomaly detection disabled until the baseline is ready"
    )
    assert [status["keys"][k]["baseline"]["ready"] for k in ("host=a", "host=b")] == [True, False]
    engine.on_events([event(11 + n, {"cpu_percent": 40, "host": "b"}) for n in range(2)])
    ready = engine.anomaly_status("r1")["reason"]
    assert ready == "baseline ready: 3 samples, min_baseline 3 (2 of 2 group keys ready)"
