"""POST /cep/templates/preview: render against the sample event, the caller's fields, or a stored rule."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from services.common.domain.template_preview import SAMPLE_EVENT
from tests.gateway.conftest import create_rule, is_problem, mint

URL = "/cep/templates/preview"


def _viewer(client: TestClient) -> dict[str, str]:
    return mint(client, f"t-{uuid.uuid4().hex[:10]}", "viewer")


def test_the_sample_event_renders_every_contract_field(client: TestClient) -> None:
    template = (
        "{{ rule_name }} {{ severity }} {{ status }} {{ group_key }} {{ summary }} {{ fired_at }} x{{ count }} "
        "{{ payload.host }} {{ event.event_id }} {{ rule.name }} {{ event_id }} {{ rule_id }}"
    )
    answer = client.post(URL, headers=_viewer(client), json={"template": template})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "ok": True,
        "rendered": "sample_rule high open host=web-01 cpu_usage > 85 for 5m 2026-01-01T12:00:00Z x1 "
        "web-01 sample-event sample_rule sample-event sample-rule",
    }


def test_event_fields_replace_the_sample(client: TestClient) -> None:
    body = {
        "template": "{{ payload.cpu }} on {{ payload.host }} ({{ severity }})",
        "event": {"payload": {"cpu": 97, "host": "db-2"}, "severity": "critical"},
    }
    answer = client.post(URL, headers=_viewer(client), json=body).json()
    assert answer == {"ok": True, "rendered": "97 on db-2 (critical)"}


def test_a_missing_variable_is_a_template_error(client: TestClient) -> None:
    answer = client.post(URL, headers=_viewer(client), json={"template": "{{ payload.nope }}"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["ok"] is False and body["error"]["kind"] == "template" and "nope" in body["error"]["detail"]
    syntax = client.post(URL, headers=_viewer(client), json={"template": "{% if %}"}).json()
    assert syntax["ok"] is False and syntax["error"]["detail"].startswith("syntax error at line 1")
    sandbox = client.post(URL, headers=_viewer(client), json={"template": "{{ ''.__class__.__mro__ }}"}).json()
    assert sandbox["ok"] is False and sandbox["error"]["kind"] == "template"


def test_a_stored_rule_fills_the_rule_fields(client: TestClient) -> None:
    editor = mint(client, f"t-{uuid.uuid4().hex[:10]}", "editor")
    rule = create_rule(client, editor, severity="critical", description="CPU alarm")
    body = {
        "template": "{{ rule.description }}: {{ rule_name }} [{{ severity }}] {{ rule_id }}",
        "rule_id": rule["rule_id"],
    }
    answer = client.post(URL, headers=editor, json=body).json()
    assert answer == {"ok": True, "rendered": f"CPU alarm: cpu_high_alert [critical] {rule['rule_id']}"}
    other_tenant = client.post(URL, headers=_viewer(client), json=body)
    is_problem(other_tenant, 404)


def test_bad_bodies_name_the_field(client: TestClient) -> None:
    viewer = _viewer(client)
    assert is_problem(client.post(URL, headers=viewer, json={}), 422)["errors"][0]["loc"] == ["template"]
    assert is_problem(client.post(URL, headers=viewer, json={"template": 3}), 422)["errors"][0]["loc"] == ["template"]
    bad_event = client.post(URL, headers=viewer, json={"template": "x", "event": []})
    assert is_problem(bad_event, 422)["errors"][0]["loc"] == ["event"]
    unknown = client.post(URL, headers=viewer, json={"template": "x", "rule": {}})
    assert is_problem(unknown, 422)["errors"][0]["loc"] == ["rule"]
    assert is_problem(client.post(URL, headers=viewer, json={"template": "x", "rule_id": 5}), 422)["errors"][0][
        "loc"
    ] == ["rule_id"]
    is_problem(client.post(URL, headers=viewer, content=b"{nope"), 400)
    is_problem(client.post(URL, json={"template": "x"}), 401)


def test_the_sample_is_the_documented_one_and_the_route_is_in_openapi(client: TestClient) -> None:
    assert SAMPLE_EVENT["event_id"] == "sample-event" and SAMPLE_EVENT["payload"] == {
        "host": "web-01",
        "cpu_usage": 92.5,
    }
    document = client.get("/openapi.json").json()
    operation = document["paths"][URL]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["required"] == ["template"]
    assert "200" in operation["responses"] and operation.get("security")
