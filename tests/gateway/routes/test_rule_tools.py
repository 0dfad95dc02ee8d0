"""Preview, form save and simulate routes; the static paths are never captured by `/cep/rules/{rule_id}`."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.gateway.conftest import ADMIN, CPU_RULE, create_rule, is_problem

COMPARED = ("trigger_type", "trigger_spec", "conditions", "action_spec")

LAB8_FORM: dict[str, Any] = {  # as the builder page serialises it: numbers and booleans as strings
    "name": "cpu_high_alert",
    "description": "CPU > 85 for 5m",
    "active": "false",
    "owner": "sre-team",
    "backup_owner": "",
    "priority": "P2",
    "severity": "high",
    "trigger_type": "metric",
    "trigger": {"metric_name": "cpu_usage", "operator": ">", "threshold": "85", "duration": "5m"},
    "logic": "AND",
    "conditions": [{"field": "host", "op": "==", "value": "gt-01"}, {"field": "", "op": "==", "value": ""}],
    "actions": [
        {"type": "notify", "channel": "slack-ops", "message": "CPU threshold exceeded"},
        {"type": "webhook", "channel": "ops-webhook"},
    ],
}
LAB2_FORM: dict[str, Any] = {
    "name": "critical_error_event",
    "trigger_type": "event",
    "trigger": {"event_type": "error"},
    "logic": "AND",
    "conditions": [
        {"field": "severity", "op": "==", "value": "critical"},
        {"field": "service", "op": "==", "value": "api-gateway"},
    ],
    "actions": [{"type": "webhook", "channel": "pagerduty"}, {"type": "notify", "channel": "slack-ops"}],
}
LAB5_FORM: dict[str, Any] = {
    "name": "composite",
    "trigger_type": "metric",
    "trigger": {"metric_name": "cpu_percent", "operator": ">", "threshold": "80", "aggregation": "avg", "window": "5m"},
    "logic": "OR",
    "conditions": [
        {
            "logic": "AND",
            "conditions": [{"field": "cpu", "op": ">", "value": "80"}, {"field": "memory", "op": ">", "value": "70"}],
        },
        {"field": "disk", "op": ">", "value": "90"},
    ],
}


@pytest.mark.parametrize("form", [LAB8_FORM, LAB2_FORM, LAB5_FORM], ids=["lab8", "lab2", "lab5"])
def test_form_stores_exactly_what_preview_showed(any_client: TestClient, form: dict[str, Any]) -> None:
    preview = any_client.post("/cep/rules/preview", headers=ADMIN, json=form)
    assert preview.status_code == 200, preview.text
    shown = preview.json()
    assert shown["errors"] == []
    assert shown["summary"]
    saved = any_client.post("/cep/rules/form", headers=ADMIN, json=form)
    assert saved.status_code == 201, saved.text
    stored = any_client.get(f"/cep/rules/{saved.json()['rule_id']}", headers=ADMIN).json()  # Lab 11: read it back
    assert stored == saved.json()
    for key in COMPARED:
        assert stored[key] == shown["rule"][key], key


def test_lab8_form_values_are_coerced(client: TestClient) -> None:
    rule = client.post("/cep/rules/form", headers=ADMIN, json=LAB8_FORM).json()
    assert rule["trigger_spec"] == {"metric_name": "cpu_usage", "operator": ">", "threshold": 85, "duration": "5m"}
    assert rule["active"] is False
    assert rule["backup_owner"] is None
    assert rule["conditions"] == {"logic": "AND", "conditions": [{"field": "host", "op": "==", "value": "gt-01"}]}
    assert [a["type"] for a in rule["action_spec"]] == ["notify", "webhook"]


def test_preview_reports_errors_and_warnings_without_storing(client: TestClient) -> None:
    form = {**LAB8_FORM, "trigger": {**LAB8_FORM["trigger"], "threshold": "high"}}
    shown = client.post("/cep/rules/preview", headers=ADMIN, json=form).json()
    assert shown["rule"] is None
    assert ["trigger_spec", "threshold"] in [e["loc"] for e in shown["errors"]]
    no_actions = {k: v for k, v in LAB8_FORM.items() if k != "actions"}
    assert client.post("/cep/rules/preview", headers=ADMIN, json=no_actions).json()["warnings"]
    assert client.get("/cep/rules", headers=ADMIN).json()["total"] == 0


def test_invalid_forms_are_422_naming_fields(client: TestClient) -> None:
    form = {**LAB8_FORM, "trigger": {**LAB8_FORM["trigger"], "threshold": "high"}, "colour": "red"}
    problem = is_problem(client.post("/cep/rules/form", headers=ADMIN, json=form), 422)
    assert ["colour"] in [e["loc"] for e in problem["errors"]]
    is_problem(client.post("/cep/rules/form", headers=ADMIN, json=[LAB8_FORM]), 422)
    is_problem(client.post("/cep/rules/preview", headers=ADMIN, json="form"), 422)


def test_simulate_a_draft(client: TestClient) -> None:
    body = {"rule": CPU_RULE, "payload": {"cpu_usage": 92, "host": "gt-01", "severity": "high"}}  # Lab 1 step 4
    result = client.post("/cep/rules/simulate", headers=ADMIN, json=body).json()
    assert result["matched"] is True
    assert result["conditions"][0]["result"] is True
    assert result["actions"] == [
        {"type": "notify", "channel": "slack-ops", "rendered_message": "CPU threshold exceeded"}
    ]
    low = client.post("/cep/rules/simulate", headers=ADMIN, json={**body, "payload": {"cpu_usage": 12}}).json()
    assert low["matched"] is False
    many = client.post(
        "/cep/rules/simulate", headers=ADMIN, json={"rule": CPU_RULE, "payloads": [{"cpu_usage": 1}] * 3}
    )
    assert many.status_code == 200
    assert client.get("/cep/rules", headers=ADMIN).json()["total"] == 0  # nothing stored


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (
            {"rule": {**CPU_RULE, "trigger_spec": {"metric_name": "cpu"}}, "payload": {}},
            ["rule", "trigger_spec", "operator"],
        ),
        ({"rule": {**CPU_RULE, "severity": 1}, "payload": {}}, ["rule", "severity"]),
        ({"rule": [], "payload": {}}, ["rule"]),
        ({"payload": {}}, ["rule"]),
        ({"rule": CPU_RULE}, ["payload"]),
        ({"rule": CPU_RULE, "payload": [1]}, ["payload"]),
        ({"rule": CPU_RULE, "payloads": {}}, ["payloads"]),
        ({"rule": CPU_RULE, "payloads": []}, ["payloads"]),
        ({"rule": CPU_RULE, "payloads": [1, 2]}, ["payloads", 0]),
        ({"rule": CPU_RULE, "payload": {}, "payloads": [{}]}, ["payloads"]),
        ({"rule": CPU_RULE, "payload": {}, "extra": 1}, ["extra"]),
    ],
)
def test_simulate_errors_name_the_field(client: TestClient, body: dict[str, Any], loc: list[Any]) -> None:
    problem = is_problem(client.post("/cep/rules/simulate", headers=ADMIN, json=body), 422)
    assert loc in [e["loc"] for e in problem["errors"]]


def test_simulate_a_stored_rule_and_count_it(any_client: TestClient) -> None:
    rule = create_rule(any_client, ADMIN)
    url = f"/cep/rules/{rule['rule_id']}"
    stats = any_client.get(f"{url}/simulations", headers=ADMIN).json()
    assert stats == {"rule_id": rule["rule_id"], "count": 0, "last_simulated_at": None, "since_last_change": 0}
    for value in (92, 10, 99):
        result = any_client.post(f"{url}/simulate", headers=ADMIN, json={"payload": {"cpu_usage": value}}).json()
        assert result["matched"] is (value > 85)
    stats = any_client.get(f"{url}/simulations", headers=ADMIN).json()
    assert stats["count"] == 3 and stats["since_last_change"] == 3
    assert stats["last_simulated_at"].endswith("Z")
    assert any_client.get(url, headers=ADMIN).json()["version"] == 1  # simulating is not a change
    is_problem(any_client.post(f"{url}/simulate", headers=ADMIN, json={"payloads": "x"}), 422)
    assert any_client.get(f"{url}/simulations", headers=ADMIN).json()["count"] == 3


# Each static path must reach its own route, not `/cep/rules/{rule_id}` with id "preview"/"form"/"simulate".
@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/cep/rules/preview", LAB8_FORM, 200),
        ("/cep/rules/form", LAB8_FORM, 201),
        ("/cep/rules/simulate", {"rule": CPU_RULE, "payload": {"cpu_usage": 1}}, 200),
    ],
)
def test_static_rule_paths_are_not_taken_for_ids(client: TestClient, path: str, body: Any, status: int) -> None:
    response = client.post(path, headers=ADMIN, json=body)
    assert response.status_code == status, response.text
    assert "rule_id" in response.json() or "rule" in response.json() or "matched" in response.json()
    is_problem(client.get(path, headers=ADMIN), 404)  # GET on a static path is an unknown rule id, not a crash
