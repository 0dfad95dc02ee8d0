"""parse_rule: defaults, every trigger type, and errors that name the exact field path."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.domain.rules.errors import RuleValidationError
from services.common.domain.rules.model import Rule, RuleSpec, parse_rule
from services.common.domain.rules.triggers import EventTrigger, MetricTrigger, ScheduleTrigger

METRIC = {"metric_name": "cpu_usage", "operator": ">", "threshold": 85, "duration": "5m"}
EVENT = {"event_type": "error"}
SCHEDULE = {"cron": "*/5 * * * *"}
ANOMALY = {"value_path": "cpu_percent", "anomaly_method": "zscore", "threshold": 3.0}


def body(trigger_type: str = "metric", trigger: Any = None, **extra: Any) -> dict[str, Any]:
    specs = {"metric": METRIC, "event": EVENT, "schedule": SCHEDULE, "anomaly": ANOMALY}
    return {
        "name": "r",
        "trigger_type": trigger_type,
        "trigger_spec": specs.get(trigger_type, {}) if trigger is None else trigger,
        **extra,
    }


def leaf(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


def error_paths(data: Any) -> list[str]:
    with pytest.raises(RuleValidationError) as info:
        parse_rule(data)
    return [e.path for e in info.value.errors]


def test_defaults() -> None:
    spec = parse_rule(body())
    canonical = spec.canonical()
    assert (spec.active, spec.priority, spec.severity) == (False, "P3", "medium")
    assert (spec.conditions, spec.action_spec, spec.suppression) == (None, [], None)
    assert (spec.owner, spec.backup_owner, spec.description) == (None, None, None)
    assert canonical["trigger_spec"] == METRIC
    assert canonical["conditions"] is None and canonical["action_spec"] == []


CANONICAL_TRIGGERS = [
    ("metric", METRIC, METRIC),
    ("metric", {**METRIC, "threshold": "85"}, METRIC),  # forms send strings
    ("metric", {**METRIC, "threshold": " 85.5 "}, {**METRIC, "threshold": 85.5}),
    (
        "metric",
        {**METRIC, "aggregation": "p95", "window": "5m", "group_by": ["host"], "recover_threshold": "80"},
        {**METRIC, "aggregation": "p95", "window": "5m", "group_by": ["host"], "recover_threshold": 80},
    ),
    ("event", EVENT, {**EVENT, "resolve_after": "5m", "notify_resolved": False}),
    (
        "event",
        {**EVENT, "group_by": ["service"], "resolve_after": "10m", "notify_resolved": True},
        {**EVENT, "group_by": ["service"], "resolve_after": "10m", "notify_resolved": True},
    ),
    ("schedule", SCHEDULE, {**SCHEDULE, "timezone": "UTC", "misfire": "catch_up"}),
    (
        "schedule",
        {"cron": "0 9 * * 1-5", "timezone": "Asia/Seoul", "misfire": "skip"},
        {"cron": "0 9 * * 1-5", "timezone": "Asia/Seoul", "misfire": "skip"},
    ),
    ("anomaly", ANOMALY, {**ANOMALY, "min_baseline": 30}),
    (
        "anomaly",
        {**ANOMALY, "anomaly_method": "iqr", "iqr_multiplier": "1.5", "min_baseline": 50, "group_by": ["host"]},
        {**ANOMALY, "anomaly_method": "iqr", "iqr_multiplier": 1.5, "min_baseline": 50, "group_by": ["host"]},
    ),
    (
        "anomaly",
        {**ANOMALY, "anomaly_method": "ema", "ema_alpha": 0.3},
        {**ANOMALY, "anomaly_method": "ema", "ema_alpha": 0.3, "min_baseline": 30},
    ),
]


@pytest.mark.parametrize(("trigger_type", "trigger", "canonical"), CANONICAL_TRIGGERS)
def test_trigger_types(trigger_type: str, trigger: dict[str, Any], canonical: dict[str, Any]) -> None:
    spec = parse_rule(body(trigger_type, trigger))
    assert spec.canonical()["trigger_spec"] == canonical
    assert parse_rule(spec.canonical()) == spec


BAD = [
    # (body, the exact error paths)
    (body(trigger={**METRIC, "threshold": "abc"}), ["trigger_spec.threshold"]),
    (body(trigger={**METRIC, "threshold": True}), ["trigger_spec.threshold"]),
    (body(trigger={**METRIC, "threshold": "nan"}), ["trigger_spec.threshold"]),
    (body(trigger={**METRIC, "thresold": 85}), ["trigger_spec.thresold"]),
    (body(trigger={**METRIC, "operator": "=>"}), ["trigger_spec.operator"]),
    (body(trigger={**METRIC, "duration": "5 minutes"}), ["trigger_spec.duration"]),
    (body(trigger={**METRIC, "window": "5m"}), ["trigger_spec.aggregation"]),
    (body(trigger={**METRIC, "aggregation": "avg"}), ["trigger_spec.window"]),
    (body(trigger={**METRIC, "aggregation": "median", "window": "5m"}), ["trigger_spec.aggregation"]),
    (body(trigger={**METRIC, "metric_name": "cpu usage"}), ["trigger_spec.metric_name"]),
    (body(trigger={**METRIC, "group_by": []}), ["trigger_spec.group_by"]),
    (body(trigger={"operator": ">", "threshold": 1}), ["trigger_spec.metric_name"]),
    (body(trigger=[]), ["trigger_spec"]),
    (body("event", {"event_type": ""}), ["trigger_spec.event_type"]),
    (body("event", {**EVENT, "cron": "* * * * *"}), ["trigger_spec.cron"]),
    (body("schedule", {"cron": "*/5 * * *"}), ["trigger_spec.cron"]),
    (body("schedule", {"cron": "61 * * * *"}), ["trigger_spec.cron"]),
    (body("schedule", {"cron": "0 0 30 2 *"}), ["trigger_spec.cron"]),  # valid syntax, a day that never comes
    (body("schedule", {"cron": "0 0 31 4 *"}), ["trigger_spec.cron"]),
    (body("schedule", {"cron": "* * 31 2,4,6,9,11 *"}), ["trigger_spec.cron"]),
    (body("schedule", {**SCHEDULE, "timezone": "Mars/Olympus"}), ["trigger_spec.timezone"]),
    (body("schedule", {**SCHEDULE, "misfire": "never"}), ["trigger_spec.misfire"]),
    (body("anomaly", {**ANOMALY, "anomaly_method": "magic"}), ["trigger_spec.anomaly_method"]),
    (body("anomaly", {**ANOMALY, "threshold": 0}), ["trigger_spec.threshold"]),
    (body("anomaly", {**ANOMALY, "min_baseline": 1}), ["trigger_spec.min_baseline"]),
    (body("anomaly", {**ANOMALY, "ema_alpha": 1.5}), ["trigger_spec.ema_alpha"]),
    (body("timer"), ["trigger_type"]),
    ({"name": "r", "trigger_type": "metric"}, ["trigger_spec"]),
    ({"name": "r", "trigger_spec": METRIC}, ["trigger_type"]),
    ({"trigger_type": "metric", "trigger_spec": METRIC}, ["name"]),
    (body(name=""), ["name"]),
    (body(priority="P0", severity="fatal"), ["priority", "severity"]),
    (body(active="maybe"), ["active"]),
    (body(colour="red"), ["colour"]),
    (body(trigger={**METRIC, "threshold": "x"}, priority="P9"), ["trigger_spec.threshold", "priority"]),
    (
        body(conditions={"logic": "AND", "conditions": [leaf("a", "==", 1), leaf("env", "in", "prod")]}),
        ["conditions.conditions.1.value"],
    ),
    (body(conditions=leaf("cpu", ">", [1])), ["conditions.value"]),
    (body(conditions=leaf("cpu", ">")), ["conditions.value"]),
    (body(conditions=leaf("msg", "regex", "(")), ["conditions.value"]),
    (body(conditions=leaf("a", "exists", "yes")), ["conditions.value"]),
    (body(conditions=leaf("a", "like", "x")), ["conditions.op"]),
    (body(conditions=leaf("a..b", "==", 1)), ["conditions.field"]),
    (body(conditions={"field": "a", "op": "==", "value": 1, "extra": 2}), ["conditions.extra"]),
    (
        body(conditions={"logic": "NOT", "conditions": [leaf("a", "==", 1), leaf("b", "==", 2)]}),
        ["conditions.conditions"],
    ),
    (body(conditions={"logic": "AND", "conditions": []}), ["conditions.conditions"]),
    (body(conditions={"logic": "XOR", "conditions": [leaf("a", "==", 1)]}), ["conditions.logic"]),
    (body(conditions={"logic": "AND", "conditions": leaf("a", "==", 1)}), ["conditions.conditions"]),
    (
        body(conditions={"logic": "OR", "conditions": [{"logic": "AND", "conditions": [leaf("a", "~", 1)]}]}),
        ["conditions.conditions.0.conditions.0.op"],
    ),
    # unknown keys that look like the union's tags or class names are still named
    (body(trigger={**METRIC, "Threshold": 85}), ["trigger_spec.Threshold"]),
    (body(Owner="x"), ["Owner"]),
    (body(conditions=leaf("a", "==", 1) | {"leaf": 1}), ["conditions.leaf"]),
    (body(conditions={"logic": "AND", "conditions": [leaf("a", "==", 1)], "group": 1}), ["conditions.group"]),
    (
        body(conditions={"logic": "AND", "conditions": [leaf("a", "==", 1) | {"Field": "b"}]}),
        ["conditions.conditions.0.Field"],
    ),
    (body(suppression={"group": "x"}), ["suppression.group"]),
    (body(conditions={"logic": "AND", "conditions": [5]}), ["conditions.conditions.0"]),
    (body(action_spec=[{"channel": "slack"}]), ["action_spec.0.type"]),
    (body(action_spec={"type": "notify"}), ["action_spec"]),
    (body(suppression={"cooldown": "soon"}), ["suppression.cooldown"]),
    (body(suppression={"storm_budget": 0}), ["suppression.storm_budget"]),
    ("not an object", [""]),
]


@pytest.mark.parametrize(("data", "paths"), BAD)
def test_errors_name_the_field(data: Any, paths: list[str]) -> None:
    assert error_paths(data) == paths


@pytest.mark.parametrize("cron", ["0 0 30 2 *", "0 0 31 4 *"])
def test_a_cron_that_never_fires_says_so(cron: str) -> None:
    with pytest.raises(RuleValidationError) as caught:
        parse_rule(body("schedule", {"cron": cron}))
    [error] = caught.value.errors
    assert error.path == "trigger_spec.cron" and "never fires" in error.msg, error


# Rare is not never: a leap day, the 5th Monday of a February (2016, 2044, ...), a day-of-month OR a weekday.
@pytest.mark.parametrize("cron", ["0 0 29 2 *", "0 0 * 2 1#5", "0 0 30 2 1", "0 0 L 2 *"])
def test_a_rare_cron_is_accepted(cron: str) -> None:
    assert parse_rule(body("schedule", {"cron": cron})).trigger_spec.cron == cron  # type: ignore[union-attr]


def test_error_messages_read_well() -> None:
    with pytest.raises(RuleValidationError) as info:
        parse_rule(body(trigger={**METRIC, "threshold": "abc", "window": "5m"}))
    assert [e.as_dict() for e in info.value.errors] == [
        {"loc": ["trigger_spec", "threshold"], "msg": "expected a number, got 'abc'"},
    ]
    assert str(info.value) == "trigger_spec.threshold: expected a number, got 'abc'"


def test_messages_do_not_name_internal_classes() -> None:
    with pytest.raises(RuleValidationError) as info:
        parse_rule(body(conditions={"logic": "AND", "conditions": [5]}))
    assert str(info.value) == "conditions.conditions.0: Input should be an object"


def test_server_fields_are_ignored() -> None:
    data = body(rule_id="x", tenant="t", version=3, created_at="2024-01-01T00:00:00Z")
    assert parse_rule(data) == parse_rule(body())


ROUND_TRIPS = [
    body(),
    body(
        "event",
        description="Lab 2",
        active=True,
        owner="sre",
        backup_owner="ops",
        priority="P1",
        severity="critical",
        conditions={
            "logic": "AND",
            "conditions": [leaf("severity", "==", "critical"), leaf("service", "==", "api-gateway")],
        },
        action_spec=[
            {"type": "webhook", "channel": "pagerduty", "headers": {"X-A": "1"}, "extra": None},
            {"type": "notify", "channel": "slack-ops", "message": "{{ rule_name }}"},
        ],
        suppression={"cooldown": "10m", "group_by": ["host"], "storm_budget": 5, "storm_window": "1m"},
    ),
    body(
        conditions={
            "logic": "NOT",
            "conditions": [{"logic": "OR", "conditions": [leaf("a", "exists"), leaf("b", "in", [1, "x", None])]}],
        }
    ),
    body("schedule"),
    body("anomaly", {**ANOMALY, "window": "1h", "group_by": ["host", "dc"]}),
]


@pytest.mark.parametrize("data", ROUND_TRIPS)
def test_canonical_round_trip(data: dict[str, Any]) -> None:
    spec = parse_rule(data)
    assert parse_rule(spec.canonical()) == spec
    assert parse_rule(spec.canonical()).canonical() == spec.canonical()


def test_trigger_spec_must_fit_trigger_type_even_without_parse_rule() -> None:
    with pytest.raises(ValueError, match="is not a metric trigger"):
        RuleSpec(name="r", trigger_type="metric", trigger_spec=EventTrigger(event_type="e"))


def test_stored_rule_canonical_and_spec() -> None:
    at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    trigger = MetricTrigger(metric_name="cpu", operator=">", threshold=85)
    rule = Rule(
        name="r", trigger_type="metric", trigger_spec=trigger, rule_id="id1", tenant="default", version=2,
        created_at=at, updated_at=at,
    )  # fmt: skip
    canonical = rule.canonical()
    assert (canonical["rule_id"], canonical["version"], canonical["created_at"]) == ("id1", 2, "2024-05-01T12:00:00Z")
    assert rule.spec == parse_rule(canonical)


def test_a_stored_cron_that_never_fires_still_loads() -> None:
    """Rules saved before the check are read back (the scheduler finds no next run for them)."""
    stored = parse_rule(body("schedule", {"cron": "0 0 30 2 *"}), stored=True)
    assert stored.trigger_spec.cron == "0 0 30 2 *"  # type: ignore[union-attr]
    assert ScheduleTrigger.model_validate({"cron": "0 0 31 4 *"}).cron == "0 0 31 4 *"
