"""Human summaries of rules and condition trees."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.domain.rules.model import parse_rule
from services.common.domain.rules.summary import condition_text, summarize, trigger_expr


def spec(trigger_type: str, trigger: dict[str, Any], conditions: dict[str, Any] | None = None) -> Any:
    body = {"name": "r", "trigger_type": trigger_type, "trigger_spec": trigger, "conditions": conditions}
    return parse_rule(body)


def leaf(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


CPU = {"metric_name": "cpu_usage", "operator": ">", "threshold": 85}
SUMMARIES = [
    ("metric", {**CPU, "duration": "5m"}, None, "cpu_usage > 85 for 5m"),
    ("metric", {**CPU, "threshold": "85"}, None, "cpu_usage > 85"),
    ("metric", {**CPU, "threshold": 85.5, "operator": "<="}, None, "cpu_usage <= 85.5"),
    ("metric", {**CPU, "aggregation": "avg", "window": "5m"}, None, "avg(cpu_usage) over 5m > 85"),
    (
        "metric",
        {**CPU, "aggregation": "avg", "window": "5m", "duration": "2m", "group_by": ["host"]},
        None,
        "avg(cpu_usage) over 5m > 85 for 2m by host",
    ),
    ("metric", {**CPU, "group_by": ["host", "dc"]}, None, "cpu_usage > 85 by host, dc"),
    ("event", {"event_type": "error"}, None, "event_type == 'error'"),
    (
        "event",
        {"event_type": "error"},
        {"logic": "AND", "conditions": [leaf("severity", "==", "critical"), leaf("service", "==", "api-gateway")]},
        "event_type == 'error' when (severity == 'critical' AND service == 'api-gateway')",
    ),
    (
        "event",
        {"event_type": "error", "group_by": ["service"]},
        leaf("retry", ">", 3),
        "event_type == 'error' by service when (retry > 3)",
    ),
    ("schedule", {"cron": "*/5 * * * *"}, None, "cron '*/5 * * * *' (UTC)"),
    ("schedule", {"cron": "0 9 * * 1-5", "timezone": "Asia/Seoul"}, None, "cron '0 9 * * 1-5' (Asia/Seoul)"),
    (
        "anomaly",
        {"value_path": "cpu_percent", "anomaly_method": "zscore", "threshold": 3.0},
        None,
        "zscore(cpu_percent) > 3.0",
    ),
    (
        "anomaly",
        {"value_path": "latency_ms", "anomaly_method": "iqr", "threshold": 3, "iqr_multiplier": 1.5},
        None,
        "iqr(latency_ms, multiplier=1.5) > 3",
    ),
    (
        "anomaly",
        {"value_path": "cpu", "anomaly_method": "ema", "threshold": 2.5, "ema_alpha": 0.3, "window": "1h"},
        None,
        "ema(cpu, alpha=0.3) over 1h > 2.5",
    ),
    (
        "anomaly",
        {"value_path": "cpu", "anomaly_method": "zscore", "threshold": 3, "group_by": ["host"]},
        None,
        "zscore(cpu) > 3 by host",
    ),
]


@pytest.mark.parametrize(("trigger_type", "trigger", "conditions", "text"), SUMMARIES)
def test_summarize(trigger_type: str, trigger: dict[str, Any], conditions: Any, text: str) -> None:
    assert summarize(spec(trigger_type, trigger, conditions)) == text


def test_trigger_expr_leaves_out_duration_grouping_and_conditions() -> None:
    rule = spec("metric", {**CPU, "duration": "5m", "group_by": ["host"]}, leaf("env", "==", "prod"))
    assert trigger_expr(rule) == "cpu_usage > 85"


LAB5 = {
    "logic": "OR",
    "conditions": [
        {"logic": "AND", "conditions": [leaf("cpu", ">", 80), leaf("memory", ">", 70)]},
        leaf("disk", ">", 90),
    ],
}
TREES = [
    (LAB5, "(cpu > 80 AND memory > 70) OR disk > 90"),
    (leaf("cpu", ">", 80), "cpu > 80"),
    ({"logic": "AND", "conditions": [leaf("a", "==", 1)]}, "a == 1"),
    (
        {"logic": "AND", "conditions": [leaf("a", "==", 1), leaf("b", "==", 2), leaf("c", "==", 3)]},
        "a == 1 AND b == 2 AND c == 3",
    ),
    (
        {
            "logic": "AND",
            "conditions": [
                {"logic": "AND", "conditions": [leaf("a", "==", 1), leaf("b", "==", 2)]},
                leaf("c", "==", 3),
            ],
        },
        "(a == 1 AND b == 2) AND c == 3",
    ),
    ({"logic": "NOT", "conditions": [leaf("severity", "==", "info")]}, "NOT (severity == 'info')"),
    ({"logic": "NOT", "conditions": [LAB5]}, "NOT ((cpu > 80 AND memory > 70) OR disk > 90)"),
    (
        {
            "logic": "OR",
            "conditions": [{"logic": "NOT", "conditions": [leaf("a", "exists")]}, leaf("b", "in", ["x", "y"])],
        },
        "NOT (exists(a)) OR b in ['x', 'y']",
    ),
    (
        {"logic": "OR", "conditions": [{"logic": "AND", "conditions": [leaf("a", "==", 1)]}, leaf("b", "==", 2)]},
        "a == 1 OR b == 2",
    ),
    (
        {
            "logic": "OR",
            "conditions": [
                {
                    "logic": "AND",
                    "conditions": [{"logic": "OR", "conditions": [leaf("a", "==", 1), leaf("b", "==", 2)]}],
                },
                leaf("c", "==", 3),
            ],
        },
        "(a == 1 OR b == 2) OR c == 3",
    ),
]


@pytest.mark.parametrize(("tree", "text"), TREES)
def test_condition_text_mirrors_structure(tree: dict[str, Any], text: str) -> None:
    rule = spec("event", {"event_type": "e"}, tree)
    assert rule.conditions is not None
    assert condition_text(rule.conditions) == text


def test_summary_wraps_conditions_once() -> None:
    rule = spec("metric", {**CPU, "aggregation": "avg", "window": "5m"}, LAB5)
    assert summarize(rule) == "avg(cpu_usage) over 5m > 85 when ((cpu > 80 AND memory > 70) OR disk > 90)"
