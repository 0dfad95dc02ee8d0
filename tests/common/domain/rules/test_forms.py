"""Form bodies: conversion to the canonical rule, preview, warnings, and preview == stored."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.domain.rules.errors import RuleValidationError
from services.common.domain.rules.forms import form_to_body, preview
from services.common.domain.rules.model import parse_rule
from tests.support.labs import LAB5_CONDITIONS

LAB1 = {
    "name": "cpu_high_alert",
    "description": "CPU > 85 for 5m",
    "active": "off",
    "owner": "",
    "backup_owner": "",
    "priority": "P2",
    "severity": "high",
    "trigger_type": "metric",
    "trigger": {
        "metric_name": "cpu_usage",
        "operator": ">",
        "threshold": "85",
        "duration": "5m",
        "aggregation": "",
        "window": "",
        "group_by": "",
    },
    "logic": "AND",
    "conditions": [{"field": "", "op": "==", "value": ""}],
    "actions": [
        {"type": "notify", "channel": "slack-ops", "message": "CPU threshold exceeded"},
        {"type": "webhook", "channel": "ops-webhook", "message": ""},
        {"type": "", "channel": "", "message": ""},
    ],
}
LAB2 = {
    "name": "critical_error_event",
    "active": True,
    "owner": "sre",
    "backup_owner": "ops",
    "priority": "P1",
    "severity": "critical",
    "trigger_type": "event",
    "trigger": {"event_type": "error", "group_by": "service, host", "notify_resolved": "true"},
    "logic": "AND",
    "conditions": [
        {"field": "severity", "op": "==", "value": "critical"},
        {"field": "service", "op": "==", "value": "api-gateway"},
    ],
    "actions": [{"type": "webhook", "channel": "pagerduty"}, {"type": "notify", "channel": "slack-ops"}],
}
LAB3 = {
    "name": "health_check",
    "trigger_type": "schedule",
    "trigger": {"cron": "*/5 * * * *", "timezone": "", "misfire": ""},
    "conditions": [],
    "actions": [{"type": "api_call", "channel": "status-api"}],
}
LAB4 = {
    "name": "latency_anomaly",
    "trigger_type": "anomaly",
    "trigger": {"value_path": "cpu_percent", "anomaly_method": "zscore", "threshold": "3.0", "min_baseline": "20"},
    "actions": [{"type": "notify", "channel": "slack-ops"}],
}
LAB5 = {
    "name": "composite",
    "trigger_type": "metric",
    "trigger": {"metric_name": "cpu_percent", "operator": ">", "threshold": 80, "aggregation": "avg", "window": "5m"},
    "logic": "OR",
    "conditions": [
        {
            "logic": "and",
            "conditions": [{"field": "cpu", "op": ">", "value": "80"}, {"field": "memory", "op": ">", "value": "70"}],
        },
        {"field": "disk", "op": ">", "value": "90"},
    ],
    "actions": [{"type": "notify", "channel": "slack-ops"}],
}
LAB8 = {
    "name": "form_rule",
    "description": "made in the form",
    "active": "on",
    "owner": "sre",
    "backup_owner": "",
    "priority": "P3",
    "severity": "medium",
    "trigger_type": "metric",
    "trigger": {
        "metric_name": "mem.used_pct",
        "operator": ">=",
        "threshold": "90.5",
        "duration": "2m",
        "group_by": "host",
    },
    "logic": "NOT",
    "conditions": [{"field": "env", "op": "in", "value": "dev, test"}],
    "actions": [{"type": "notify", "channel": "email-ops", "message": "{{ rule_name }}: {{ payload.host }}"}],
}
ESCALATION = {
    "name": "escalation",
    "priority": "P1",
    "owner": "sre",
    "backup_owner": "ops",
    "trigger_type": "event",
    "trigger": {"event_type": "cep.notification.failed"},
    "conditions": [{"field": "retry", "op": ">", "value": "3"}],
    "actions": [{"type": "notify", "channel": "pager"}],
}
FORMS = [LAB1, LAB2, LAB3, LAB4, LAB5, LAB8, ESCALATION]


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f["name"])
def test_preview_and_stored_rule_agree(form: dict[str, Any]) -> None:
    """The contract: POST /cep/rules/form stores what POST /cep/rules/preview showed."""
    shown = preview(form)
    assert shown.errors == []
    stored = parse_rule(form_to_body(form)).canonical()
    assert shown.rule is not None
    for key in ("trigger_type", "trigger_spec", "conditions", "action_spec"):
        assert shown.rule[key] == stored[key]
    assert parse_rule(shown.rule).canonical() == shown.rule  # the preview is itself a valid create body


def test_lab1_form() -> None:
    result = preview(LAB1)
    assert result.as_dict() == {
        "rule": {
            "name": "cpu_high_alert",
            "description": "CPU > 85 for 5m",
            "active": False,
            "owner": None,
            "backup_owner": None,
            "priority": "P2",
            "severity": "high",
            "trigger_type": "metric",
            "trigger_spec": {"metric_name": "cpu_usage", "operator": ">", "threshold": 85, "duration": "5m"},
            "conditions": None,
            "action_spec": [
                {"type": "notify", "channel": "slack-ops", "message": "CPU threshold exceeded"},
                {"type": "webhook", "channel": "ops-webhook"},
            ],
            "suppression": None,
            "labels": {},
            "annotations": {},
        },
        "summary": "cpu_usage > 85 for 5m",
        "warnings": [],
        "errors": [],
    }


CONVERSIONS = [
    # (form, key of the body, expected value)
    (LAB2, "active", True),
    (LAB2, "trigger_spec", {"event_type": "error", "group_by": ["service", "host"], "notify_resolved": True}),
    (LAB3, "conditions", None),
    (LAB3, "trigger_spec", {"cron": "*/5 * * * *"}),
    (
        LAB4,
        "trigger_spec",
        {"value_path": "cpu_percent", "anomaly_method": "zscore", "threshold": "3.0", "min_baseline": 20},
    ),
    (LAB5, "conditions", LAB5_CONDITIONS),
    (LAB8, "active", True),
    (LAB8, "conditions", {"logic": "NOT", "conditions": [{"field": "env", "op": "in", "value": ["dev", "test"]}]}),
    ({"active": "false"}, "active", False),
    ({"active": "1"}, "active", True),
    ({"active": "no"}, "active", False),
    (
        {"conditions": [{"field": "code", "op": "in", "value": "500, 502,"}]},
        "conditions",
        {"logic": "AND", "conditions": [{"field": "code", "op": "in", "value": [500, 502]}]},
    ),
    (
        {"conditions": [{"field": "code", "op": "in", "value": '["500", 1]'}]},
        "conditions",
        {"logic": "AND", "conditions": [{"field": "code", "op": "in", "value": ["500", 1]}]},
    ),
    (
        {"conditions": [{"field": "a", "op": "==", "value": "85"}]},
        "conditions",
        {"logic": "AND", "conditions": [{"field": "a", "op": "==", "value": "85"}]},
    ),
    (
        {"conditions": [{"field": "a", "op": "<", "value": "-1.5e2"}]},
        "conditions",
        {"logic": "AND", "conditions": [{"field": "a", "op": "<", "value": -150.0}]},
    ),
    (
        {"conditions": [{"field": "a", "op": ">", "value": "b"}]},
        "conditions",
        {"logic": "AND", "conditions": [{"field": "a", "op": ">", "value": "b"}]},
    ),
    (
        {"conditions": [{"field": "a", "op": "exists", "value": "false"}]},
        "conditions",
        {"logic": "AND", "conditions": [{"field": "a", "op": "exists", "value": False}]},
    ),
    (
        {"conditions": [{"field": "a", "op": "exists", "value": ""}]},
        "conditions",
        {"logic": "AND", "conditions": [{"field": "a", "op": "exists"}]},
    ),
    ({"conditions": [{"logic": "OR", "conditions": [{"field": "", "value": ""}]}]}, "conditions", None),
    ({"conditions": {"field": "a", "op": ">", "value": "1"}}, "conditions", {"field": "a", "op": ">", "value": 1}),
    (
        {"conditions": [{"logic": "", "conditions": [{"field": "a", "op": "exists"}]}]},
        "conditions",
        {"logic": "AND", "conditions": [{"logic": "AND", "conditions": [{"field": "a", "op": "exists"}]}]},
    ),
    (
        {"logic": "", "conditions": [{"field": "a", "op": "exists"}]},
        "conditions",
        {"logic": "AND", "conditions": [{"field": "a", "op": "exists"}]},
    ),
    (
        {"trigger": {"group_by": "host,, dc ", "min_baseline": "30.0"}},
        "trigger_spec",
        {"group_by": ["host", "dc"], "min_baseline": 30},
    ),
    (
        {"suppression": {"cooldown": "10m", "storm_budget": "5", "group_wait": ""}},
        "suppression",
        {"cooldown": "10m", "storm_budget": 5},
    ),
    ({"description": "", "owner": "  "}, "description", "<absent>"),
    ({"actions": []}, "action_spec", []),
]


@pytest.mark.parametrize(("form", "key", "value"), CONVERSIONS)
def test_form_to_body(form: dict[str, Any], key: str, value: Any) -> None:
    assert form_to_body(form).get(key, "<absent>") == value


def test_unknown_form_keys_are_errors() -> None:
    with pytest.raises(RuleValidationError) as info:
        form_to_body({**LAB1, "trigger_spec": {}, "colour": "red"})
    assert [e.path for e in info.value.errors] == ["trigger_spec", "colour"]
    with pytest.raises(RuleValidationError):
        form_to_body(["not", "an", "object"])  # type: ignore[arg-type]


PREVIEW_ERRORS = [
    ({**LAB1, "trigger": {**LAB1["trigger"], "threshold": "abc"}}, ["trigger_spec.threshold"]),
    ({**LAB1, "trigger": {**LAB1["trigger"], "thresold": "85"}}, ["trigger_spec.thresold"]),
    ({**LAB1, "trigger": {**LAB1["trigger"], "window": "5m"}}, ["trigger_spec.aggregation"]),
    ({**LAB1, "name": ""}, ["name"]),
    ({**LAB1, "trigger_type": ""}, ["trigger_type"]),
    ({**LAB1, "colour": "red"}, ["colour"]),
    (
        {**LAB2, "conditions": [*LAB2["conditions"], {"field": "x", "op": "in", "value": "[1,"}]},
        ["conditions.conditions.2.value"],
    ),
    (
        {**LAB2, "conditions": [*LAB2["conditions"], {"field": "x", "op": "", "value": "1"}]},
        ["conditions.conditions.2.op"],
    ),
    ({**LAB2, "logic": "NOT"}, ["conditions.conditions"]),
    ({**LAB4, "trigger": {**LAB4["trigger"], "min_baseline": "lots"}}, ["trigger_spec.min_baseline"]),
    ({**LAB2, "active": "perhaps"}, ["active"]),
]


@pytest.mark.parametrize(("form", "paths"), PREVIEW_ERRORS)
def test_preview_errors_use_canonical_paths(form: dict[str, Any], paths: list[str]) -> None:
    result = preview(form)
    assert [e.path for e in result.errors] == paths


def test_preview_of_an_unknown_key_still_shows_the_rest() -> None:
    result = preview({**LAB1, "colour": "red"})
    assert result.rule is not None and result.summary == "cpu_usage > 85 for 5m"
    assert result.as_dict()["errors"] == [{"loc": ["colour"], "msg": "unknown form field"}]


def test_invalid_preview_has_no_rule() -> None:
    result = preview({**LAB1, "trigger_type": "timer"})
    assert (result.rule, result.summary, result.valid) == (None, "", False)


def minimal(trigger_type: str, trigger: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "r",
        "trigger_type": trigger_type,
        "trigger": trigger,
        "actions": [{"type": "notify", "channel": "c"}],
        **extra,
    }


METRIC = {"metric_name": "cpu", "operator": ">", "threshold": 85}
ANOMALY = {"value_path": "cpu", "anomaly_method": "zscore", "threshold": 3}
WARNINGS = [
    (minimal("metric", METRIC), []),
    (minimal("metric", METRIC, actions=[]), ["no actions: the rule will fire but notify nobody"]),
    (
        minimal("metric", METRIC, actions=[{"type": "webhook"}]),
        ["action_spec.0.channel: a 'webhook' action without a channel delivers nowhere"],
    ),
    (minimal("metric", METRIC, actions=[{"type": "webhook", "url": "https://example.test/hook"}]), []),
    (minimal("metric", METRIC, actions=[{"type": "log"}]), []),
    (
        minimal("metric", METRIC, actions=[{"type": "notify", "channel": "c", "message": "{% if %}"}]),
        [
            "action_spec.0.message: template error: syntax error at line 1: "
            "Expected an expression, got 'end of statement block'"
        ],
    ),
    (
        minimal("metric", METRIC, priority="P1"),
        [
            "owner: a P1 rule needs an owner and a backup owner (team rule 3)",
            "backup_owner: a P1 rule needs an owner and a backup owner (team rule 3)",
        ],
    ),
    (
        minimal("metric", METRIC, priority="P1", owner="sre"),
        ["backup_owner: a P1 rule needs an owner and a backup owner (team rule 3)"],
    ),
    (
        minimal("metric", {**METRIC, "aggregation": "avg", "window": "5m", "duration": "1m"}),
        ["trigger_spec.duration: 1m is shorter than the 5m window: the alert can fire on a partly filled window"],
    ),
    (minimal("metric", {**METRIC, "aggregation": "avg", "window": "5m", "duration": "5m"}), []),
    (
        minimal("metric", {**METRIC, "recover_threshold": 90}),
        [
            "trigger_spec.recover_threshold: 90 does not leave the firing range '> 85': "
            "the alert cannot resolve by value"
        ],
    ),
    (minimal("metric", {**METRIC, "recover_threshold": 80}), []),
    (
        minimal("anomaly", {**ANOMALY, "min_baseline": 5}),
        ["trigger_spec.min_baseline: 5 samples is a thin baseline (below 10): expect false positives"],
    ),
    (minimal("anomaly", {**ANOMALY, "min_baseline": 10}), []),
    (
        minimal("event", {"event_type": "cep.typo"}),
        ["trigger_spec.event_type: 'cep.typo' is not an internal event type; it never occurs"],
    ),
    (minimal("event", {"event_type": "cep.ack.sla_breached"}), []),
    (
        minimal("event", {"event_type": "error"}, conditions=[{"field": "severity", "op": "=="}]),
        ["conditions.conditions.0.value: 'severity == null' compares with null; was the value left empty?"],
    ),
    (
        minimal("event", {"event_type": "error"}, suppression={"storm_budget": 5}),
        [],
    ),
    (
        minimal("event", {"event_type": "error"}, suppression={"repeat_interval": "4h"}),
        [
            "suppression: group_interval and repeat_interval apply to grouped notifications; "
            "set group_by or group_wait to group them"
        ],
    ),
]


@pytest.mark.parametrize(("form", "warnings"), WARNINGS)
def test_preview_warnings(form: dict[str, Any], warnings: list[str]) -> None:
    result = preview(form)
    assert result.errors == []
    assert result.warnings == warnings


# ---- property: for forms with arbitrary string-typed numbers and blank inputs, preview == stored ----


def _stringly(value: Any) -> st.SearchStrategy[Any]:
    """A value as a UI may serialise it: as is, or as a string."""
    if isinstance(value, bool):
        return st.sampled_from([value, str(value).lower(), "on" if value else "off"])
    if isinstance(value, int | float):
        return st.sampled_from([value, str(value)])
    return st.just(value)


@st.composite
def forms(draw: st.DrawFn) -> dict[str, Any]:
    base = draw(st.sampled_from(FORMS))
    form = {key: draw(_stringly(value)) for key, value in base.items()}
    form["trigger"] = {key: draw(_stringly(value)) for key, value in base["trigger"].items()}
    for key in draw(st.sets(st.sampled_from(["description", "owner", "backup_owner", "severity"]))):
        form.setdefault(key, "")  # untouched inputs
    if draw(st.booleans()):
        form["conditions"] = [*form.get("conditions", []), {"field": "", "op": "", "value": ""}]
    if draw(st.booleans()):
        form["actions"] = [*form.get("actions", []), {"type": "", "channel": "", "message": ""}]
    return form


@settings(max_examples=100, deadline=None)
@given(forms())
def test_preview_equals_stored_for_generated_forms(form: dict[str, Any]) -> None:
    shown = preview(form)
    stored = parse_rule(form_to_body(form)).canonical()
    assert shown.rule == stored
