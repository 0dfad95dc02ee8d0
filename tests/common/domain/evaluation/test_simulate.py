"""Simulate: the labs' verdicts, every condition node explained, actions rendered, nothing sent."""

from __future__ import annotations

from typing import Any

from services.common.domain.evaluation.simulate import simulate
from services.common.domain.rules.model import parse_rule
from tests.common.domain.kit import T0
from tests.support.labs import LAB5_RULE

LAB1 = {
    "name": "cpu_high_alert",
    "description": "CPU > 85 for 5m",
    "trigger_type": "metric",
    "trigger_spec": {"metric_name": "cpu_usage", "operator": ">", "threshold": 85, "duration": "5m"},
    "action_spec": [
        {"type": "notify", "channel": "slack-ops", "message": "CPU threshold exceeded"},
        {
            "type": "webhook",
            "channel": "pager",
            "message": "{{ rule_name }} on {{ payload.host }}: {{ payload.cpu_usage }}",
        },
    ],
}
LAB1_PAYLOAD = {"cpu_usage": 92, "host": "gt-01", "severity": "high"}


def sim(body: dict[str, Any], *payloads: Any) -> dict[str, Any]:
    return simulate(parse_rule(body), list(payloads), T0).as_dict()


def test_lab1_matches_pending_and_lists_the_actions() -> None:
    result = sim(LAB1, LAB1_PAYLOAD)
    assert (result["matched"], result["state"], result["event_id"]) == (True, "pending", None)
    assert result["conditions"] == [{"expr": "cpu_usage > 85", "result": True, "value": 92, "path": "trigger_spec"}]
    assert result["actions"] == [
        {"type": "notify", "channel": "slack-ops", "rendered_message": "CPU threshold exceeded"},
        {"type": "webhook", "channel": "pager", "rendered_message": "cpu_high_alert on gt-01: 92"},
    ]
    assert result["errors"] == [] and result["transitions"] == []
    assert result["summary"] == "cpu_usage > 85 for 5m"


def test_lab1_with_a_threshold_typo_does_not_match() -> None:
    body = {**LAB1, "trigger_spec": {**LAB1["trigger_spec"], "threshold": 850}}
    result = sim(body, LAB1_PAYLOAD)
    assert (result["matched"], result["state"], result["actions"]) == (False, "no_match", [])


def test_payloads_over_the_duration_fire() -> None:
    payloads = [
        {"cpu_usage": 92, "timestamp": "2024-05-01T12:00:00Z"},
        {"cpu_usage": 95, "timestamp": "2024-05-01T12:03:00Z"},
        {"cpu_usage": 97, "timestamp": "2024-05-01T12:06:00Z"},
    ]
    result = sim(LAB1, *payloads)
    assert [r["state"] for r in result["results"]] == ["pending", "pending", "firing"]
    assert [t["kind"] for t in result["transitions"]] == ["fired"]
    assert result["transitions"][0]["at"] == "2024-05-01T12:05:00Z"
    assert result["event_id"] == result["transitions"][0]["event_id"]


def test_lab5_explains_every_node_with_its_truth_and_value() -> None:
    body = LAB5_RULE
    result = sim(body, {"cpu_percent": 85, "cpu": 85, "memory": 60, "disk": 50})
    trigger, root = result["conditions"]
    assert (trigger["expr"], trigger["result"], trigger["value"]) == ("avg(cpu_percent) over 5m > 80", True, 85.0)
    both, disk = root["conditions"]
    cpu, memory = both["conditions"]
    assert [(n["expr"], n["result"], n["value"]) for n in (root, both, cpu, memory, disk)] == [
        ("OR", False, None),
        ("AND", False, None),
        ("cpu > 80", True, 85),
        ("memory > 70", False, 60),
        ("disk > 90", False, 50),
    ]
    assert result["matched"] is False
    assert sim(body, {"cpu_percent": 85, "cpu": 85, "memory": 60, "disk": 95})["matched"] is True


def test_wrong_field_path_is_reported_not_silent() -> None:
    body = {**LAB1, "trigger_spec": {**LAB1["trigger_spec"], "metric_name": "cpu_usge"}}
    result = sim(body, LAB1_PAYLOAD)
    assert result["matched"] is False
    assert result["errors"] == ["trigger_spec: metric 'cpu_usge' not found in payload"]


def test_template_error_names_the_action() -> None:
    body = {**LAB1, "action_spec": [{"type": "notify", "channel": "c", "message": "{{ nope }}"}]}
    result = sim(body, LAB1_PAYLOAD)
    assert result["actions"] == [{"type": "notify", "channel": "c", "rendered_message": None}]
    assert len(result["errors"]) == 1 and result["errors"][0].startswith("action_spec.0.message: ")


def test_event_rule_lab2_only_critical_matches() -> None:
    body = {
        "name": "critical_error_event",
        "trigger_type": "event",
        "trigger_spec": {"event_type": "error"},
        "conditions": {
            "logic": "AND",
            "conditions": [
                {"field": "severity", "op": "==", "value": "critical"},
                {"field": "service", "op": "==", "value": "api-gateway"},
            ],
        },
        "action_spec": [{"type": "notify", "channel": "slack", "message": "{{ count }} x {{ payload.service }}"}],
    }
    critical = {"severity": "critical", "service": "api-gateway"}
    result = sim(body, critical, {**critical, "event_type": "error"}, {"severity": "warning", "service": "api-gateway"})
    assert [r["matched"] for r in result["results"]] == [True, True, False]
    assert [t["kind"] for t in result["transitions"]] == ["fired", "updated"]
    assert (result["matched"], result["state"], result["actions"]) == (False, "no_match", [])
    assert sim(body, critical)["actions"][0]["rendered_message"] == "1 x api-gateway"


def test_schedule_rule_simulates_a_run() -> None:
    body = {"name": "health", "trigger_type": "schedule", "trigger_spec": {"cron": "*/5 * * * *"}}
    result = sim(body, {})
    assert (result["matched"], result["state"]) == (True, "firing")
    assert [t["kind"] for t in result["transitions"]] == ["fired", "resolved"]


def test_invalid_payloads_are_reported_per_payload() -> None:
    result = sim(LAB1, {"cpu_usage": 92, "timestamp": "soon"}, "not an object", LAB1_PAYLOAD)
    first, second, third = result["results"]
    assert first["errors"][0].startswith("payloads.0.timestamp: ")
    assert second["errors"] == ["payloads.1: a payload is a JSON object"]
    assert third["matched"] is True and result["matched"] is True
    assert sim(LAB1)["errors"] == ["payloads: give at least one payload"]


def test_simulate_uses_its_own_identity() -> None:
    result = simulate(
        parse_rule(LAB1),
        [{"cpu_usage": 99, "timestamp": "2024-05-01T13:00:00Z"}] * 2,
        T0,
        rule_id="r9",
        tenant="acme",
        version=4,
    )
    assert result.state == "pending"
    fired = simulate(
        parse_rule({**LAB1, "trigger_spec": {"metric_name": "cpu_usage", "operator": ">", "threshold": 85}}),
        [LAB1_PAYLOAD],
        T0,
        rule_id="r9",
        tenant="acme",
        version=4,
    )
    (transition,) = fired.transitions
    assert (transition.rule_id, transition.tenant, transition.rule_version, transition.at) == ("r9", "acme", 4, T0)
