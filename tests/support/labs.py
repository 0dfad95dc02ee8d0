"""The user guide's lab rules and forms, written once for every test that walks a lab."""

from __future__ import annotations

from typing import Any

# Lab 5: (cpu > 80 AND memory > 70) OR disk > 90, over avg(cpu_percent) in a 5m window.
LAB5_CONDITIONS: dict[str, Any] = {
    "logic": "OR",
    "conditions": [
        {
            "logic": "AND",
            "conditions": [
                {"field": "cpu", "op": ">", "value": 80},
                {"field": "memory", "op": ">", "value": 70},
            ],
        },
        {"field": "disk", "op": ">", "value": 90},
    ],
}

LAB5_RULE: dict[str, Any] = {
    "name": "lab5_composite",
    "trigger_type": "metric",
    "trigger_spec": {
        "metric_name": "cpu_percent",
        "operator": ">",
        "threshold": 80,
        "aggregation": "avg",
        "window": "5m",
    },
    "conditions": LAB5_CONDITIONS,
}

# Lab 1: cpu_usage > 85 for 5m, notifying Slack.
LAB1_RULE: dict[str, Any] = {
    "name": "cpu_high_alert",
    "description": "CPU > 85 for 5m",
    "trigger_type": "metric",
    "trigger_spec": {"metric_name": "cpu_usage", "operator": ">", "threshold": 85, "duration": "5m"},
    "action_spec": [{"type": "notify", "channel": "slack-ops", "message": "CPU threshold exceeded"}],
}

# Labs 2 and 8: the critical error event rule, as the UI form serialises it (numbers and booleans as strings).
LAB8_FORM: dict[str, Any] = {
    "name": "critical_error_event",
    "description": "critical errors of the api gateway",
    "active": "false",
    "owner": "sre-team",
    "priority": "P1",
    "severity": "critical",
    "trigger_type": "event",
    "trigger": {"event_type": "error"},
    "logic": "AND",
    "conditions": [
        {"field": "severity", "op": "==", "value": "critical"},
        {"field": "service", "op": "==", "value": "api-gateway"},
    ],
    "actions": [{"type": "webhook", "channel": "pagerduty-hook"}, {"type": "notify", "channel": "slack-ops"}],
}
